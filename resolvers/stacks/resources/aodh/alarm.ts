import { NotFoundError } from '../../../errors';
import { checkAlarmResources } from '../../../metering/alarm-resources';
import { type AlarmInput, createAlarm, updateAlarm } from '../../../metering/alarms';
import { findMeter } from '../../../metering/meters';
import type { Aggregation, MeteredType } from '../../../metering/samples';
import { asProperties, badProperty, list, map, num, type Props, str } from '../cinder/props';
import type { ResourceContext, ResourcePlugin } from '../plugin';
import {
  alarmRow,
  COMMON_FIELDS,
  COMMON_PROPERTIES,
  checkRule,
  commonInput,
  deleteAlarmResource,
  showAlarm,
} from './common';

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
  ...COMMON_FIELDS,
  meter: 'meter_name',
  aggregation: 'statistic',
  granularity: 'period',
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
  const statistic = str(p, 'statistic') ?? 'avg';
  if (!(statistic in STATISTICS))
    throw badProperty(ctx, 'statistic', `"${statistic}" is not one of count, avg, sum, min, max`);
  return {
    ...commonInput(ctx, p),
    meter: str(p, 'meter_name') ?? '',
    resourceIds: targetsKnown ? watched(ctx, p).map((w) => w.id) : [],
    aggregation: STATISTICS[statistic],
    granularity: num(p, 'period') ?? 60,
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
  checkRule(ctx, input, { meter: 'meter_name', period: 'period' });
  return input;
}

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
    ...COMMON_PROPERTIES,
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

  delete: deleteAlarmResource,

  async attribute(ctx, state, name) {
    const row = await alarmRow(ctx, state);
    if (!row) return null;
    if (name === 'state') return row.state;
    if (name !== 'show') return null;
    return showAlarm(row, state, 'threshold', {
      meter_name: row.meter,
      statistic: Object.keys(STATISTICS).find((k) => STATISTICS[k] === row.aggregation),
      period: row.granularity,
      evaluation_periods: row.evaluationPeriods,
      threshold: row.threshold,
      comparison_operator: row.comparison,
      query: row.resourceIds.map((id) => ({ field: 'resource_id', op: 'eq', value: id })),
    });
  },
};
