import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../db/connection';
import { pruneEvents } from '../../resolvers/events';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';

let a: TestStratus;
let b: TestStratus;
let seed: Seed;
beforeAll(async () => {
  a = await startTestStratus();
  // A second Stratus process on the same database, as a second gateway replica would be.
  b = await startTestStratus({}, a.databaseUrl);
  seed = new Seed(a);
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

const IDENTITY = `subscription($after: String) { identityChanged(after: $after) { cursor kind payload } }`;

async function live(sub: ReturnType<TestStratus['subscribe']>) {
  // Publish until the first event arrives, so the subscription is known to be listening.
  for (let i = 0; sub.values.length === 0 && i < 50; i++) {
    await seed.project(`warmup-${i}-${Math.random().toString(36).slice(2, 7)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(sub.values.length).toBeGreaterThan(0);
}

/** How a subscription was refused: graphql-ws reports it as an error or as a result with errors. */
async function failure(sub: ReturnType<TestStratus['subscribe']>): Promise<string> {
  const end = await sub.ended;
  return JSON.stringify(end.error ?? sub.values);
}

describe('events', () => {
  it('two Stratus processes on one database deliver each other’s events', async () => {
    const onB = b.subscribe(IDENTITY, {}, b.adminToken);
    await live(onB);
    const before = onB.values.length;
    await seed.project('made-on-a');
    const values = await onB.waitFor(before + 1);
    expect(values.map((v) => v.data.identityChanged.payload.name)).toContain('made-on-a');
    onB.close();
  });

  it('a client that drops, misses three changes and resumes from its cursor gets exactly those three, in order', async () => {
    const first = a.subscribe(IDENTITY, {}, a.adminToken);
    await live(first);
    const lastCursor = first.values[first.values.length - 1].data.identityChanged.cursor;
    first.close();
    for (const name of ['missed-1', 'missed-2', 'missed-3']) await seed.project(name);
    const resumed = b.subscribe(IDENTITY, { after: lastCursor }, b.adminToken);
    const values = await resumed.waitFor(3);
    await new Promise((r) => setTimeout(r, 300));
    expect(resumed.values.map((v) => v.data.identityChanged.payload.name)).toEqual([
      'missed-1',
      'missed-2',
      'missed-3',
    ]);
    const cursors = values.map((v) => Number(v.data.identityChanged.cursor));
    expect(cursors).toEqual([...cursors].sort((x, y) => x - y));
    // Live events follow the replay without a gap or a repeat.
    await seed.project('after-resume');
    const more = await resumed.waitFor(4);
    expect(more[3].data.identityChanged.payload.name).toBe('after-resume');
    resumed.close();
  });

  it('events of identity never reach a non-admin; project events reach only that project', async () => {
    const member = await seed.member('member');
    const other = await seed.member('member');
    const denied = a.subscribe(IDENTITY, {}, member.token);
    expect(await failure(denied)).toContain('FORBIDDEN');

    const mine = a.subscribe(`subscription { events { kind projectId } }`, {}, member.token);
    const theirs = a.subscribe(`subscription { events { kind projectId } }`, {}, other.token);
    await new Promise((r) => setTimeout(r, 500));
    const started = await a.ok(
      `mutation { startTestOperation(input: { stages: 1, stageMillis: 0 }) { __typename ... on StartTestOperationSuccess { operation { id } } } }`,
      {},
      member.token,
    );
    expect(started.startTestOperation.__typename).toBe('StartTestOperationSuccess');
    await mine.waitFor(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(mine.values.every((v) => v.data.events.kind === 'OPERATION_UPDATED')).toBe(true);
    expect(theirs.values).toEqual([]);
    mine.close();
    theirs.close();
  });

  it('a subscription document over the parser token cap is refused, as over HTTP', async () => {
    const huge = `subscription { events { ${'kind '.repeat(10_001)}} }`;
    const sub = a.subscribe(huge, {}, a.adminToken);
    expect(await failure(sub)).toContain('10000 tokens');
  });

  it('an unknown field in a subscription is a validation error naming it', async () => {
    const sub = a.subscribe(`subscription { events { nope } }`, {}, a.adminToken);
    const failed = await failure(sub);
    expect(failed).toContain('GRAPHQL_VALIDATION_FAILED');
    expect(failed).toContain('nope');
  });

  it('a malformed cursor is refused naming it', async () => {
    const sub = a.subscribe(IDENTITY, { after: 'yesterday' }, a.adminToken);
    expect(await failure(sub)).toContain('after must be an event cursor');
  });
});

describe('event retention', () => {
  it('prunes events older than the retention and keeps newer ones', async () => {
    const conn = connect(a.databaseUrl, 2);
    try {
      await conn.pool.query(
        `update events set created_at = now() - interval '2 hours' where id = (select min(id) from events)`,
      );
      const before = Number((await conn.pool.query('select count(*) from events')).rows[0].count);
      expect(await pruneEvents(conn.db, 3600)).toBe(1);
      const after = Number((await conn.pool.query('select count(*) from events')).rows[0].count);
      expect(after).toBe(before - 1);
    } finally {
      await conn.pool.end();
    }
  });
});
