import { NotFoundError } from '../../../errors';
import { checkAlarmResources } from '../../../metering/alarm-resources';
import { type AlarmInput, createAlarm, updateAlarm } from '../../../metering/alarms';
import type { Aggregation, MeteredType } from '../../../metering/samples';
import { asProperties, badProperty, num, type Props, str } from '../cinder/props';
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
 * OS::Aodh::GnocchiResourcesAlarm (one resource's metric against a threshold) onto Stratus's
 * metering alarms, which have the same shape: metric -> meter, resource_type (Gnocchi's
 * names: instance, instance_disk, instance_network_interface, volume, network, image; or
 * Stratus's own), resource_id, aggregation_method (mean, min, max, sum, count, rate:mean,
 * 95pct), granularity (a level of the meter's archive policy).
 */

const RESOURCE_TYPES: Record<string, MeteredType> = {
  instance: 'server',
  instance_disk: 'server_disk',
  instance_network_interface: 'port',
  volume: 'volume',
  network: 'network',
  image: 'image',
  server: 'server',
  server_disk: 'server_disk',
  port: 'port',
  container: 'container',
  project: 'project',
};

const METHODS: Record<string, Aggregation> = {
  mean: 'mean',
  min: 'min',
  max: 'max',
  sum: 'sum',
  count: 'count',
  'rate:mean': 'rate',
  '95pct': 'p95',
};

const FIELDS = {
  ...COMMON_FIELDS,
  meter: 'metric',
  resourceType: 'resource_type',
  resourceIds: 'resource_id',
  aggregation: 'aggregation_method',
  granularity: 'granularity',
};

/** The domain's checks without writing; `partial`: resource_id may still be to be made. */
async function check(ctx: ResourceContext, p: Props, partial = false): Promise<AlarmInput> {
  const typeName = str(p, 'resource_type') ?? '';
  const resourceType = RESOURCE_TYPES[typeName];
  if (!resourceType)
    throw badProperty(
      ctx,
      'resource_type',
      `"${typeName}" is not one of ${Object.keys(RESOURCE_TYPES).join(', ')}`,
    );
  const method = str(p, 'aggregation_method');
  if (!method || !(method in METHODS))
    throw badProperty(
      ctx,
      'aggregation_method',
      `${method ? `"${method}"` : 'nothing'} is not one of ${Object.keys(METHODS).join(', ')}`,
    );
  const resourceId = str(p, 'resource_id');
  if (!resourceId && !partial) throw badProperty(ctx, 'resource_id', 'a resource id is required');
  const input: AlarmInput = {
    ...commonInput(ctx, p),
    meter: str(p, 'metric') ?? '',
    resourceType,
    resourceIds: resourceId ? [resourceId] : [],
    aggregation: METHODS[method],
    granularity: num(p, 'granularity') ?? 60,
  };
  checkRule(ctx, input, { meter: 'metric', period: 'granularity' });
  if (resourceId) {
    try {
      await checkAlarmResources(ctx.svc, ctx.svc.rt.db, resourceType, [resourceId]);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      throw badProperty(ctx, 'resource_id', `no ${typeName} "${resourceId}" the owner may see`);
    }
  }
  return input;
}

export const aodhGnocchiResourcesAlarm: ResourcePlugin = {
  type: 'OS::Aodh::GnocchiResourcesAlarm',
  physicalType: 'Alarm',
  properties: {
    metric: { type: 'string', required: true, updateAllowed: true },
    resource_id: { type: 'string', required: true, updateAllowed: true },
    resource_type: { type: 'string', required: true, updateAllowed: true },
    comparison_operator: { type: 'string', updateAllowed: true },
    evaluation_periods: { type: 'integer', updateAllowed: true },
    granularity: { type: 'integer', updateAllowed: true },
    aggregation_method: { type: 'string', updateAllowed: true },
    threshold: { type: 'number', required: true, updateAllowed: true },
    ...COMMON_PROPERTIES,
  },
  attributes: ['state'],

  async validate(ctx, p) {
    await check(ctx, p, true);
  },

  async create(ctx, p) {
    const input = await check(ctx, p);
    const created = await asProperties(ctx, FIELDS, () => createAlarm(ctx.svc, input));
    return { physicalId: created.alarm.id };
  },

  async update(ctx, state, p) {
    const { name: _keep, ...changes } = await check(ctx, p);
    await asProperties(ctx, FIELDS, () => updateAlarm(ctx.svc, String(state.physicalId), changes));
    return { kind: 'updated' };
  },

  delete: deleteAlarmResource,

  async attribute(ctx, state, name) {
    const row = await alarmRow(ctx, state);
    if (!row) return null;
    if (name === 'state') return row.state;
    if (name !== 'show') return null;
    return showAlarm(row, state, 'gnocchi_resources_threshold', {
      metric: row.meter,
      resource_type: str(state.properties, 'resource_type') ?? row.resourceType,
      resource_id: row.resourceIds[0] ?? null,
      aggregation_method: Object.keys(METHODS).find((k) => METHODS[k] === row.aggregation),
      granularity: row.granularity,
      evaluation_periods: row.evaluationPeriods,
      threshold: row.threshold,
      comparison_operator: row.comparison,
    });
  },
};
