import { decodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../db/connection';
import { reserveQuota } from '../../resolvers/quotas';
import { DEFAULT_QUOTAS } from '../../server/config';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';

let s: TestStratus;
let seed: Seed;
beforeAll(async () => {
  s = await startTestStratus();
  seed = new Seed(s);
});
afterAll(() => s?.stop());

const START = `mutation($input: StartTestOperationInput!) {
  startTestOperation(input: $input) {
    __typename
    ... on StartTestOperationSuccess { operation { id status stages { name status } } }
    ... on Error { message }
    ... on InvalidInputError { field }
  }
}`;
const WATCH = `subscription($id: ID!) { operation(id: $id) { status progressPercent stages { name status } error { code message } result } }`;

describe('operations', () => {
  it('a mutation returns at once with a PENDING operation, streamed stage by stage to SUCCEEDED', async () => {
    const m = await seed.member('member');
    const started = await s.ok(START, { input: { stages: 3, stageMillis: 150 } }, m.token);
    const op = started.startTestOperation.operation;
    expect(op.status).toBe('PENDING');
    expect(op.stages.map((st: { name: string }) => st.name)).toEqual([
      'stage-1',
      'stage-2',
      'stage-3',
    ]);
    const sub = s.subscribe(WATCH, { id: op.id }, m.token);
    await sub.ended;
    const states = sub.values.map((v) => v.data.operation);
    const last = states[states.length - 1];
    expect(last.status).toBe('SUCCEEDED');
    expect(last.progressPercent).toBe(100);
    expect(last.result).toEqual({ stagesCompleted: 3 });
    expect(last.stages.every((st: { status: string }) => st.status === 'DONE')).toBe(true);
    // Progress only goes up along the stream.
    const progress = states.map((st) => st.progressPercent);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
  });

  it("another project's operation cannot be watched: BAD_USER_INPUT, not an internal error", async () => {
    const m = await seed.member('member');
    const started = await s.ok(START, { input: { stages: 1, stageMillis: 0 } }, m.token);
    const other = await seed.member('member');
    const sub = s.subscribe(WATCH, { id: started.startTestOperation.operation.id }, other.token);
    await sub.ended;
    expect(sub.values).toHaveLength(1);
    expect(sub.values[0].data).toBeUndefined();
    expect(sub.values[0].errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('a failing stage ends the operation FAILED with a typed error', async () => {
    const m = await seed.member('member');
    const started = await s.ok(
      START,
      { input: { stages: 3, stageMillis: 50, failAtStage: 1 } },
      m.token,
    );
    const sub = s.subscribe(WATCH, { id: started.startTestOperation.operation.id }, m.token);
    await sub.ended;
    const last = sub.values[sub.values.length - 1].data.operation;
    expect(last.status).toBe('FAILED');
    expect(last.error).toEqual({ code: 'TEST_FAILURE', message: 'Stage 2 failed as requested' });
    expect(last.stages.map((st: { status: string }) => st.status)).toEqual([
      'DONE',
      'FAILED',
      'PENDING',
    ]);
  });

  it('another project cannot read or watch the operation', async () => {
    const m = await seed.member('member');
    const other = await seed.member('reader');
    const started = await s.ok(START, { input: { stages: 1, stageMillis: 0 } }, m.token);
    const id = started.startTestOperation.operation.id;
    const read = await s.ok(`query($id: ID!) { node(id: $id) { id } }`, { id }, other.token);
    expect(read.node).toBeNull();
    const list = await s.ok(`{ operations { totalCount } }`, {}, other.token);
    expect(list.operations.totalCount).toBe(0);
  });

  it('bad input names the field and starts nothing', async () => {
    const m = await seed.member('member');
    const res = await s.ok(
      START,
      { input: { stages: 2, stageMillis: 0, failAtStage: 5 } },
      m.token,
    );
    expect(res.startTestOperation).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.failAtStage',
    });
    const list = await s.ok(`{ operations { totalCount } }`, {}, m.token);
    expect(list.operations.totalCount).toBe(0);
  });
});

describe('quotas', () => {
  it('concurrent reservations never exceed the limit', async () => {
    const projectGid = await seed.project();
    const projectId = decodeGlobalID(projectGid).id;
    const set = await s.ok(
      `mutation($input: SetProjectQuotaInput!) { setProjectQuota(input: $input) { __typename ... on SetProjectQuotaSuccess { quota { resource limit } } } }`,
      { input: { projectId: projectGid, limits: [{ resource: 'instances', limit: 5 }] } },
      s.adminToken,
    );
    expect(set.setProjectQuota.__typename).toBe('SetProjectQuotaSuccess');
    const { db, pool } = connect(s.databaseUrl, 25);
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, () =>
          db.transaction((tx) => reserveQuota(tx, DEFAULT_QUOTAS, projectId, { instances: 1 })),
        ),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
      const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(rejected.every((o) => o.reason.code === 'QUOTA_EXCEEDED')).toBe(true);
    } finally {
      await pool.end();
    }
    const quota = await s.ok(
      `query($p: ID!) { projectQuota(projectId: $p) { resource limit inUse isDefault } }`,
      { p: projectGid },
      s.adminToken,
    );
    expect(
      quota.projectQuota.find((q: { resource: string }) => q.resource === 'instances'),
    ).toEqual({ resource: 'instances', limit: 5, inUse: 5, isDefault: false });
  });

  it('an unknown quota resource is refused naming it', async () => {
    const projectGid = await seed.project();
    const res = await s.ok(
      `mutation($input: SetProjectQuotaInput!) { setProjectQuota(input: $input) { __typename ... on InvalidInputError { field message } } }`,
      { input: { projectId: projectGid, limits: [{ resource: 'unicorns', limit: 1 }] } },
      s.adminToken,
    );
    expect(res.setProjectQuota.__typename).toBe('InvalidInputError');
    expect(res.setProjectQuota.field).toBe('input.limits.0.resource');
  });

  it('a member reads the quota of their own project but not of another', async () => {
    const m = await seed.member('member');
    const other = await seed.project();
    const own = await s.ok(
      `query($p: ID!) { projectQuota(projectId: $p) { resource } }`,
      { p: m.projectId },
      m.token,
    );
    expect(own.projectQuota.length).toBeGreaterThan(0);
    const foreign = await s.ok(
      `query($p: ID!) { projectQuota(projectId: $p) { resource } }`,
      { p: other },
      m.token,
    );
    expect(foreign.projectQuota).toBeNull();
  });
});
