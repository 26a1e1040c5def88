import { decodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSamples } from '../../resolvers/metering/store';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { createStack, settled, stackMutation, waitForStack } from './api-support';

/**
 * Autoscaling driven by a real alarm, all in one template as on OpenStack: an
 * OS::Aodh::GnocchiResourcesAlarm on the project's vCPUs calls its ScalingPolicy's alarm_url
 * (the stacks signal route, over HTTP, through the webhook allow-list) when the evaluator
 * sees the threshold crossed, and the AutoScalingGroup grows by one. The alarm's return to
 * ok calls the same URL, which must not scale. The samples are written to the store as the
 * pollers would (the busy-guest path from guest to alarm is test/metering/alarm-qemu.test.ts).
 */

const TEMPLATE = `heat_template_version: 2016-10-14
resources:
  asg:
    type: OS::Heat::AutoScalingGroup
    properties:
      min_size: 1
      max_size: 4
      resource: {type: OS::Heat::Value, properties: {value: worker}}
  up:
    type: OS::Heat::ScalingPolicy
    properties:
      auto_scaling_group_id: {get_resource: asg}
      adjustment_type: change_in_capacity
      scaling_adjustment: 1
  busy:
    type: OS::Aodh::GnocchiResourcesAlarm
    properties:
      metric: project.vcpus
      resource_type: project
      resource_id: {get_param: OS::project_id}
      aggregation_method: max
      granularity: 10
      evaluation_periods: 1
      threshold: 4
      comparison_operator: gt
      repeat_actions: false
      alarm_actions: [{get_attr: [up, alarm_url]}]
      ok_actions: [{get_attr: [up, alarm_url]}]
outputs:
  size: {value: {get_attr: [asg, current_size]}}
  alarm: {value: {get_resource: busy}}
`;

let s: TestStratus;
let member: SeededUser;

beforeAll(async () => {
  s = await startTestStratus({
    metering: { intervalMs: 0 },
    alarms: {
      evaluationIntervalMs: 200,
      webhookAllow: ['127.0.0.1', '::1'],
      webhookMaxAttempts: 3,
      webhookTimeoutMs: 5_000,
    },
  });
  member = await new Seed(s).member('member');
}, 60_000);
afterAll(() => s?.stop());

async function vcpus(value: number, at: Date): Promise<void> {
  const projectId = decodeGlobalID(member.projectId).id;
  await recordSamples(s.stratus.runtime.db, [
    {
      meter: 'project.vcpus',
      resourceType: 'project',
      resourceId: projectId,
      projectId,
      timestamp: at,
      value,
    },
  ]);
}

describe('an AutoScalingGroup grown by an alarm of the same stack', () => {
  it('scales up by one when the alarm fires, and not when it returns to ok', async () => {
    const created = await createStack(s, member.token, { name: 'autoscale', template: TEMPLATE });
    expect(created.__typename, JSON.stringify(created)).toBe('CreateStackSuccess');
    const id = created.stack.id;
    const FIELDS = 'id status statusReason outputs { key value error }';
    const size = async () => {
      const st = await waitForStack(s, member.token!, id, settled, FIELDS, 60_000);
      return st!.outputs.find((o: Json) => o.key === 'size').value;
    };
    const done = await waitForStack(s, member.token!, id, settled, FIELDS, 60_000);
    expect(done!.status, done!.statusReason).toBe('CREATE_COMPLETE');
    expect(await size()).toBe(1);
    const alarmId = done!.outputs.find((o: Json) => o.key === 'alarm').value;

    const alarmState = async () => {
      const { alarms } = await s.ok('{ alarms { edges { node { id state } } } }', {}, member.token);
      return alarms.edges
        .map((e: Json) => e.node)
        .find((a: Json) => decodeGlobalID(a.id).id === alarmId)?.state;
    };
    const until = async (probe: () => Promise<boolean>, what: string) => {
      const deadline = Date.now() + 60_000;
      while (!(await probe())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    // Busy: 8 vCPUs > 4. The evaluator fires, the webhook signals the policy, the group grows.
    await vcpus(8, new Date());
    await until(async () => (await alarmState()) === 'ALARM', 'the alarm to fire');
    await until(async () => (await size()) === 2, 'the group to grow to 2');

    // Quiet again in the next 10 s bucket: the alarm returns to ok, its webhook must not scale.
    const next = Math.ceil(Date.now() / 10_000) * 10_000 + 100;
    await new Promise((r) => setTimeout(r, next - Date.now()));
    await vcpus(1, new Date());
    await until(async () => (await alarmState()) === 'OK', 'the alarm to return to ok');
    // Let the ok webhook land before reading the size once more.
    await new Promise((r) => setTimeout(r, 2_000));
    const after = await waitForStack(s, member.token!, id, settled, FIELDS, 60_000);
    expect(after!.outputs.find((o: Json) => o.key === 'size').value).toBe(2);

    await stackMutation(s, member.token, 'deleteStack', 'DeleteStackInput', { id });
    await waitForStack(s, member.token!, id, (st) => st === null, 'id status', 90_000);
    expect(await alarmState()).toBeUndefined();
  }, 180_000);
});
