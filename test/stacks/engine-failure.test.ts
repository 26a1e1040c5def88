import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackEvents, stackResources, stacks } from '../../db/stacks';
import type { ServiceContext } from '../../resolvers/runtime';
import { planStack, startStackCreate, startStackDelete } from '../../resolvers/stacks/engine/index';
import { startTestStratus, type TestStratus } from '../support/harness';
import { at, eventsOf, memberContext, resourcesOf, waitForState } from './engine-support';

const failing = (fail: boolean) => `
heat_template_version: 2018-08-31
resources:
  ok_one: { type: OS::Heat::TestResource, properties: { value: one } }
  ok_two:
    type: OS::Heat::TestResource
    properties: { value: { get_attr: [ok_one, output] } }
  broken:
    type: OS::Heat::TestResource
    properties: { fail: ${fail}, value: { get_attr: [ok_two, output] } }
  after_broken:
    type: OS::Heat::Value
    properties: { value: { get_resource: broken } }
`;

describe('stacks engine: failures, rollback and bad input', () => {
  let s: TestStratus;
  let svc: ServiceContext;
  let projectId: string;

  beforeAll(async () => {
    s = await startTestStratus();
    ({ svc, projectId } = await memberContext(s));
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
  });

  const stackCount = async () =>
    (
      await s.stratus.runtime.db
        .select({ n: count() })
        .from(stacks)
        .where(eq(stacks.projectId, projectId))
    )[0].n;

  it('a failing resource fails the create, then rollback deletes everything', async () => {
    const rt = s.stratus.runtime;
    const stack = await startStackCreate(svc, { name: 'rolls-back', template: failing(true) });
    const done = await waitForState(rt, stack.id, ['ROLLBACK_COMPLETE', 'ROLLBACK_FAILED']);
    expect(`${done?.action}_${done?.status}`).toBe('ROLLBACK_COMPLETE');
    const events = await eventsOf(rt, stack.id);
    const failed = events.find((e) => e.resource === 'broken' && e.state === 'CREATE_FAILED');
    expect(failed?.reason).toBe('Resource CREATE failed: Test Resource failed broken');
    const stackFailed = at(events, 'rolls-back', 'CREATE_FAILED');
    expect(stackFailed).toBeGreaterThan(-1);
    expect(events[stackFailed].reason).toContain('Test Resource failed broken');
    expect(at(events, 'rolls-back', 'ROLLBACK_IN_PROGRESS')).toBeGreaterThan(stackFailed);
    // Never started: it needed the failed one.
    expect(at(events, 'after_broken', 'CREATE_IN_PROGRESS')).toBe(-1);
    // Reverse order: ok_two (which reads ok_one) is deleted before ok_one.
    expect(at(events, 'ok_two', 'DELETE_COMPLETE')).toBeLessThan(
      at(events, 'ok_one', 'DELETE_IN_PROGRESS'),
    );
    expect(await resourcesOf(rt, stack.id)).toHaveLength(0);
    await startStackDelete(svc, stack.id);
    await waitForState(rt, stack.id, ['GONE']);
  }, 60_000);

  it('disableRollback keeps what was created, and a later delete removes it', async () => {
    const rt = s.stratus.runtime;
    const stack = await startStackCreate(svc, {
      name: 'keeps',
      template: failing(true),
      disableRollback: true,
    });
    await waitForState(rt, stack.id, ['CREATE_FAILED']);
    // Give any straggling step time to run: nothing may start after the failure.
    const rows = await resourcesOf(rt, stack.id);
    const states = Object.fromEntries(rows.map((r) => [r.name, `${r.action}_${r.status}`]));
    expect(states).toEqual({
      ok_one: 'CREATE_COMPLETE',
      ok_two: 'CREATE_COMPLETE',
      broken: 'CREATE_FAILED',
      after_broken: 'INIT_COMPLETE',
    });
    await startStackDelete(svc, stack.id);
    await waitForState(rt, stack.id, ['GONE']);
    expect(await resourcesOf(rt, stack.id)).toHaveLength(0);
  }, 60_000);

  it('a timeout fails the stack "Timed out" and rolls back', async () => {
    const rt = s.stratus.runtime;
    const stack = await startStackCreate(svc, {
      name: 'too-slow',
      timeoutMinutes: 1,
      template: `
heat_template_version: 2018-08-31
resources:
  slow:
    type: OS::Heat::TestResource
    properties: { action_wait_secs: { create: 600, delete: 0 } }
`,
    });
    await waitForState(rt, stack.id, ['CREATE_IN_PROGRESS']);
    // Pretend the action started two minutes ago (no waiting a real minute in a test).
    await rt.db
      .update(stacks)
      .set({ updatedAt: new Date(Date.now() - 120_000) })
      .where(eq(stacks.id, stack.id));
    const done = await waitForState(rt, stack.id, ['ROLLBACK_COMPLETE', 'ROLLBACK_FAILED']);
    expect(done?.status).toBe('COMPLETE');
    const events = await eventsOf(rt, stack.id);
    expect(events.find((e) => e.state === 'CREATE_FAILED')?.reason).toBe('Timed out');
    expect(await resourcesOf(rt, stack.id)).toHaveLength(0);
    await startStackDelete(svc, stack.id);
    await waitForState(rt, stack.id, ['GONE']);
  }, 60_000);

  it('bad templates are typed errors naming the path, and write nothing', async () => {
    const rt = s.stratus.runtime;
    const jobs = async () =>
      (
        await rt.pool.query(
          `select count(*)::int as n from graphile_worker.jobs where task_identifier = 'stack_resource'`,
        )
      ).rows[0].n;
    const counts = async () => [
      await stackCount(),
      await jobs(),
      (await rt.db.select({ n: count() }).from(stackResources))[0].n,
      (await rt.db.select({ n: count() }).from(stackEvents))[0].n,
    ];
    const before = await counts();
    const bad: Array<[string, string, Record<string, unknown>?]> = [
      [
        'resources.a.type',
        `heat_template_version: 2018-08-31
resources:
  a: { type: OS::No::Such }`,
      ],
      [
        'resources.a',
        `heat_template_version: 2018-08-31
resources:
  a: { type: OS::Heat::Value, properties: { value: { get_attr: [b, value] } } }
  b: { type: OS::Heat::Value, properties: { value: { get_attr: [a, value] } } }`,
      ],
      [
        'parameters.size',
        `heat_template_version: 2018-08-31
parameters:
  size: { type: number, constraints: [{ range: { min: 1, max: 5 } }] }
resources:
  a: { type: OS::Heat::Value, properties: { value: { get_param: size } } }`,
        { size: 9 },
      ],
      [
        'resources.a.properties.wait_secs',
        `heat_template_version: 2018-08-31
resources:
  a: { type: OS::Heat::TestResource, properties: { wait_secs: soon } }`,
      ],
      [
        // The template layer names the properties map for a missing required one.
        'resources.a.properties',
        `heat_template_version: 2018-08-31
resources:
  a: { type: OS::Heat::Value }`,
      ],
      [
        'resources.a.properties.length',
        `heat_template_version: 2018-08-31
resources:
  a: { type: OS::Heat::RandomString, properties: { length: 2, character_classes: [{ class: digits, min: 3 }] } }`,
      ],
    ];
    for (const [path, template, parameters] of bad) {
      const err = await startStackCreate(svc, { name: 'bad', template, parameters }).then(
        () => null,
        (e: unknown) => e as { code: string; message: string; field?: string; path?: string },
      );
      expect(err, path).not.toBeNull();
      expect(err?.code, path).toBe('BAD_USER_INPUT');
      expect(err?.field ?? err?.path, err?.message).toBe(path);
      const planned = await planStack(svc, { name: 'bad', template, parameters });
      expect(planned.errors[0]?.path, JSON.stringify(planned.errors)).toBe(path);
    }
    const badName = await startStackCreate(svc, {
      name: '9lives',
      template: 'heat_template_version: 2018-08-31',
    }).catch((e) => e);
    expect(badName.field).toBe('input.name');
    expect(await counts()).toEqual(before);
  }, 60_000);

  it('a duplicate name in the project is a typed conflict', async () => {
    const rt = s.stratus.runtime;
    const template = `heat_template_version: 2018-08-31
resources:
  v: { type: OS::Heat::Value, properties: { value: 1 } }`;
    const first = await startStackCreate(svc, { name: 'twice', template });
    const err = await startStackCreate(svc, { name: 'twice', template }).catch((e) => e);
    expect(err.code).toBe('NAME_TAKEN');
    expect(err.field).toBe('input.name');
    await waitForState(rt, first.id, ['CREATE_COMPLETE']);
    await startStackDelete(svc, first.id);
    await waitForState(rt, first.id, ['GONE']);
  }, 60_000);
});
