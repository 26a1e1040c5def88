import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { createStack, settled, stackCounts, stackMutation, waitForStack } from './api-support';

/**
 * A failing resource as the API shows it: CREATE_FAILED with the resource's reason (rollback
 * disabled), or rolled back with nothing left; the events and subscription tell the story.
 */

let s: TestStratus;
let token: string;
let member: SeededUser;

beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
  token = member.token!;
});
afterAll(() => s?.stop());

const TEMPLATE = `heat_template_version: 2018-08-31
resources:
  good:
    type: OS::Heat::Value
    properties: {value: fine}
  bad:
    type: OS::Heat::TestResource
    depends_on: good
    properties: {fail: true}
`;

const VIEW = `status statusReason
  resources { edges { node { name status statusReason } } }
  events { edges { node { resourceName status statusReason } } }`;

describe('a failing resource', () => {
  it('with rollback disabled: CREATE_FAILED naming the resource; the good one stays', async () => {
    const created = await createStack(s, token, {
      name: 'fails',
      template: TEMPLATE,
      disableRollback: true,
    });
    expect(created.stack).toMatchObject({ status: 'CREATE_IN_PROGRESS', disableRollback: true });
    const id = created.stack.id;
    const sub = s.subscribe('subscription($id: ID!) { stack(id: $id) { status } }', { id }, token);
    try {
      const done = await waitForStack(s, token, id, settled, VIEW);
      expect(done.status).toBe('CREATE_FAILED');
      expect(done.statusReason).toContain('bad');
      const resources = Object.fromEntries(
        done.resources.edges.map((e: Json) => [e.node.name, e.node]),
      );
      expect(resources.good.status).toBe('CREATE_COMPLETE');
      expect(resources.bad.status).toBe('CREATE_FAILED');
      expect(resources.bad.statusReason).toContain('Test Resource failed');
      const events = done.events.edges.map((e: Json) => e.node);
      expect(events.at(-1)).toMatchObject({ resourceName: 'fails', status: 'CREATE_FAILED' });
      await sub.waitFor(2);
      const until = Date.now() + 10_000;
      while (sub.values.at(-1).data.stack.status !== 'CREATE_FAILED' && Date.now() < until)
        await sub.waitFor(sub.values.length + 1, 10_000);
      expect(sub.values.at(-1).data.stack.status).toBe('CREATE_FAILED');
    } finally {
      sub.close();
    }
    const deleted = await stackMutation(s, token, 'deleteStack', 'DeleteStackInput', { id });
    expect(deleted.__typename).toBe('DeleteStackSuccess');
    await waitForStack(s, token, id, (st) => st === null);
  });

  it('with rollback: the stack rolls back and what was made is removed', async () => {
    const created = await createStack(s, token, { name: 'rolls', template: TEMPLATE });
    const id = created.stack.id;
    const done = await waitForStack(s, token, id, settled, VIEW);
    expect(done.status).toBe('ROLLBACK_COMPLETE');
    const events = done.events.edges.map((e: Json) => [e.node.resourceName, e.node.status]);
    expect(events).toContainEqual(['good', 'DELETE_COMPLETE']);
    const live = done.resources.edges.map((e: Json) => e.node.status);
    expect(live.every((st: string) => st.startsWith('DELETE_') || st === 'INIT_COMPLETE')).toBe(
      true,
    );
    await stackMutation(s, token, 'deleteStack', 'DeleteStackInput', { id });
    await waitForStack(s, token, id, (st) => st === null);
    expect(await stackCounts(s)).toEqual({ stacks: 0, resources: 0, events: 0 });
  });

  it('an update while the stack is still being created is a ConflictError, writing nothing', async () => {
    const slow = `heat_template_version: 2018-08-31
resources:
  slow:
    type: OS::Heat::TestResource
    properties: {wait_secs: 4}
`;
    const created = await createStack(s, token, { name: 'busy', template: slow });
    const id = created.stack.id;
    const before = await stackCounts(s);
    const update = await stackMutation(s, token, 'updateStack', 'UpdateStackInput', {
      id,
      template: slow.replace('wait_secs: 4', 'wait_secs: 0'),
    });
    expect(update.__typename).toBe('ConflictError');
    expect(update.message).toContain('IN_PROGRESS');
    expect((await stackCounts(s)).resources).toBe(before.resources);
    const done = await waitForStack(s, token, id, settled);
    expect(done.status).toBe('CREATE_COMPLETE');
    await stackMutation(s, token, 'deleteStack', 'DeleteStackInput', { id });
    await waitForStack(s, token, id, (st) => st === null);
  });
});
