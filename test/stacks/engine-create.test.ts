import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceContext } from '../../resolvers/runtime';
import {
  stackOutputs,
  startStackCreate,
  startStackDelete,
} from '../../resolvers/stacks/engine/index';
import { startTestStratus, type TestStratus } from '../support/harness';
import { at, eventsOf, memberContext, resourcesOf, waitForState } from './engine-support';

const TEMPLATE = `
heat_template_version: 2018-08-31
parameters:
  greeting: { type: string, default: hello }
resources:
  secret:
    type: OS::Heat::RandomString
    properties: { length: 12, character_classes: [{ class: digits, min: 2 }] }
  first:
    type: OS::Heat::Value
    properties: { value: { get_param: greeting } }
  slow_a:
    type: OS::Heat::TestResource
    properties: { value: a, wait_secs: 1 }
  slow_b:
    type: OS::Heat::TestResource
    properties: { value: b, wait_secs: 1 }
  joined:
    type: OS::Heat::Value
    properties:
      value:
        list_join: ['-', [{ get_attr: [first, value] }, { get_attr: [slow_a, output] }, { get_attr: [slow_b, output] }]]
  nothing:
    type: OS::Heat::None
    properties: { anything: [1, 2], goes: here }
    depends_on: joined
outputs:
  joined: { value: { get_attr: [joined, value] } }
  secret: { value: { get_attr: [secret, value] } }
  first_id: { value: { get_resource: first } }
`;

describe('stacks engine: create, outputs and delete', () => {
  let s: TestStratus;
  let svc: ServiceContext;

  beforeAll(async () => {
    s = await startTestStratus();
    ({ svc } = await memberContext(s));
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('creates in dependency order, runs independent resources in parallel, evaluates outputs, deletes everything', async () => {
    const rt = s.stratus.runtime;
    const created = await startStackCreate(svc, { name: 'web', template: TEMPLATE });
    expect(`${created.action}_${created.status}`).toBe('CREATE_IN_PROGRESS');
    const done = await waitForState(rt, created.id, ['CREATE_COMPLETE', 'CREATE_FAILED']);
    expect(done?.statusReason).toBe('Stack CREATE completed successfully');
    expect(`${done?.action}_${done?.status}`).toBe('CREATE_COMPLETE');

    const events = await eventsOf(rt, created.id);
    // Order: joined only after what it reads; nothing after joined (depends_on).
    for (const dep of ['first', 'slow_a', 'slow_b'])
      expect(at(events, dep, 'CREATE_COMPLETE')).toBeLessThan(
        at(events, 'joined', 'CREATE_IN_PROGRESS'),
      );
    expect(at(events, 'joined', 'CREATE_COMPLETE')).toBeLessThan(
      at(events, 'nothing', 'CREATE_IN_PROGRESS'),
    );
    // Parallel: each waiting resource started before the other finished.
    expect(at(events, 'slow_a', 'CREATE_IN_PROGRESS')).toBeLessThan(
      at(events, 'slow_b', 'CREATE_COMPLETE'),
    );
    expect(at(events, 'slow_b', 'CREATE_IN_PROGRESS')).toBeLessThan(
      at(events, 'slow_a', 'CREATE_COMPLETE'),
    );
    expect(events[0]).toMatchObject({ resource: 'web', state: 'CREATE_IN_PROGRESS' });
    expect(events.at(-1)).toMatchObject({ resource: 'web', state: 'CREATE_COMPLETE' });

    const rows = await resourcesOf(rt, created.id);
    expect(rows).toHaveLength(6);
    for (const r of rows) expect(`${r.action}_${r.status}`).toBe('CREATE_COMPLETE');
    expect(rows.find((r) => r.name === 'first')?.physicalName).toMatch(/^web-first-[0-9a-f]{12}$/);

    const outputs = await stackOutputs(svc, done!);
    expect(outputs.joined).toEqual({ value: 'hello-a-b' });
    const secret = (outputs.secret as { value: string }).value;
    expect(secret).toMatch(/^[A-Za-z0-9]{12}$/);
    expect(secret.replace(/\D/g, '').length).toBeGreaterThanOrEqual(2);
    // Stable: read again, same value (kept in the resource's data).
    expect((await stackOutputs(svc, done!)).secret).toEqual({ value: secret });
    expect(outputs.first_id).toEqual({ value: rows.find((r) => r.name === 'first')?.physicalId });
    // The secret never appears in the events.
    expect(JSON.stringify(events)).not.toContain(secret);

    const deleting = await startStackDelete(svc, created.id);
    expect(`${deleting.action}_${deleting.status}`).toBe('DELETE_IN_PROGRESS');
    await waitForState(rt, created.id, ['GONE']);
    expect(await resourcesOf(rt, created.id)).toHaveLength(0);
    expect(await eventsOf(rt, created.id)).toHaveLength(0);
    // The published events tell the whole story, the final DELETE_COMPLETE included.
    const { rows: published } = await rt.pool.query(
      `select kind, payload->>'resourceName' as name from events where resource_type = 'stack' and resource_id = $1 order by id`,
      [created.id],
    );
    expect(published.at(-1)).toEqual({ kind: 'STACK_DELETE_COMPLETE', name: 'web' });
    expect(published.map((p) => p.kind)).toContain('STACK_RESOURCE_DELETE_COMPLETE');
    // Delete order: joined (which reads first) is gone before first is deleted.
    const kinds = published.map((p) => `${p.kind}:${p.name}`);
    expect(kinds.indexOf('STACK_RESOURCE_DELETE_COMPLETE:joined')).toBeLessThan(
      kinds.indexOf('STACK_RESOURCE_DELETE_IN_PROGRESS:first'),
    );
  }, 60_000);
});
