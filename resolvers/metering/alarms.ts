import { and, eq, ilike, inArray, type SQL } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import { type AlarmActions, type AlarmState, alarmHistory, alarms } from '../../db/tables';
import { authorize } from '../authorize';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../errors';
import { publishEvent } from '../events';
import { canSeeProject, isAdmin, scopedProjectId } from '../identity/auth-context';
import { containsPattern, type ListResult, type Page, selectPage } from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { descriptionSchema, isUuid, nameSchema } from '../validation';
import { checkAlarmResources } from './alarm-resources';
import { levelOf, policyOf } from './archive-policies';
import { GranularityNotInPolicyError, WindowBeyondRetentionError } from './errors';
import { checkMeterFor } from './meters';
import type { Aggregation, MeteredType } from './samples';
import { alarmWebhookSecret } from './webhooks';
import { checkWebhookUrl } from './webhooks-allow';

/** Aodh threshold alarms: create, update (enable/disable), delete, read, list, history. */

export type AlarmRow = typeof alarms.$inferSelect;
export type AlarmHistoryRow = typeof alarmHistory.$inferSelect;
export type Comparison = 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'ne';

export const COMPARISONS: readonly Comparison[] = ['gt', 'ge', 'lt', 'le', 'eq', 'ne'];
export const AGGREGATIONS: readonly Aggregation[] = [
  'mean',
  'min',
  'max',
  'sum',
  'count',
  'rate',
  'p95',
];
const MAX_RESOURCES = 100;
const MAX_URLS = 10;
const MAX_PERIODS = 1000;

export interface AlarmInput {
  name?: string | null;
  description?: string | null;
  meter?: string | null;
  resourceType?: string | null;
  resourceIds?: string[] | null;
  comparison?: Comparison | null;
  threshold?: number | null;
  aggregation?: Aggregation | null;
  granularity?: number | null;
  evaluationPeriods?: number | null;
  actions?: Partial<AlarmActions> | null;
  repeatActions?: boolean | null;
  enabled?: boolean | null;
}

/** A new alarm and the secret its webhooks are signed with (shown this once). */
export interface CreatedAlarm {
  alarm: AlarmRow;
  webhookSecret: string;
}

type Rule = Pick<
  AlarmRow,
  | 'meter'
  | 'resourceType'
  | 'resourceIds'
  | 'comparison'
  | 'threshold'
  | 'aggregation'
  | 'granularity'
  | 'evaluationPeriods'
  | 'actions'
>;

function text(field: string, value: string, schema: typeof nameSchema | typeof descriptionSchema) {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new InvalidInputError(field, `${field} ${parsed.error.issues[0].message}`);
  return parsed.data;
}

/** Checks a whole rule (after merging an update); typed errors name the input field. */
async function checkRule(
  ctx: ServiceContext,
  tx: Tx,
  rule: Rule,
  resourcesChanged = true,
): Promise<void> {
  checkMeterFor('input.meter', rule.meter, rule.resourceType);
  if (!Number.isFinite(rule.threshold))
    throw new InvalidInputError('input.threshold', 'input.threshold must be a finite number');
  if (!COMPARISONS.includes(rule.comparison as Comparison))
    throw new InvalidInputError('input.comparison', `Unknown comparison "${rule.comparison}"`);
  if (!AGGREGATIONS.includes(rule.aggregation as Aggregation))
    throw new InvalidInputError('input.aggregation', `Unknown aggregation "${rule.aggregation}"`);
  const policy = policyOf(rule.meter);
  const level = levelOf(policy, rule.granularity);
  if (!level) {
    throw new GranularityNotInPolicyError(
      'input.granularity',
      rule.granularity,
      policy.name,
      policy.levels.map((l) => l.granularity),
    );
  }
  if (!Number.isInteger(rule.evaluationPeriods) || rule.evaluationPeriods < 1)
    throw new InvalidInputError(
      'input.evaluationPeriods',
      'input.evaluationPeriods must be at least 1',
    );
  if (rule.evaluationPeriods > MAX_PERIODS)
    throw new InvalidInputError(
      'input.evaluationPeriods',
      `input.evaluationPeriods must be at most ${MAX_PERIODS}`,
    );
  const window = (rule.evaluationPeriods + 1) * rule.granularity;
  if (window > level.timespan)
    throw new WindowBeyondRetentionError(
      'input.evaluationPeriods',
      window,
      level.timespan,
      rule.granularity,
    );
  if (rule.resourceIds.length === 0)
    throw new InvalidInputError('input.resourceIds', 'input.resourceIds must name a resource');
  if (rule.resourceIds.length > MAX_RESOURCES)
    throw new InvalidInputError(
      'input.resourceIds',
      `input.resourceIds may name at most ${MAX_RESOURCES} resources`,
    );
  const allow = ctx.rt.config.alarms.webhookAllow;
  for (const key of ['alarm', 'ok', 'insufficientData'] as const) {
    const urls = rule.actions[key];
    if (urls.length > MAX_URLS)
      throw new InvalidInputError(`input.actions.${key}`, `At most ${MAX_URLS} URLs per state`);
    urls.forEach((url, i) => {
      checkWebhookUrl(allow, `input.actions.${key}.${i}`, url);
    });
  }
  // An update that keeps the resources (e.g. disabling) must work after one was deleted.
  if (resourcesChanged)
    await checkAlarmResources(ctx, tx, rule.resourceType as MeteredType, rule.resourceIds);
}

function actionsOf(given: Partial<AlarmActions> | null | undefined, base?: AlarmActions) {
  return {
    alarm: given?.alarm ?? base?.alarm ?? [],
    ok: given?.ok ?? base?.ok ?? [],
    insufficientData: given?.insufficientData ?? base?.insufficientData ?? [],
  };
}

/** The alarm as its event carries it; subscribers rebuild the row from it (alarmFromEvent). */
export async function publishAlarmEvent(tx: Tx, kind: string, row: AlarmRow): Promise<void> {
  await publishEvent(tx, {
    kind,
    projectId: row.projectId,
    resourceType: 'Alarm',
    resourceId: row.id,
    payload: { alarm: row },
  });
}

export function alarmFromEvent(payload: Record<string, unknown>): AlarmRow {
  const raw = payload.alarm as Record<string, unknown>;
  const date = (v: unknown) => (v == null ? null : new Date(String(v)));
  return {
    ...(raw as unknown as AlarmRow),
    stateChangedAt: date(raw.stateChangedAt) as Date,
    lastEvaluatedAt: date(raw.lastEvaluatedAt),
    nextEvaluationAt: date(raw.nextEvaluationAt) as Date,
    createdAt: date(raw.createdAt) as Date,
    updatedAt: date(raw.updatedAt) as Date,
  };
}

async function addHistory(
  tx: Tx,
  row: AlarmRow,
  type: string,
  previousState: AlarmState | null,
  reason: string,
  values: number[] = [],
): Promise<void> {
  await tx.insert(alarmHistory).values({
    alarmId: row.id,
    projectId: row.projectId,
    type,
    previousState,
    state: row.state,
    reason,
    values,
  });
}

export async function createAlarm(ctx: ServiceContext, input: AlarmInput): Promise<CreatedAlarm> {
  authorize(ctx, 'alarm:manage');
  const projectId = scopedProjectId(ctx.auth);
  if (!projectId)
    throw new ForbiddenError('Alarms belong to a project: use a project-scoped token');
  const name = text('input.name', input.name ?? '', nameSchema);
  const description = text('input.description', input.description ?? '', descriptionSchema);
  if (input.threshold == null)
    throw new InvalidInputError('input.threshold', 'input.threshold is required (a number)');
  const rule: Rule = {
    meter: input.meter ?? '',
    resourceType: input.resourceType ?? '',
    resourceIds: [...new Set(input.resourceIds ?? [])],
    comparison: input.comparison ?? 'gt',
    threshold: input.threshold,
    aggregation: input.aggregation ?? 'mean',
    granularity: input.granularity ?? 0,
    evaluationPeriods: input.evaluationPeriods ?? 1,
    actions: actionsOf(input.actions),
  };
  return inTransaction(ctx.rt, async (tx) => {
    await checkRule(ctx, tx, rule);
    const [row] = await tx
      .insert(alarms)
      .values({
        ...rule,
        projectId,
        userId: ctx.auth?.userId ?? null,
        name,
        description,
        repeatActions: input.repeatActions ?? false,
        enabled: input.enabled ?? true,
      })
      .returning();
    await addHistory(tx, row, 'creation', null, 'Alarm created');
    await publishAlarmEvent(tx, 'ALARM_CREATED', row);
    return { alarm: row, webhookSecret: alarmWebhookSecret(ctx.rt.tempUrlSecret, row.id) };
  });
}

async function lockAlarm(ctx: ServiceContext, tx: Tx, id: string): Promise<AlarmRow> {
  const [row] = isUuid(id)
    ? await tx.select().from(alarms).where(eq(alarms.id, id)).for('update')
    : [];
  if (!row || !canSeeProject(ctx.auth, row.projectId)) throw new NotFoundError('alarm', id);
  return row;
}

export async function updateAlarm(
  ctx: ServiceContext,
  id: string,
  input: AlarmInput,
): Promise<AlarmRow> {
  authorize(ctx, 'alarm:manage');
  return inTransaction(ctx.rt, async (tx) => {
    const current = await lockAlarm(ctx, tx, id);
    const rule: Rule = {
      meter: input.meter ?? current.meter,
      resourceType: input.resourceType ?? current.resourceType,
      resourceIds: input.resourceIds ? [...new Set(input.resourceIds)] : current.resourceIds,
      comparison: input.comparison ?? current.comparison,
      threshold: input.threshold ?? current.threshold,
      aggregation: input.aggregation ?? current.aggregation,
      granularity: input.granularity ?? current.granularity,
      evaluationPeriods: input.evaluationPeriods ?? current.evaluationPeriods,
      actions: actionsOf(input.actions, current.actions),
    };
    await checkRule(ctx, tx, rule, input.resourceIds != null || input.resourceType != null);
    const enabling = input.enabled === true && !current.enabled;
    const [row] = await tx
      .update(alarms)
      .set({
        ...rule,
        name: input.name != null ? text('input.name', input.name, nameSchema) : current.name,
        description:
          input.description != null
            ? text('input.description', input.description, descriptionSchema)
            : current.description,
        repeatActions: input.repeatActions ?? current.repeatActions,
        enabled: input.enabled ?? current.enabled,
        // A re-enabled alarm is evaluated at the next round, not after a stale date.
        ...(enabling ? { nextEvaluationAt: new Date() } : {}),
      })
      .where(eq(alarms.id, id))
      .returning();
    const changes = Object.keys(input).filter((k) => (input as Record<string, unknown>)[k] != null);
    await addHistory(tx, row, 'rule change', current.state, `Changed: ${changes.join(', ')}`);
    await publishAlarmEvent(tx, 'ALARM_UPDATED', row);
    return row;
  });
}

export async function deleteAlarm(ctx: ServiceContext, id: string): Promise<AlarmRow> {
  authorize(ctx, 'alarm:manage');
  return inTransaction(ctx.rt, async (tx) => {
    const row = await lockAlarm(ctx, tx, id);
    await tx.delete(alarms).where(eq(alarms.id, id));
    await publishAlarmEvent(tx, 'ALARM_DELETED', row);
    return row;
  });
}

/** Alarms by id, null where the caller may not see one. */
export async function loadAlarms(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<AlarmRow | null>> {
  const valid = ids.filter(isUuid);
  if (!ctx.auth || valid.length === 0) return ids.map(() => null);
  const rows = await ctx.rt.db.select().from(alarms).where(inArray(alarms.id, valid));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id) ?? null;
    return row && canSeeProject(ctx.auth, row.projectId) ? row : null;
  });
}

export interface AlarmFilter {
  state?: AlarmState | null;
  enabled?: boolean | null;
  name?: string | null;
  meter?: string | null;
  /** Admins: every project's alarms. */
  allProjects?: boolean | null;
}

/** Alarms of the caller's project (admins with allProjects: all), newest first. */
export async function listAlarms(
  ctx: ServiceContext,
  filter: AlarmFilter,
  page: Page,
): Promise<ListResult<AlarmRow>> {
  authorize(ctx, 'alarm:list');
  const own = scopedProjectId(ctx.auth);
  let projectWhere: SQL | undefined;
  if (isAdmin(ctx.auth) && filter.allProjects) projectWhere = undefined;
  else if (own) projectWhere = eq(alarms.projectId, own);
  else return { rows: [], totalCount: 0 };
  const where = and(
    projectWhere,
    filter.state ? eq(alarms.state, filter.state) : undefined,
    filter.enabled != null ? eq(alarms.enabled, filter.enabled) : undefined,
    filter.name != null ? ilike(alarms.name, containsPattern(filter.name)) : undefined,
    filter.meter != null ? eq(alarms.meter, filter.meter) : undefined,
  );
  return selectPage(
    ctx.rt.db,
    alarms,
    where,
    { column: alarms.createdAt, direction: 'DESC', tiebreak: alarms.id },
    page,
  );
}

/** An alarm's history, newest first (the alarm itself was checked by the caller's read). */
export async function listAlarmHistory(
  ctx: ServiceContext,
  alarm: AlarmRow,
  page: Page,
): Promise<ListResult<AlarmHistoryRow>> {
  if (!canSeeProject(ctx.auth, alarm.projectId)) return { rows: [], totalCount: 0 };
  return selectPage(
    ctx.rt.db,
    alarmHistory,
    eq(alarmHistory.alarmId, alarm.id),
    { column: alarmHistory.id, direction: 'DESC', tiebreak: alarmHistory.id },
    page,
  );
}
