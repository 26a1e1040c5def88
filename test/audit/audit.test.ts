import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneAuditEvents } from '../../resolvers/audit/audit';
import { raw } from '../metering/alarm-support';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';

/**
 * The audit log through the API: every published event is a record with who, request id and
 * result; refused mutations get a record of their own; operation jobs act as their initiator;
 * members see their project's records, admins all; retention prunes old ones.
 */

let s: TestStratus;
let member: SeededUser;
let other: SeededUser;

beforeAll(async () => {
  s = await startTestStratus({
    // The pollers' own samples (from the database) would mix with the test's.
    metering: { intervalMs: 0 },
    alarms: {
      evaluationIntervalMs: 3_600_000,
      webhookAllow: [],
      webhookMaxAttempts: 2,
      webhookTimeoutMs: 2_000,
    },
  });
  const seed = new Seed(s);
  member = await seed.member('member');
  other = await seed.member('member');
}, 60_000);

afterAll(async () => {
  await s?.stop();
});

/** POSTs a mutation and returns its data with the response's request id. */
async function mutate(query: string, variables: Record<string, unknown>, token: string | null) {
  const res = await fetch(`${s.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data: Json; errors?: unknown };
  expect(body.errors).toBeUndefined();
  return { data: body.data, requestId: res.headers.get('x-request-id') as string };
}

const RECORD =
  'kind resourceType resourceId userId user { id } requestId operation result eventCursor project { id }';

async function audit(filter: Record<string, unknown>, token: string | null): Promise<Json[]> {
  const data = await s.ok(
    `query($f: AuditEventFilter) { auditEvents(filter: $f, first: 100) { totalCount edges { node { ${RECORD} } } } }`,
    { f: filter },
    token,
  );
  return data.auditEvents.edges.map((e: Json) => e.node);
}

const CREATE_ALARM = `mutation($input: CreateAlarmInput!) { createAlarm(input: $input) {
  __typename ... on CreateAlarmSuccess { created { alarm { id } } } ... on Error { code } } }`;

const alarmInput = (projectId: string, extra: Record<string, unknown> = {}) => ({
  name: 'audited',
  meter: 'project.vcpus',
  resourceType: 'project',
  resourceIds: [raw(projectId)],
  comparison: 'GT',
  threshold: 1,
  aggregation: 'MEAN',
  granularity: 10,
  ...extra,
});

describe('audit log', () => {
  it('records a mutation’s event with the user, the request id and the result', async () => {
    const { data, requestId } = await mutate(
      CREATE_ALARM,
      { input: alarmInput(member.projectId) },
      member.token,
    );
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const alarmId = raw(data.createAlarm.created.alarm.id);
    const records = await audit({ resourceType: 'Alarm', resourceId: alarmId }, member.token);
    expect(records).toEqual([
      {
        kind: 'ALARM_CREATED',
        resourceType: 'Alarm',
        resourceId: alarmId,
        userId: raw(member.userId),
        user: { id: member.userId },
        requestId,
        operation: 'createAlarm',
        result: 'CreateAlarmSuccess',
        eventCursor: expect.stringMatching(/^\d+$/),
        project: { id: member.projectId },
      },
    ]);
    // Filters narrow; another project sees nothing of it; the admin sees it.
    expect(await audit({ requestId, kind: 'ALARM_DELETED' }, member.token)).toEqual([]);
    expect(await audit({ requestId }, other.token)).toEqual([]);
    expect((await audit({ requestId }, s.adminToken)).map((r) => r.kind)).toEqual([
      'ALARM_CREATED',
    ]);
    expect((await audit({ userId: raw(member.userId) }, member.token)).length).toBeGreaterThan(0);
  });

  it('records a refused mutation with its error code, nothing else', async () => {
    const { data, requestId } = await mutate(
      CREATE_ALARM,
      { input: alarmInput(member.projectId, { granularity: 7 }) },
      member.token,
    );
    expect(data.createAlarm.code).toBe('BAD_USER_INPUT');
    const records = await audit({ requestId }, member.token);
    expect(records).toMatchObject([
      {
        kind: 'MUTATION',
        resourceType: 'Mutation',
        resourceId: 'createAlarm',
        userId: raw(member.userId),
        operation: 'createAlarm',
        result: 'BAD_USER_INPUT',
        eventCursor: null,
      },
    ]);
    const foreign = await mutate(
      CREATE_ALARM,
      { input: alarmInput(member.projectId) },
      other.token,
    );
    expect(foreign.data.createAlarm.code).toBe('NOT_FOUND');
    expect((await audit({ requestId: foreign.requestId }, other.token))[0].result).toBe(
      'NOT_FOUND',
    );
  });

  it('records the events of an operation job as its initiator’s, without a request id', async () => {
    const { data, requestId } = await mutate(
      `mutation { startTestOperation(input: { stages: 2, stageMillis: 10 }) {
        __typename ... on StartTestOperationSuccess { operation { id } } } }`,
      {},
      member.token,
    );
    const operationId = raw(data.startTestOperation.operation.id);
    const deadline = Date.now() + 20_000;
    let records: Json[] = [];
    while (Date.now() < deadline) {
      records = await audit({ resourceType: 'Operation', resourceId: operationId }, member.token);
      if (records.length >= 3) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const fromRequest = records.filter((r) => r.requestId === requestId);
    const fromJob = records.filter((r) => r.requestId === null);
    expect(fromRequest).toHaveLength(1);
    expect(fromRequest[0].result).toBe('StartTestOperationSuccess');
    expect(fromJob.length).toBeGreaterThan(0);
    for (const r of fromJob) {
      expect(r.userId).toBe(raw(member.userId));
      expect(r.operation).toBe('test.stages');
    }
  });

  it('prunes records past the retention', async () => {
    const db = s.stratus.runtime.db;
    await db.execute(
      sql`insert into audit_events (kind, resource_type, resource_id, user_id, created_at)
          values ('OLD', 'Thing', 'x', 'system', now() - interval '100 days')`,
    );
    expect((await audit({ kind: 'OLD' }, s.adminToken)).length).toBe(1);
    expect(await pruneAuditEvents(db, 90)).toBeGreaterThanOrEqual(1);
    expect(await audit({ kind: 'OLD' }, s.adminToken)).toEqual([]);
    expect((await audit({}, s.adminToken)).length).toBeGreaterThan(0);
  });
});
