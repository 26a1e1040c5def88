import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceContext } from '../../resolvers/runtime';
import {
  type PlanAction,
  planStack,
  stackOutputs,
  startStackCreate,
  startStackDelete,
  startStackUpdate,
} from '../../resolvers/stacks/engine/index';
import { startTestStratus, type TestStratus } from '../support/harness';
import {
  type EventLine,
  eventsOf,
  memberContext,
  resourcesOf,
  waitForState,
} from './engine-support';

const V1 = `
heat_template_version: 2018-08-31
resources:
  keep: { type: OS::Heat::Value, properties: { value: same } }
  inplace: { type: OS::Heat::TestResource, properties: { value: x } }
  repl: { type: OS::Heat::TestResource, properties: { value: r } }
  gone: { type: OS::Heat::Value, properties: { value: bye } }
  user:
    type: OS::Heat::Value
    properties:
      value: { list_join: [',', [{ get_attr: [inplace, output] }, { get_resource: repl }]] }
outputs:
  user: { value: { get_attr: [user, value] } }
`;

const V2 = `
heat_template_version: 2018-08-31
resources:
  keep: { type: OS::Heat::Value, properties: { value: same } }
  inplace: { type: OS::Heat::TestResource, properties: { value: y } }
  repl: { type: OS::Heat::TestResource, properties: { value: r2, update_replace: true } }
  added: { type: OS::Heat::Value, properties: { value: hi } }
  user:
    type: OS::Heat::Value
    properties:
      value: { list_join: [',', [{ get_attr: [inplace, output] }, { get_resource: repl }]] }
outputs:
  user: { value: { get_attr: [user, value] } }
`;

/** What the run did to each resource, read from its events (after `fromId`). */
function runActions(
  events: EventLine[],
  fromId: number,
  names: string[],
): Record<string, PlanAction> {
  const out: Record<string, PlanAction> = {};
  for (const name of names) {
    const mine = events.filter((e) => e.id > fromId && e.resource === name);
    const states = mine.map((e) => e.state);
    if (mine.some((e) => e.reason.startsWith('update requires replacement'))) out[name] = 'REPLACE';
    else if (states.includes('UPDATE_COMPLETE')) out[name] = 'UPDATE';
    else if (states.includes('CREATE_COMPLETE')) out[name] = 'CREATE';
    else if (states.includes('DELETE_COMPLETE')) out[name] = 'DELETE';
    else out[name] = 'UNCHANGED';
  }
  return out;
}

describe('stacks engine: update, rollback of an update, Retain', () => {
  let s: TestStratus;
  let svc: ServiceContext;

  beforeAll(async () => {
    s = await startTestStratus();
    ({ svc } = await memberContext(s));
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
  });

  const physical = async (stackId: string) =>
    Object.fromEntries(
      (await resourcesOf(s.stratus.runtime, stackId)).map((r) => [r.name, r.physicalId]),
    );

  it('updates in place, replaces, adds and removes exactly as planned; a failed update rolls back', async () => {
    const rt = s.stratus.runtime;
    const stack = await startStackCreate(svc, { name: 'upd', template: V1 });
    const created = await waitForState(rt, stack.id, ['CREATE_COMPLETE']);
    const before = await physical(stack.id);
    expect((await stackOutputs(svc, created!)).user).toEqual({ value: `x,${before.repl}` });

    const plan = await planStack(svc, { template: V2 }, stack.id);
    expect(plan.errors).toEqual([]);
    const planned = Object.fromEntries(plan.resources.map((r) => [r.name, r.action]));
    expect(planned).toEqual({
      keep: 'UNCHANGED',
      inplace: 'UPDATE',
      repl: 'REPLACE',
      added: 'CREATE',
      gone: 'DELETE',
      user: 'UPDATE',
    });
    expect(plan.resources.find((r) => r.name === 'inplace')?.changedProperties).toEqual(['value']);
    // The plan wrote nothing.
    expect(await physical(stack.id)).toEqual(before);

    const lastEvent = (await eventsOf(rt, stack.id)).at(-1)!.id;
    const updating = await startStackUpdate(svc, stack.id, { template: V2 });
    expect(`${updating.action}_${updating.status}`).toBe('UPDATE_IN_PROGRESS');
    const updated = await waitForState(rt, stack.id, [
      'UPDATE_COMPLETE',
      'UPDATE_FAILED',
      'ROLLBACK_COMPLETE',
    ]);
    expect(`${updated?.action}_${updated?.status}`).toBe('UPDATE_COMPLETE');
    const events = await eventsOf(rt, stack.id);
    expect(runActions(events, lastEvent, Object.keys(planned))).toEqual(planned);

    const after = await physical(stack.id);
    expect(after.inplace).toBe(before.inplace);
    expect(after.keep).toBe(before.keep);
    expect(after.repl).not.toBe(before.repl);
    expect(after.gone).toBeUndefined();
    expect(after.added).toBeTruthy();
    const rows = await resourcesOf(rt, stack.id);
    expect(rows).toHaveLength(5);
    expect(rows.every((r) => r.replacedBy === null && r.status === 'COMPLETE')).toBe(true);
    expect((await stackOutputs(svc, updated!)).user).toEqual({ value: `y,${after.repl}` });
    expect(updated?.previousDefinition).toBeNull();

    // A failing update: in-place change fails, a replacement and an addition were made first.
    const V3 = V2.replace('{ value: y }', '{ value: z, fail: true, wait_secs: 1 }')
      .replace('value: r2, update_replace: true', 'value: r3, update_replace: true')
      .replace(
        'added: {',
        'extra: { type: OS::Heat::Value, properties: { value: more } }\n  added: {',
      );
    const mark = (await eventsOf(rt, stack.id)).at(-1)!.id;
    await startStackUpdate(svc, stack.id, { template: V3 });
    const rolled = await waitForState(rt, stack.id, ['ROLLBACK_COMPLETE', 'ROLLBACK_FAILED']);
    expect(`${rolled?.action}_${rolled?.status}`).toBe('ROLLBACK_COMPLETE');
    const rollEvents = (await eventsOf(rt, stack.id)).filter((e) => e.id > mark);
    expect(
      rollEvents.find((e) => e.state === 'UPDATE_FAILED' && e.resource === 'upd')?.reason,
    ).toContain('Test Resource failed inplace');
    // Back to V2: the replaced resource was taken back, the addition deleted.
    expect(rolled?.definition.template).toBe(V2);
    const back = await physical(stack.id);
    expect(back).toEqual(after);
    expect((await stackOutputs(svc, rolled!)).user).toEqual({ value: `y,${after.repl}` });

    // An update while one runs is a conflict (Heat's 409).
    await startStackUpdate(svc, stack.id, {
      template: V2.replace('{ value: y }', '{ value: w, wait_secs: 2 }'),
    });
    const busy = await startStackUpdate(svc, stack.id, { template: V2 }).catch((e) => e);
    expect(busy.code).toBe('CONFLICT');
    await waitForState(rt, stack.id, ['UPDATE_COMPLETE']);

    await startStackDelete(svc, stack.id);
    await waitForState(rt, stack.id, ['GONE']);
    expect(await resourcesOf(rt, stack.id)).toHaveLength(0);
  }, 90_000);

  it('PATCH keeps the template and old parameters; a missing required parameter is refused', async () => {
    const rt = s.stratus.runtime;
    const template = `
heat_template_version: 2018-08-31
parameters:
  a: { type: string }
  b: { type: string, default: bee }
resources:
  v: { type: OS::Heat::Value, properties: { value: { list_join: ['-', [{ get_param: a }, { get_param: b }]] } } }
outputs:
  v: { value: { get_attr: [v, value] } }
`;
    const stack = await startStackCreate(svc, {
      name: 'patch',
      template,
      parameters: { a: 'one' },
    });
    await waitForState(rt, stack.id, ['CREATE_COMPLETE']);
    await startStackUpdate(svc, stack.id, { parameters: { b: 'two' }, existingParameters: true });
    const done = await waitForState(rt, stack.id, ['UPDATE_COMPLETE']);
    expect((await stackOutputs(svc, done!)).v).toEqual({ value: 'one-two' });
    // A value the parameter's type refuses: typed error, nothing changes.
    const err = await startStackUpdate(svc, stack.id, { template, parameters: {} }).catch((e) => e);
    expect(err.code).toBe('BAD_USER_INPUT');
    expect(`${(await waitForState(rt, stack.id, ['UPDATE_COMPLETE']))?.action}`).toBe('UPDATE');
    await startStackDelete(svc, stack.id);
    await waitForState(rt, stack.id, ['GONE']);
  }, 60_000);

  it('deletion_policy Retain forgets the resource without deleting it', async () => {
    const rt = s.stratus.runtime;
    // Deleting this resource would take ten minutes; Retain never calls delete.
    const stack = await startStackCreate(svc, {
      name: 'retain',
      template: `
heat_template_version: 2018-08-31
resources:
  kept:
    type: OS::Heat::TestResource
    deletion_policy: Retain
    properties: { action_wait_secs: { delete: 600 } }
  plain: { type: OS::Heat::Value, properties: { value: 1 } }
`,
    });
    await waitForState(rt, stack.id, ['CREATE_COMPLETE']);
    await startStackDelete(svc, stack.id);
    await waitForState(rt, stack.id, ['GONE'], 30_000);
  }, 60_000);
});
