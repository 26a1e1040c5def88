import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  stackOutputs,
  startStackCreate,
  startStackDelete,
} from '../../resolvers/stacks/engine/index';
import {
  createTestDatabase,
  dropTestDatabase,
  startTestStratus,
  type TestStratus,
} from '../support/harness';
import { at, eventsOf, memberContext, resourcesOf, waitForState } from './engine-support';

const TEMPLATE = `
heat_template_version: 2018-08-31
resources:
  slow: { type: OS::Heat::TestResource, properties: { value: done, wait_secs: 3 } }
  fresh: { type: OS::Heat::TestResource, properties: { value: again, wait_secs: 3 } }
  after:
    type: OS::Heat::Value
    properties: { value: { list_join: ['+', [{ get_attr: [slow, output] }, { get_attr: [fresh, output] }]] } }
outputs:
  after: { value: { get_attr: [after, value] } }
`;

describe('stacks engine: a restart mid-create resumes', () => {
  const running: TestStratus[] = [];
  let databaseUrl = '';
  afterAll(async () => {
    for (const s of running) await s.stop().catch(() => {});
    if (databaseUrl) await dropTestDatabase(databaseUrl);
  });

  it('stops Stratus while resources wait, loses their queued jobs, and a new Stratus completes the stack', async () => {
    databaseUrl = await createTestDatabase();
    const first = await startTestStratus({}, databaseUrl);
    running.push(first);
    const { svc, user } = await memberContext(first);
    const stack = await startStackCreate(svc, { name: 'survivor', template: TEMPLATE });
    // Wait until both waiting resources are created and being polled.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const rows = await resourcesOf(first.stratus.runtime, stack.id);
      const waiting = rows.filter((r) => r.status === 'IN_PROGRESS' && r.physicalId !== null);
      if (waiting.length === 2) break;
      if (Date.now() > deadline) throw new Error(JSON.stringify(rows));
      await new Promise((r) => setTimeout(r, 50));
    }
    await first.stop();
    running.pop();

    // As if the process had died: the poll jobs are lost, and `fresh` never got its physical
    // resource recorded (so it must be created again).
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(
      `select graphile_worker.complete_jobs(array(select id from graphile_worker.jobs where task_identifier = 'stack_resource'))`,
    );
    await client.query(
      `update stack_resources set physical_id = null where stack_id = $1 and name = 'fresh'`,
      [stack.id],
    );
    const { rows: left } = await client.query(
      `select count(*)::int as n from graphile_worker.jobs where task_identifier = 'stack_resource'`,
    );
    await client.end();
    expect(left[0].n).toBe(0);

    const second = await startTestStratus({}, databaseUrl);
    running.push(second);
    const rt = second.stratus.runtime;
    const done = await waitForState(rt, stack.id, ['CREATE_COMPLETE', 'CREATE_FAILED']);
    expect(`${done?.action}_${done?.status}`).toBe('CREATE_COMPLETE');
    const events = await eventsOf(rt, stack.id);
    const resumed = events.find((e) => e.reason === 'Stratus restarted: resuming CREATE');
    expect(resumed?.resource).toBe('survivor');
    // `after` ran only after the restart, once both were done.
    expect(at(events, 'after', 'CREATE_IN_PROGRESS')).toBeGreaterThan(events.indexOf(resumed!));
    const { ownerContext } = await import('../../resolvers/stacks/engine/owner');
    const svc2 = await ownerContext(
      rt,
      { userId: done!.ownerUserId, projectId: done!.projectId },
      second.url,
    );
    expect((await stackOutputs(svc2, done!)).after).toEqual({ value: 'done+again' });
    expect(user.userName).toBeTruthy();
    await startStackDelete(svc2, stack.id);
    await waitForState(rt, stack.id, ['GONE']);
  }, 120_000);
});
