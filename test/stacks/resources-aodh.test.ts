import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../resolvers/errors';
import { recordSamples } from '../../resolvers/metering/store';
import { aodhAlarm } from '../../resolvers/stacks/resources/aodh/alarm';
import { aodhGnocchiResourcesAlarm } from '../../resolvers/stacks/resources/aodh/gnocchi-resources-alarm';
import { Receiver, raw, readAlarm } from '../metering/alarm-support';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { sqlCount } from '../support/servers';
import { createResource, deleteResource, pluginContext } from './plugin-support';

/**
 * OS::Aodh::Alarm against a real Stratus: the alarm row, the real evaluator firing on samples
 * written to the store and calling the template's alarm_actions URL (a receiver on 127.0.0.1,
 * allow-listed), an update and a delete; bad properties refused by path, nothing created.
 */

let s: TestStratus;
let alice: SeededUser;
let other: SeededUser;
let receiver: Receiver;
let hook: string;

beforeAll(async () => {
  s = await startTestStratus({
    metering: { intervalMs: 0 },
    alarms: {
      evaluationIntervalMs: 200,
      webhookAllow: ['127.0.0.1'],
      webhookMaxAttempts: 3,
      webhookTimeoutMs: 5_000,
    },
  });
  const seed = new Seed(s);
  alice = await seed.member('member');
  other = await seed.member('member');
  receiver = new Receiver();
  hook = await receiver.start();
}, 60_000);

afterAll(async () => {
  await receiver?.stop();
  await s?.stop();
});

const alarms = () =>
  sqlCount(s, 'select count(*) from alarms where project_id = $1', [raw(alice.projectId)]);

async function invalid(fn: () => Promise<unknown>, field: string) {
  const error = await fn().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as InvalidInputError).field).toBe(field);
  expect((error as Error).message).toContain(field);
}

describe('OS::Aodh::Alarm', () => {
  it('creates a threshold alarm that fires its alarm_actions, updates it, deletes it', async () => {
    const project = raw(alice.projectId);
    const ctx = await pluginContext(s, alice, 'busy');
    const props = {
      meter_name: 'project.vcpus',
      statistic: 'avg',
      period: 10,
      evaluation_periods: 3,
      threshold: 50,
      comparison_operator: 'gt',
      query: [{ field: 'resource_id', op: 'eq', value: project }],
      alarm_actions: [`${hook}/scale-up`],
      description: 'too many vCPUs',
    };
    await aodhAlarm.validate!(ctx, props);
    const state = await createResource(aodhAlarm, ctx, props);
    const gid = encodeGlobalID('Alarm', state.physicalId!);
    expect(await readAlarm(s, alice.token, gid)).toMatchObject({
      name: ctx.physicalName,
      meter: 'project.vcpus',
      resourceType: 'project',
      resourceIds: [project],
      threshold: 50,
      enabled: true,
    });
    expect(await aodhAlarm.attribute(ctx, state, 'state')).toBe('insufficient data');

    const t0 = Date.now();
    await recordSamples(
      s.stratus.runtime.db,
      [t0 - 20_000, t0 - 10_000, t0].map((t, i) => ({
        meter: 'project.vcpus',
        resourceType: 'project' as const,
        resourceId: project,
        projectId: project,
        timestamp: new Date(t),
        value: [90, 91, 92][i],
      })),
    );
    await expect
      .poll(() => aodhAlarm.attribute(ctx, state, 'state'), { timeout: 30_000 })
      .toBe('alarm');
    const deliveries = await receiver.waitFor((d) => d.some((x) => x.path === '/scale-up'));
    expect(deliveries.find((d) => d.path === '/scale-up')?.body).toMatchObject({
      alarmId: state.physicalId,
      currentState: 'alarm',
    });
    expect(await aodhAlarm.attribute(ctx, state, 'show')).toMatchObject({
      alarm_id: state.physicalId,
      state: 'alarm',
      threshold_rule: {
        meter_name: 'project.vcpus',
        statistic: 'avg',
        period: 10,
        comparison_operator: 'gt',
        query: [{ field: 'resource_id', op: 'eq', value: project }],
      },
      alarm_actions: [`${hook}/scale-up`],
      repeatActions: true,
    });

    const next = {
      ...props,
      threshold: 95,
      statistic: 'max',
      enabled: false,
      ok_actions: [`${hook}/ok`],
    };
    const result = await aodhAlarm.update!(ctx, state, next, [
      'threshold',
      'statistic',
      'enabled',
      'ok_actions',
    ]);
    expect(result.kind).toBe('updated');
    expect(await readAlarm(s, alice.token, gid)).toMatchObject({
      threshold: 95,
      enabled: false,
      name: ctx.physicalName,
    });
    const [row] = (
      await s.stratus.runtime.pool.query('select aggregation, actions from alarms where id = $1', [
        state.physicalId,
      ])
    ).rows;
    expect(row).toEqual({
      aggregation: 'max',
      actions: { alarm: [`${hook}/scale-up`], ok: [`${hook}/ok`], insufficientData: [] },
    });

    await deleteResource(aodhAlarm, ctx, state);
    expect(await alarms()).toBe(0);
    await deleteResource(aodhAlarm, ctx, state);
  });

  it('takes the watched resource from matching_metadata', async () => {
    const ctx = await pluginContext(s, alice, 'mm');
    const state = await createResource(aodhAlarm, ctx, {
      meter_name: 'project.memory',
      period: 60,
      threshold: 1024,
      matching_metadata: { resource_id: raw(alice.projectId) },
    });
    expect(await aodhAlarm.attribute(ctx, state, 'show')).toMatchObject({
      comparison: 'eq', // Aodh's default operator
      aggregation: 'mean',
      resourceIds: [raw(alice.projectId)],
    });
    await deleteResource(aodhAlarm, ctx, state);
    expect(await alarms()).toBe(0);
  });

  it('refuses bad properties by path, creating nothing', async () => {
    const ctx = await pluginContext(s, alice, 'bad');
    const f = (p: string) => `resources.bad.properties.${p}`;
    const base = {
      meter_name: 'project.vcpus',
      period: 10,
      threshold: 1,
      query: [{ field: 'resource_id', op: 'eq', value: raw(alice.projectId) }],
    };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...base, meter_name: 'no.such.meter' }, f('meter_name')],
      [{ ...base, meter_name: 'cpu_util' }, f('query[0].value')], // a project is not a server
      [{ ...base, period: 7 }, f('period')],
      [{ ...base, statistic: 'median' }, f('statistic')],
      [{ ...base, comparison_operator: 'between' }, f('comparison_operator')],
      [{ ...base, alarm_actions: ['http://169.254.169.254/latest'] }, f('alarm_actions[0]')],
      [{ ...base, ok_actions: ['ftp://example.com/x'] }, f('ok_actions[0]')],
      [
        { ...base, query: [{ field: 'metadata.user_metadata.stack', value: 'x' }] },
        f('query[0].field'),
      ],
      [
        { ...base, matching_metadata: { 'metering.server_group': 'x' } },
        f('matching_metadata.metering.server_group'),
      ],
      [
        { ...base, query: [{ field: 'resource_id', value: raw(other.projectId) }] },
        f('query[0].value'),
      ],
      [
        { ...base, time_constraints: [{ name: 'a', start: '* * * * *', duration: 60 }] },
        f('time_constraints'),
      ],
    ];
    for (const [props, field] of cases) {
      await invalid(() => aodhAlarm.validate!(ctx, props), field);
      await invalid(() => aodhAlarm.create(ctx, props), field);
    }
    // The watched server made by the same stack: left out of validate, required by create.
    const { query: _deferred, ...noTarget } = base;
    await aodhAlarm.validate!(ctx, noTarget);
    await invalid(() => aodhAlarm.validate!(ctx, { ...noTarget, period: 7 }), f('period'));
    await invalid(() => aodhAlarm.create(ctx, { ...base, query: [] }), f('query'));
    expect(await alarms()).toBe(0);
  });
});

describe('OS::Aodh::GnocchiResourcesAlarm', () => {
  it('watches one resource: fires, updates its aggregation, deletes', async () => {
    const bob = await new Seed(s).member('member');
    const project = raw(bob.projectId);
    const ctx = await pluginContext(s, bob, 'vcpus');
    const props = {
      metric: 'project.vcpus',
      resource_type: 'project',
      resource_id: project,
      aggregation_method: 'max',
      granularity: 10,
      evaluation_periods: 2,
      threshold: 8,
      comparison_operator: 'ge',
      alarm_actions: [`${hook}/gnocchi`],
    };
    await aodhGnocchiResourcesAlarm.validate!(ctx, props);
    const state = await createResource(aodhGnocchiResourcesAlarm, ctx, props);
    const [row] = (
      await s.stratus.runtime.pool.query(
        'select resource_type, resource_ids, aggregation, granularity, comparison from alarms where id = $1',
        [state.physicalId],
      )
    ).rows;
    expect(row).toEqual({
      resource_type: 'project',
      resource_ids: [project],
      aggregation: 'max',
      granularity: 10,
      comparison: 'ge',
    });
    const t0 = Date.now();
    await recordSamples(
      s.stratus.runtime.db,
      [t0 - 10_000, t0].map((t) => ({
        meter: 'project.vcpus',
        resourceType: 'project' as const,
        resourceId: project,
        projectId: project,
        timestamp: new Date(t),
        value: 8,
      })),
    );
    await expect
      .poll(() => aodhGnocchiResourcesAlarm.attribute(ctx, state, 'state'), { timeout: 30_000 })
      .toBe('alarm');
    await receiver.waitFor((d) => d.some((x) => x.path === '/gnocchi'));

    const next = { ...props, aggregation_method: 'rate:mean', threshold: 5 };
    await aodhGnocchiResourcesAlarm.update!(ctx, state, next, ['aggregation_method', 'threshold']);
    const after = { ...state, properties: next };
    expect(await aodhGnocchiResourcesAlarm.attribute(ctx, after, 'show')).toMatchObject({
      alarm_id: state.physicalId,
      type: 'gnocchi_resources_threshold',
      gnocchi_resources_threshold_rule: {
        metric: 'project.vcpus',
        resource_type: 'project',
        resource_id: project,
        aggregation_method: 'rate:mean',
        threshold: 5,
      },
    });
    await deleteResource(aodhGnocchiResourcesAlarm, ctx, after);
    expect(await sqlCount(s, 'select count(*) from alarms where project_id = $1', [project])).toBe(
      0,
    );
  });

  it('refuses bad properties by path, creating nothing', async () => {
    const ctx = await pluginContext(s, alice, 'g');
    const f = (p: string) => `resources.g.properties.${p}`;
    const base = {
      metric: 'project.vcpus',
      resource_type: 'project',
      resource_id: raw(alice.projectId),
      aggregation_method: 'mean',
      granularity: 10,
      threshold: 1,
    };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...base, resource_type: 'swift_account' }, f('resource_type')],
      [{ ...base, aggregation_method: 'median' }, f('aggregation_method')],
      [{ ...base, resource_id: raw(other.projectId) }, f('resource_id')],
      [{ ...base, granularity: 7 }, f('granularity')],
      [{ ...base, metric: 'cpu_util' }, f('metric')],
      [{ ...base, alarm_actions: ['http://10.0.0.1:80/x'] }, f('alarm_actions[0]')],
    ];
    for (const [props, field] of cases) {
      await invalid(() => aodhGnocchiResourcesAlarm.validate!(ctx, props), field);
      await invalid(() => aodhGnocchiResourcesAlarm.create(ctx, props), field);
    }
    // The watched resource made by the same stack: left out of validate only.
    const { resource_id: _later, ...noTarget } = base;
    await aodhGnocchiResourcesAlarm.validate!(ctx, noTarget);
    await invalid(() => aodhGnocchiResourcesAlarm.create(ctx, noTarget), f('resource_id'));
    expect(await alarms()).toBe(0);
  });
});
