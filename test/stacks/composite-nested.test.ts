import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CompositeWorld,
  createStack,
  deleteStack,
  leftovers,
  outputs,
  resources,
  settle,
  signal,
  stackRow,
  startCompositeWorld,
  updateStack,
} from './composite-support';

/**
 * The nested-stack composite types end to end through the stacks engine on a real Stratus
 * and PostgreSQL: ResourceGroup scaled 3 -> 5 -> 2 with removal_policies, a template
 * resource and OS::Heat::Stack with outputs, an AutoScalingGroup grown by its ScalingPolicy's
 * signal (as an alarm's webhook does). Each delete leaves no stack or resource row.
 */

let w: CompositeWorld;
beforeAll(async () => {
  w = await startCompositeWorld();
}, 60_000);
afterAll(() => w?.s.stop());

const groupTemplate = (count: number, removal: string[] = []) => `
heat_template_version: 2016-10-14
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties:
      count: ${count}
      removal_policies: [{resource_list: ${JSON.stringify(removal)}}]
      resource_def:
        type: OS::Heat::Value
        properties:
          value: member-%index%
outputs:
  values: {value: {get_attr: [group, value]}}
  by_member: {value: {get_attr: [group, attributes, value]}}
  second: {value: {get_attr: [group, resource.1.value]}}
  refs: {value: {get_attr: [group, refs]}}
  removed: {value: {get_attr: [group, removed_rsrc_list]}}
`;

describe('OS::Heat::ResourceGroup', () => {
  it('creates 3 members, grows to 5, shrinks to 2 removing the named one, deletes leaving nothing', async () => {
    const stack = await createStack(w, { name: 'rg', template: groupTemplate(3) });
    expect(`${stack.action}_${stack.status}`, stack.statusReason).toBe('CREATE_COMPLETE');
    let out = await outputs(w, stack);
    expect(out.values).toEqual(['member-0', 'member-1', 'member-2']);
    expect(out.by_member).toEqual({ '0': 'member-0', '1': 'member-1', '2': 'member-2' });
    expect(out.second).toBe('member-1');
    const group = (await resources(w, stack.id)).group;
    expect(group.physicalId).toBeTruthy();
    const nested = await resources(w, group.physicalId!);
    expect(Object.keys(nested).sort()).toEqual(['0', '1', '2']);
    expect(out.refs).toEqual(['0', '1', '2'].map((m) => nested[m].physicalId));

    const grown = await updateStack(w, stack.id, { template: groupTemplate(5) });
    expect(`${grown.action}_${grown.status}`, grown.statusReason).toBe('UPDATE_COMPLETE');
    out = await outputs(w, grown);
    expect(out.values).toEqual(['member-0', 'member-1', 'member-2', 'member-3', 'member-4']);
    expect(Object.keys(await resources(w, group.physicalId!)).sort()).toEqual([
      '0',
      '1',
      '2',
      '3',
      '4',
    ]);

    // Member 1 by name and member 3 by physical ID go; the two kept are 0 and 2.
    const phys3 = (await resources(w, group.physicalId!))['3'].physicalId!;
    const shrunk = await updateStack(w, stack.id, { template: groupTemplate(2, ['1', phys3]) });
    expect(`${shrunk.action}_${shrunk.status}`, shrunk.statusReason).toBe('UPDATE_COMPLETE');
    out = await outputs(w, shrunk);
    expect(out.values).toEqual(['member-0', 'member-2']);
    expect(out.removed).toEqual(['1', '3']);
    expect(Object.keys(await resources(w, group.physicalId!)).sort()).toEqual(['0', '2']);

    await deleteStack(w, stack.id);
    expect(await leftovers(w)).toEqual({ stacks: 0, resources: 0 });
  });

  it('refuses a bad count or member type at its property path and creates nothing', async () => {
    const bad = groupTemplate(3).replace('count: 3', 'count: -2');
    await expect(createStack(w, { name: 'rg-bad', template: bad })).rejects.toThrow(
      /resources\.group\.properties\.count/,
    );
    const unknown = groupTemplate(1).replace('type: OS::Heat::Value', 'type: OS::Nope::Thing');
    await expect(createStack(w, { name: 'rg-bad2', template: unknown })).rejects.toThrow(
      /resources\.group\.properties\.resource_def\.type/,
    );
    expect(await leftovers(w)).toEqual({ stacks: 0, resources: 0 });
  });
});

describe('a group whose member fails', () => {
  it("fails the group with the member's reason, and the rollback leaves nothing", async () => {
    const template = `
heat_template_version: 2016-10-14
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties:
      count: 2
      resource_def:
        type: OS::Heat::TestResource
        properties: {value: v%index%, fail: true}
`;
    const stack = await createStack(w, { name: 'rg-fail', template });
    expect(`${stack.action}_${stack.status}`).toBe('ROLLBACK_COMPLETE');
    // The group's CREATE_FAILED event carries its nested stack's failure.
    const { rows } = await w.s.stratus.runtime.pool.query(
      `select status_reason from stack_events where stack_id = $1 and resource_name = 'group' and action = 'CREATE' and status = 'FAILED'`,
      [stack.id],
    );
    expect(rows[0]?.status_reason).toMatch(/nested stack CREATE_FAILED.*Test Resource failed/);
    expect(Object.keys(await resources(w, stack.id))).toEqual([]);
    expect((await leftovers(w)).stacks).toBe(1);
    await deleteStack(w, stack.id);
    expect(await leftovers(w)).toEqual({ stacks: 0, resources: 0 });
  });
});

const child = `
heat_template_version: 2016-10-14
parameters:
  greeting: {type: string}
resources:
  v:
    type: OS::Heat::Value
    properties: {value: {str_replace: {template: "$g world", params: {$g: {get_param: greeting}}}}}
outputs:
  message: {value: {get_attr: [v, value]}}
`;

describe('template resources and OS::Heat::Stack', () => {
  it('runs both as nested stacks whose outputs are the parent attributes; delete leaves nothing', async () => {
    const template = `
heat_template_version: 2016-10-14
resources:
  tr:
    type: child.yaml
    properties: {greeting: hello}
  st:
    type: OS::Heat::Stack
    properties:
      template: {get_file: child.yaml}
      parameters: {greeting: bonjour}
outputs:
  from_template: {value: {get_attr: [tr, message]}}
  inner: {value: {get_attr: [tr, resource.v.value]}}
  from_stack: {value: {get_attr: [st, outputs, message]}}
  stack_name: {value: {get_attr: [st, stack_name]}}
`;
    const stack = await createStack(w, { name: 'nest', template, files: { 'child.yaml': child } });
    expect(`${stack.action}_${stack.status}`, stack.statusReason).toBe('CREATE_COMPLETE');
    const out = await outputs(w, stack);
    expect(out.from_template).toBe('hello world');
    expect(out.inner).toBe('hello world');
    expect(out.from_stack).toBe('bonjour world');
    expect(typeof out.stack_name).toBe('string');
    const rows = await resources(w, stack.id);
    expect(Object.keys(await resources(w, rows.tr.physicalId!))).toEqual(['v']);

    const updated = await updateStack(w, stack.id, {
      template: template.replace('greeting: hello', 'greeting: hi'),
      files: { 'child.yaml': child },
    });
    expect(`${updated.action}_${updated.status}`, updated.statusReason).toBe('UPDATE_COMPLETE');
    expect((await outputs(w, updated)).from_template).toBe('hi world');

    await deleteStack(w, stack.id);
    expect(await leftovers(w)).toEqual({ stacks: 0, resources: 0 });
  });
});

describe('OS::Heat::AutoScalingGroup and OS::Heat::ScalingPolicy', () => {
  it('grows by the policy signal within max_size, honours the cooldown, deletes leaving nothing', async () => {
    const template = `
heat_template_version: 2016-10-14
resources:
  asg:
    type: OS::Heat::AutoScalingGroup
    properties:
      min_size: 1
      max_size: 3
      resource:
        type: OS::Heat::RandomString
        properties: {length: 12}
  up:
    type: OS::Heat::ScalingPolicy
    properties:
      auto_scaling_group_id: {get_resource: asg}
      adjustment_type: change_in_capacity
      scaling_adjustment: 1
  up_slow:
    type: OS::Heat::ScalingPolicy
    properties:
      auto_scaling_group_id: {get_resource: asg}
      adjustment_type: change_in_capacity
      scaling_adjustment: 1
      cooldown: 3600
outputs:
  size: {value: {get_attr: [asg, current_size]}}
  alarm_url: {value: {get_attr: [up, alarm_url]}}
  strings: {value: {get_attr: [asg, outputs_list, value]}}
`;
    const stack = await createStack(w, { name: 'asg', template });
    expect(`${stack.action}_${stack.status}`, stack.statusReason).toBe('CREATE_COMPLETE');
    let out = await outputs(w, stack);
    expect(out.size).toBe(1);
    expect(String(out.alarm_url)).toMatch(/^http/);
    const asgId = (await resources(w, stack.id)).asg.physicalId!;
    // Members once the group's nested stack has settled (a busy group refuses a signal).
    const members = async () =>
      (await stackRow(w, asgId))?.status === 'COMPLETE'
        ? Object.keys(await resources(w, asgId)).length
        : -1;

    // What an Aodh alarm's webhook does: POST its new state to the policy's alarm_url.
    const hook = await fetch(String(out.alarm_url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        alarm_name: 'cpu',
        current: 'alarm',
        previous: 'ok',
        reason: 'cpu high',
      }),
    });
    expect(hook.status, await hook.text()).toBeLessThan(300);
    await waitFor(async () => (await members()) === 2);
    // An alarm going back to ok does not scale.
    await signal(w, stack.id, 'up', { current: 'ok', previous: 'alarm' });
    await signal(w, stack.id, 'up_slow', { current: 'alarm' });
    await waitFor(async () => (await members()) === 3);
    // The slow policy is in its cooldown, and max_size is 3 anyway for the other one.
    await signal(w, stack.id, 'up_slow', { current: 'alarm' });
    await signal(w, stack.id, 'up', { current: 'alarm' });
    // The group's own record of its members is written with the signal: still 3.
    expect(((await resources(w, stack.id)).asg.data.members as string[]).length).toBe(3);
    await waitFor(async () => (await members()) === 3);
    out = await outputs(w, (await settle(w, stack.id))!);
    expect(out.size).toBe(3);
    expect((out.strings as unknown[]).every((s) => typeof s === 'string' && s.length === 12)).toBe(
      true,
    );

    // A stack update setting desired_capacity shrinks it in place, keeping the newest members.
    const before = (await resources(w, stack.id)).asg.data.members as string[];
    const shrunk = await updateStack(w, stack.id, {
      template: template.replace('max_size: 3', 'max_size: 3\n      desired_capacity: 2'),
    });
    expect(`${shrunk.action}_${shrunk.status}`, shrunk.statusReason).toBe('UPDATE_COMPLETE');
    expect((await resources(w, stack.id)).asg.physicalId).toBe(asgId);
    expect(Object.keys(await resources(w, asgId)).sort()).toEqual(before.slice(1).sort());
    expect((await outputs(w, shrunk)).size).toBe(2);

    await deleteStack(w, stack.id);
    expect(await leftovers(w)).toEqual({ stacks: 0, resources: 0 });
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 150));
  }
}
