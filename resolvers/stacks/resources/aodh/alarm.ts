import { NotFoundError } from '../../../errors';
import { checkAlarmResources } from '../../../metering/alarm-resources';
import {
  type AlarmInput,
  type AlarmRow,
  COMPARISONS,
  type Comparison,
  createAlarm,
  deleteAlarm,
  loadAlarms,
  updateAlarm,
} from '../../../metering/alarms';
import { levelOf, policyOf } from '../../../metering/archive-policies';
import { checkMeterFor, findMeter } from '../../../metering/meters';
import type { Aggregation, MeteredType } from '../../../metering/samples';
import { checkWebhookUrl } from '../../../metering/webhooks-allow';
import {
  asProperties,
  badProperty,
  bool,
  inField,
  list,
  map,
  num,
  type Props,
  plain,
  str,
} from '../cinder/props';
import type { ResourceContext, ResourcePlugin, ResourceState } from '../plugin';

/**
 * OS::Aodh::Alarm (Heat's threshold alarm) onto Stratus's metering alarms: meter_name ->
 * meter, statistic (avg -> mean), period -> granularity (must be a level of the meter's
 * archive policy), comparison_operator, evaluation_periods, threshold, the three action URL
 * lists (through the domain's webhook allow-list), repeat_actions, enabled, description.
 * Stratus alarms watch named resources: the watched ids come from `query` entries
 * `{field: resource_id, op: eq, value}` or `matching_metadata: {resource_id: ...}`; other
 * metadata matches (Ceilometer sample metadata) are refused by property, as are
 * time_constraints. `severity` is accepted and kept only with the stack (no alarm severity).
 */

const STATISTICS: Record<string, Aggregation> = {
  avg: 'mean',
  max: 'max',
  min: 'min',
  sum: 'sum',
  count: 'count',
};

const FIELDS = {
  meter: 'meter_name',
  threshold: 'threshold',
  comparison: 'comparison_operator',
  aggregation: 'statistic',
  granularity: 'period',
  evaluationPeriods: 'evaluation_periods',
  'actions.alarm': 'alarm_actions',
  'actions.ok': 'ok_actions',
  'actions.insufficientData': 'insufficient_data_actions',
  name: 'name',
  description: 'description',
  resourceIds: 'query',
};

/** The watched ids, each with the property it came from (for errors). */
function watched(ctx: ResourceContext, p: Props): Array<{ id: string; prop: string }> {
  const out: Array<{ id: string; prop: string }> = [];
  for (const [key, value] of Object.entries(map(p, 'matching_metadata'))) {
    const prop = `matching_metadata.${key}`;
    if (key !== 'resource_id')
      throw badProperty(ctx, prop, 'Stratus alarms watch resources by id only (resource_id)');
    out.push({ id: String(value), prop });
  }
  for (const [i, raw] of list(p, 'query').entries()) {
    const q = (raw && typeof raw === 'object' ? raw : {}) as Props;
    const field = str(q, 'field');
    if (field !== 'resource_id' && field !== 'resource')
      throw badProperty(
        ctx,
        `query[${i}].field`,
        `Stratus alarms watch resources by id only (field resource_id, not "${field}")`,
      );
    const op = str(q, 'op') ?? 'eq';
    if (op !== 'eq') throw badProperty(ctx, `query[${i}].op`, 'only "eq" selects a resource');
    out.push({ id: str(q, 'value') ?? '', prop: `query[${i}].value` });
  }
  if (out.length === 0)
    throw badProperty(
      ctx,
      'query',
      'name the watched resource: query [{field: resource_id, op: eq, value: <id>}]',
    );
  return out;
}

function alarmInput(ctx: ResourceContext, p: Props, targetsKnown: boolean): AlarmInput {
  if (list(p, 'time_constraints').length)
    throw badProperty(ctx, 'time_constraints', 'Stratus alarms have no time constraints');
  const statistic = str(p, 'statistic') ?? 'avg';
  if (!(statistic in STATISTICS))
    throw badProperty(ctx, 'statistic', `"${statistic}" is not one of count, avg, sum, min, max`);
  const comparison = str(p, 'comparison_operator') ?? 'eq';
  if (!COMPARISONS.includes(comparison as Comparison))
    throw badProperty(
      ctx,
      'comparison_operator',
      `"${comparison}" is not one of ${COMPARISONS.join(', ')}`,
    );
  const urls = (key: string) => list(p, key).map(String);
  return {
    name: ctx.physicalName,
    description: str(p, 'description') ?? '',
    meter: str(p, 'meter_name') ?? '',
    resourceIds: targetsKnown ? watched(ctx, p).map((w) => w.id) : [],
    comparison: comparison as Comparison,
    threshold: num(p, 'threshold') ?? null,
    aggregation: STATISTICS[statistic],
    granularity: num(p, 'period') ?? 60,
    evaluationPeriods: num(p, 'evaluation_periods') ?? 1,
    actions: {
      alarm: urls('alarm_actions'),
      ok: urls('ok_actions'),
      insufficientData: urls('insufficient_data_actions'),
    },
    repeatActions: bool(p, 'repeat_actions') ?? true,
    enabled: bool(p, 'enabled') ?? true,
  };
}

/** The meter's resource types; a meter on several (servers and ports) tries each in turn. */
function typesOf(ctx: ResourceContext, meter: string): MeteredType[] {
  const def = findMeter(meter);
  if (!def) throw badProperty(ctx, 'meter_name', `unknown meter "${meter}"`);
  return def.resourceTypes;
}

/** Which of the meter's types the watched ids are; NotFound becomes the id's property. */
async function resourceTypeFor(
  ctx: ResourceContext,
  p: Props,
  meter: string,
): Promise<MeteredType> {
  const ids = watched(ctx, p);
  const types = typesOf(ctx, meter);
  for (const type of types) {
    try {
      await checkAlarmResources(
        ctx.svc,
        ctx.svc.rt.db,
        type,
        ids.map((w) => w.id),
      );
      return type;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  }
  // Name the first id that none of the types knows.
  for (const w of ids) {
    let found = false;
    for (const type of types) {
      found ||= await checkAlarmResources(ctx.svc, ctx.svc.rt.db, type, [w.id]).then(
        () => true,
        () => false,
      );
    }
    if (!found)
      throw badProperty(ctx, w.prop, `no ${types.join(' or ')} "${w.id}" the owner may see`);
  }
  throw badProperty(
    ctx,
    'query',
    `the watched resources are not all ${types.join(' or ')}s of one kind`,
  );
}

/**
 * The domain's own checks, without writing (preview). `partial` (validate): the watched
 * resource may be one the same stack makes, left out until it exists; then only the rest.
 */
async function check(ctx: ResourceContext, p: Props, partial = false): Promise<AlarmInput> {
  const targetsKnown =
    !partial || list(p, 'query').length > 0 || Object.keys(map(p, 'matching_metadata')).length > 0;
  const input = alarmInput(ctx, p, targetsKnown);
  const meter = input.meter ?? '';
  input.resourceType = targetsKnown ? await resourceTypeFor(ctx, p, meter) : typesOf(ctx, meter)[0];
  inField(() => checkMeterFor(`${ctx.path}.meter_name`, meter, input.resourceType as MeteredType));
  if (input.threshold == null) throw badProperty(ctx, 'threshold', 'a number is required');
  const policy = policyOf(meter);
  const level = levelOf(policy, input.granularity ?? 0);
  if (!level)
    throw badProperty(
      ctx,
      'period',
      `${input.granularity} s is not a granularity of policy ${policy.name} (${policy.levels.map((l) => l.granularity).join(', ')})`,
    );
  const allow = ctx.svc.rt.config.alarms.webhookAllow;
  for (const [prop, urls] of [
    ['alarm_actions', input.actions?.alarm],
    ['ok_actions', input.actions?.ok],
    ['insufficient_data_actions', input.actions?.insufficientData],
  ] as const) {
    (urls ?? []).forEach((url, i) => {
      inField(() => checkWebhookUrl(allow, `${ctx.path}.${prop}[${i}]`, url));
    });
  }
  return input;
}

async function alarmRow(ctx: ResourceContext, state: ResourceState): Promise<AlarmRow | null> {
  if (!state.physicalId) return null;
  const [row] = await loadAlarms(ctx.svc, [state.physicalId]);
  return row;
}

const ACTION_PROPS = { type: 'list', updateAllowed: true, default: [] } as const;

export const aodhAlarm: ResourcePlugin = {
  type: 'OS::Aodh::Alarm',
  physicalType: 'Alarm',
  properties: {
    meter_name: { type: 'string', required: true },
    comparison_operator: { type: 'string', updateAllowed: true },
    evaluation_periods: { type: 'integer', updateAllowed: true },
    period: { type: 'integer', updateAllowed: true },
    statistic: { type: 'string', updateAllowed: true },
    threshold: { type: 'number', required: true, updateAllowed: true },
    matching_metadata: { type: 'map', default: {}, updateAllowed: true },
    query: { type: 'list', updateAllowed: true },
    description: { type: 'string', updateAllowed: true },
    enabled: { type: 'boolean', default: true, updateAllowed: true },
    alarm_actions: ACTION_PROPS,
    ok_actions: ACTION_PROPS,
    insufficient_data_actions: ACTION_PROPS,
    repeat_actions: { type: 'boolean', default: true, updateAllowed: true },
    severity: { type: 'string', default: 'low', updateAllowed: true },
    time_constraints: { type: 'list', default: [] },
  },
  attributes: ['state'],

  async validate(ctx, p) {
    await check(ctx, p, true);
  },

  quota() {
    return [];
  },

  async create(ctx, p) {
    const input = await check(ctx, p);
    const created = await asProperties(ctx, FIELDS, () => createAlarm(ctx.svc, input));
    return { physicalId: created.alarm.id };
  },

  async update(ctx, state, p) {
    const input = await check(ctx, p);
    const id = String(state.physicalId);
    const { name: _keep, ...changes } = input;
    await asProperties(ctx, FIELDS, () => updateAlarm(ctx.svc, id, changes));
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    try {
      await deleteAlarm(ctx.svc, state.physicalId);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  },

  async attribute(ctx, state, name) {
    const row = await alarmRow(ctx, state);
    if (!row) return null;
    if (name === 'state') return row.state;
    if (name !== 'show') return null;
    return {
      ...plain(row as unknown as Record<string, unknown>),
      alarm_id: row.id,
      type: 'threshold',
      severity: str(state.properties, 'severity') ?? 'low',
      threshold_rule: {
        meter_name: row.meter,
        statistic: Object.keys(STATISTICS).find((k) => STATISTICS[k] === row.aggregation),
        period: row.granularity,
        evaluation_periods: row.evaluationPeriods,
        threshold: row.threshold,
        comparison_operator: row.comparison,
        query: row.resourceIds.map((id) => ({ field: 'resource_id', op: 'eq', value: id })),
      },
      alarm_actions: row.actions.alarm,
      ok_actions: row.actions.ok,
      insufficient_data_actions: row.actions.insufficientData,
    };
  },
};
