import { decodeGlobalID } from '@pothos/plugin-relay';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../../resolvers/errors';
import type { StratusEvent } from '../../resolvers/events';
import {
  type AlarmHistoryRow,
  type AlarmRow,
  alarmFromEvent,
  type CreatedAlarm,
  createAlarm,
  deleteAlarm,
  listAlarmHistory,
  listAlarms,
  loadAlarms,
  updateAlarm,
} from '../../resolvers/metering/alarms';
import { isUuid } from '../../resolvers/validation';
import { builder, type GraphQLContext } from '../builder';
import { Project, User } from '../identity/types';
import { listConnection } from '../pagination';
import { rowUpdates, typeUpdates } from '../resource-updates';

/** Alarms (Aodh): types, queries, mutations and subscriptions. */

export const AlarmState = builder.enumType('AlarmState', {
  description: "Aodh's alarm states",
  values: {
    OK: { value: 'ok' },
    ALARM: { value: 'alarm' },
    INSUFFICIENT_DATA: { value: 'insufficient data' },
  } as const,
});
const AlarmComparison = builder.enumType('AlarmComparison', {
  description: 'How the aggregated value is compared with the threshold (value OP threshold)',
  values: {
    GT: { value: 'gt' },
    GE: { value: 'ge' },
    LT: { value: 'lt' },
    LE: { value: 'le' },
    EQ: { value: 'eq' },
    NE: { value: 'ne' },
  } as const,
});
const AlarmAggregation = builder.enumType('AlarmAggregation', {
  description: "Gnocchi's aggregation methods, applied per bucket and across the resources",
  values: {
    MEAN: { value: 'mean' },
    MIN: { value: 'min' },
    MAX: { value: 'max' },
    SUM: { value: 'sum' },
    COUNT: { value: 'count' },
    RATE: { value: 'rate' },
    P95: { value: 'p95' },
  } as const,
});

const AlarmActionsType = builder
  .objectRef<{ alarm: string[]; ok: string[]; insufficientData: string[] }>('AlarmActions')
  .implement({
    description: 'Webhook URLs POSTed on entering each state',
    fields: (t) => ({
      alarm: t.exposeStringList('alarm'),
      ok: t.exposeStringList('ok'),
      insufficientData: t.exposeStringList('insufficientData'),
    }),
  });

const AlarmHistoryEntry = builder.objectRef<AlarmHistoryRow>('AlarmHistoryEntry').implement({
  description: 'One entry of an alarm history: its creation, a rule change or a state transition',
  fields: (t) => ({
    type: t.exposeString('type', {
      description: 'creation, rule change or state transition',
    }),
    previousState: t.field({
      type: AlarmState,
      nullable: true,
      resolve: (h) => h.previousState,
    }),
    state: t.field({ type: AlarmState, resolve: (h) => h.state }),
    reason: t.exposeString('reason'),
    values: t.floatList({
      description: 'The aggregated points the evaluation judged, oldest first',
      resolve: (h) => h.values,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const Alarm = builder.loadableNodeRef<AlarmRow, string>('Alarm', {
  id: { resolve: (a) => a.id },
  load: async (ids, ctx) => (await loadAlarms(ctx, ids)) as unknown as Array<AlarmRow | Error>,
});
Alarm.implement({
  description: 'A threshold alarm on a meter of one resource or an aggregate of several (Aodh)',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    meter: t.exposeString('meter'),
    resourceType: t.exposeString('resourceType'),
    resourceIds: t.exposeStringList('resourceIds'),
    comparison: t.field({ type: AlarmComparison, resolve: (a) => a.comparison as 'gt' }),
    threshold: t.exposeFloat('threshold'),
    aggregation: t.field({ type: AlarmAggregation, resolve: (a) => a.aggregation as 'mean' }),
    granularity: t.exposeInt('granularity', { description: 'Seconds per evaluated bucket' }),
    evaluationPeriods: t.exposeInt('evaluationPeriods'),
    actions: t.field({ type: AlarmActionsType, resolve: (a) => a.actions }),
    repeatActions: t.exposeBoolean('repeatActions'),
    enabled: t.exposeBoolean('enabled'),
    state: t.field({ type: AlarmState, resolve: (a) => a.state }),
    stateReason: t.exposeString('stateReason'),
    stateChangedAt: t.expose('stateChangedAt', { type: 'DateTime' }),
    lastEvaluatedAt: t.expose('lastEvaluatedAt', { type: 'DateTime', nullable: true }),
    nextEvaluationAt: t.expose('nextEvaluationAt', { type: 'DateTime' }),
    project: t.field({ type: Project, nullable: true, resolve: (a) => a.projectId }),
    user: t.field({ type: User, nullable: true, resolve: (a) => a.userId }),
    history: t.connection({
      type: AlarmHistoryEntry,
      description: 'Creation, rule changes and state transitions, newest first',
      resolve: (alarm, args, ctx) =>
        listConnection(args, (page) => listAlarmHistory(ctx, alarm, page)),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const AlarmCreation = builder.objectRef<CreatedAlarm>('AlarmCreation').implement({
  description: 'A new alarm, and the secret that signs its webhooks (shown only here, once)',
  fields: (t) => ({
    alarm: t.field({ type: Alarm, resolve: (c) => c.alarm }),
    webhookSecret: t.exposeString('webhookSecret', {
      description:
        'HMAC-SHA256 key: each webhook carries X-Stratus-Signature: sha256=<hex HMAC of the body>',
    }),
  }),
});

const AlarmActionsInput = builder.inputType('AlarmActionsInput', {
  fields: (t) => ({
    alarm: t.stringList({ description: 'http(s) URLs POSTed on entering alarm' }),
    ok: t.stringList({ description: 'http(s) URLs POSTed on entering ok' }),
    insufficientData: t.stringList({
      description: 'http(s) URLs POSTed on entering insufficient data',
    }),
  }),
});
const CreateAlarmInput = builder.inputType('CreateAlarmInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    meter: t.string({ required: true, description: 'A meter of the catalog, e.g. cpu_util' }),
    resourceType: t.string({
      required: true,
      description: 'server, server_disk, port, volume, network, image, container or project',
    }),
    resourceIds: t.stringList({
      required: true,
      description: 'One resource, or several whose points are aggregated together',
    }),
    comparison: t.field({ type: AlarmComparison, required: true }),
    threshold: t.float({ required: true }),
    aggregation: t.field({ type: AlarmAggregation, required: true }),
    granularity: t.int({
      required: true,
      description: "Seconds; one of the meter's archive policy granularities",
    }),
    evaluationPeriods: t.int({ description: 'Consecutive buckets judged (default 1)' }),
    actions: t.field({ type: AlarmActionsInput }),
    repeatActions: t.boolean({
      description: 'Call the actions at every evaluation, not only on change',
    }),
    enabled: t.boolean({ description: 'Default true' }),
  }),
});
const UpdateAlarmInput = builder.inputType('UpdateAlarmInput', {
  fields: (t) => ({
    id: t.globalID({ for: Alarm, required: true }),
    name: t.string(),
    description: t.string(),
    meter: t.string(),
    resourceType: t.string(),
    resourceIds: t.stringList(),
    comparison: t.field({ type: AlarmComparison }),
    threshold: t.float(),
    aggregation: t.field({ type: AlarmAggregation }),
    granularity: t.int(),
    evaluationPeriods: t.int(),
    actions: t.field({ type: AlarmActionsInput, description: 'Lists given replace the old ones' }),
    repeatActions: t.boolean(),
    enabled: t.boolean({ description: 'false: not evaluated until enabled again' }),
  }),
});
const AlarmIdInput = builder.inputType('AlarmIdInput', {
  fields: (t) => ({ id: t.globalID({ for: Alarm, required: true }) }),
});
const AlarmFilter = builder.inputType('AlarmFilter', {
  fields: (t) => ({
    state: t.field({ type: AlarmState }),
    enabled: t.boolean(),
    name: t.string({ description: 'Substring of the name, any case' }),
    meter: t.string(),
    allProjects: t.boolean({ description: "Admins: every project's alarms" }),
  }),
});

const ALARM_ERRORS = [InvalidInputError, NotFoundError, ForbiddenError];

/** Resource ids as raw ids (what metrics use) or as the resources' global ids. */
function rawIds(ids: readonly string[] | null | undefined): string[] | null {
  if (!ids) return null;
  return ids.map((id) => {
    try {
      const decoded = decodeGlobalID(id);
      return isUuid(decoded.id.split('/')[0] ?? '') ? decoded.id : id;
    } catch {
      return id;
    }
  });
}

/** Input fields without the nulls GraphQL gives for omitted ones. */
function actionsOf(
  actions:
    | { alarm?: string[] | null; ok?: string[] | null; insufficientData?: string[] | null }
    | null
    | undefined,
) {
  if (!actions) return null;
  return {
    ...(actions.alarm != null ? { alarm: actions.alarm } : {}),
    ...(actions.ok != null ? { ok: actions.ok } : {}),
    ...(actions.insufficientData != null ? { insufficientData: actions.insufficientData } : {}),
  };
}

builder.queryFields((t) => ({
  alarm: t.field({
    type: Alarm,
    nullable: true,
    description: 'One alarm, if you may see it',
    authScopes: { policy: 'alarm:list' },
    args: { id: t.arg.globalID({ for: Alarm, required: true }) },
    resolve: async (_root, args, ctx) => (await loadAlarms(ctx, [args.id.id]))[0],
  }),
  alarms: t.connection({
    type: Alarm,
    description: 'Alarms of your project (admins with allProjects: all), newest first',
    authScopes: { policy: 'alarm:list' },
    nullable: true,
    args: { filter: t.arg({ type: AlarmFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) => listAlarms(ctx, args.filter ?? {}, page)),
  }),
}));

builder.mutationFields((t) => ({
  createAlarm: t.field({
    type: AlarmCreation,
    description: 'Creates a threshold alarm; it starts in insufficient data',
    authScopes: { policy: 'alarm:manage' },
    args: { input: t.arg({ type: CreateAlarmInput, required: true }) },
    errors: { types: ALARM_ERRORS, dataField: { name: 'created' } },
    resolve: (_root, { input }, ctx) =>
      createAlarm(ctx, {
        ...input,
        resourceIds: rawIds(input.resourceIds),
        actions: actionsOf(input.actions),
      }),
  }),
  updateAlarm: t.field({
    type: Alarm,
    description: 'Changes an alarm, its rule, actions, or whether it is enabled',
    authScopes: { policy: 'alarm:manage' },
    args: { input: t.arg({ type: UpdateAlarmInput, required: true }) },
    errors: { types: ALARM_ERRORS, dataField: { name: 'alarm' } },
    resolve: (_root, { input }, ctx) =>
      updateAlarm(ctx, input.id.id, {
        ...input,
        resourceIds: rawIds(input.resourceIds),
        actions: actionsOf(input.actions),
      }),
  }),
  deleteAlarm: t.field({
    type: Alarm,
    description: 'Deletes an alarm and its history',
    authScopes: { policy: 'alarm:manage' },
    args: { input: t.arg({ type: AlarmIdInput, required: true }) },
    errors: { types: ALARM_ERRORS, dataField: { name: 'alarm' } },
    resolve: (_root, { input }, ctx) => deleteAlarm(ctx, input.id.id),
  }),
}));

const fromEvent = (event: StratusEvent) => alarmFromEvent(event.payload);

builder.subscriptionFields((t) => ({
  alarm: t.field({
    type: Alarm,
    description: 'One alarm now, then each change (state transitions among them), in order',
    authScopes: { policy: 'alarm:list' },
    args: { id: t.arg.globalID({ for: Alarm, required: true }) },
    subscribe: (_root, args, ctx: GraphQLContext) =>
      rowUpdates<AlarmRow>(ctx, {
        resourceType: 'Alarm',
        resource: 'alarm',
        id: args.id.id,
        load: loadAlarms,
        fromEvent,
        endKind: 'ALARM_DELETED',
      }),
    resolve: (alarm) => alarm,
  }),
  alarms: t.field({
    type: Alarm,
    description: "Every change to your project's alarms (admins: all), as it happens",
    authScopes: { policy: 'alarm:list' },
    args: { after: t.arg.string({ description: 'Resume after this event cursor' }) },
    subscribe: (_root, args, ctx) => typeUpdates(ctx, 'Alarm', args.after, fromEvent),
    resolve: (alarm) => alarm,
  }),
}));
