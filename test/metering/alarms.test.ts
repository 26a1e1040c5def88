import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSamples } from '../../resolvers/metering/store';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import {
  createAlarm,
  hmac,
  Receiver,
  raw,
  readAlarm,
  updateAlarm,
  waitForAlarm,
} from './alarm-support';

/**
 * Alarms end to end on the real server: samples written with the store at chosen times, the
 * evaluator in the worker, webhooks to a real HTTP receiver (allow-listed 127.0.0.1), the
 * alarm's subscription, bad input, disable/enable and tenant isolation.
 */

let s: TestStratus;
let member: SeededUser;
let other: SeededUser;
let reader: SeededUser;
let receiver: Receiver;
let hook: string;

beforeAll(async () => {
  s = await startTestStratus({
    // The pollers' own samples (from the database) would mix with the test's.
    metering: { intervalMs: 0 },
    alarms: {
      evaluationIntervalMs: 200,
      webhookAllow: ['127.0.0.1'],
      webhookMaxAttempts: 4,
      webhookTimeoutMs: 5_000,
    },
  });
  const seed = new Seed(s);
  member = await seed.member('member');
  reader = await seed.member('reader', member.projectId);
  other = await seed.member('member');
  receiver = new Receiver();
  hook = await receiver.start();
}, 60_000);

afterAll(async () => {
  await receiver?.stop();
  await s?.stop();
});

/** An alarm on the project's vCPU meter (a `project` resource needs nothing created). */
const projectAlarm = (projectId: string, extra: Record<string, unknown> = {}) => ({
  name: 'busy',
  meter: 'project.vcpus',
  resourceType: 'project',
  resourceIds: [raw(projectId)],
  comparison: 'GT',
  threshold: 50,
  aggregation: 'MEAN',
  granularity: 10,
  evaluationPeriods: 3,
  ...extra,
});

function samples(projectId: string, at: Date[], values: number[]) {
  return at.map((timestamp, i) => ({
    meter: 'project.vcpus',
    resourceType: 'project' as const,
    resourceId: raw(projectId),
    projectId: raw(projectId),
    timestamp,
    value: values[i] as number,
  }));
}

describe('alarms', () => {
  it('goes insufficient data → alarm → ok with the values, signed webhooks (one retried) and subscription events', async () => {
    const created = await createAlarm(
      s,
      member.token,
      projectAlarm(member.projectId, {
        actions: { alarm: [`${hook}/alarm`], ok: [`${hook}/ok`] },
      }),
    );
    expect(created.__typename).toBe('CreateAlarmSuccess');
    const { alarm, webhookSecret } = created.created;
    expect(alarm.state).toBe('INSUFFICIENT_DATA');
    expect(webhookSecret).toMatch(/^[0-9a-f]{64}$/);
    const sub = s.subscribe(
      `subscription($id: ID!) { alarm(id: $id) { id state stateReason } }`,
      { id: alarm.id },
      member.token,
    );
    await sub.waitFor(1);

    // Evaluated with no samples: stays in insufficient data, saying why.
    const unknown = await waitForAlarm(s, member.token, alarm.id, (a) => a.lastEvaluatedAt);
    expect(unknown.state).toBe('INSUFFICIENT_DATA');
    expect(unknown.stateReason).toBe('3 datapoints are unknown');

    // Three 10 s buckets above 50: alarm.
    const t0 = Date.now();
    const at = [new Date(t0 - 20_000), new Date(t0 - 10_000), new Date(t0)];
    await recordSamples(s.stratus.runtime.db, samples(member.projectId, at, [90, 91, 93.1]));
    const firing = await waitForAlarm(s, member.token, alarm.id, (a) => a.state === 'ALARM');
    expect(firing.stateReason).toBe(
      'Transition to alarm due to 3 samples outside threshold, most recent: 93.1',
    );
    const transition = firing.history.edges[0].node;
    expect(transition).toEqual({
      type: 'state transition',
      previousState: 'INSUFFICIENT_DATA',
      state: 'ALARM',
      reason: firing.stateReason,
      values: [90, 91, 93.1],
    });

    // The receiver got the signed POST.
    receiver.failFirst = 1; // the next delivery (ok) fails once and is retried
    const [delivery] = await receiver.waitFor((d) => d.some((x) => x.path === '/alarm'));
    expect(delivery.signature).toBe(hmac(webhookSecret, delivery.raw));
    expect(delivery.signature).not.toBe(hmac('another secret', delivery.raw));
    expect(delivery.body).toMatchObject({
      alarmId: raw(alarm.id),
      alarmName: 'busy',
      previousState: 'insufficient data',
      currentState: 'alarm',
      reason: firing.stateReason,
      values: [90, 91, 93.1],
    });
    expect(Number.isNaN(Date.parse(delivery.body.timestamp))).toBe(false);

    // Nine samples of 1 in each bucket bring the means to 9.9, 10 and 10.21: ok.
    const low = at.flatMap((t) => Array.from({ length: 9 }, () => t));
    await recordSamples(
      s.stratus.runtime.db,
      samples(
        member.projectId,
        low,
        low.map(() => 1),
      ),
    );
    const calm = await waitForAlarm(s, member.token, alarm.id, (a) => a.state === 'OK');
    expect(calm.stateReason).toBe(
      'Transition to ok due to 3 samples inside threshold, most recent: 10.21',
    );
    const back = calm.history.edges[0].node;
    expect(back.previousState).toBe('ALARM');
    expect(back.values.map((v: number) => Number(v.toFixed(6)))).toEqual([9.9, 10, 10.21]);

    // The ok webhook failed once (HTTP 500) and came on a later attempt, same body and signature.
    const all = await receiver.waitFor((d) => d.some((x) => x.path === '/ok'), 30_000);
    const ok = all.find((d) => d.path === '/ok') as (typeof all)[number];
    expect(receiver.attempts).toBe(3);
    expect(ok.body.currentState).toBe('ok');
    expect(ok.signature).toBe(hmac(webhookSecret, ok.raw));

    // The subscription saw the transitions in order.
    const states = (await sub.waitFor(3)).map((v: Json) => v.data.alarm.state);
    expect(states.filter((x: string, i: number) => x !== states[i - 1])).toEqual([
      'INSUFFICIENT_DATA',
      'ALARM',
      'OK',
    ]);
    sub.close();
  }, 90_000);

  it('judges an aggregate of several resources (mean across two networks)', async () => {
    const ids: string[] = [];
    for (const name of ['agg-a', 'agg-b']) {
      const data = await s.ok(
        `mutation($input: CreateNetworkInput!) { createNetwork(input: $input) {
          __typename ... on CreateNetworkSuccess { network { id } } } }`,
        { input: { name } },
        other.token,
      );
      ids.push(data.createNetwork.network.id);
    }
    const { created } = await createAlarm(s, other.token, {
      name: 'ports',
      meter: 'network.ports',
      resourceType: 'network',
      resourceIds: ids,
      comparison: 'GT',
      threshold: 5,
      aggregation: 'MEAN',
      granularity: 10,
      evaluationPeriods: 1,
    });
    expect(created.alarm.resourceIds).toEqual(ids.map(raw));
    const t = new Date();
    await recordSamples(
      s.stratus.runtime.db,
      ids.map((id, i) => ({
        meter: 'network.ports',
        resourceType: 'network' as const,
        resourceId: raw(id),
        projectId: raw(other.projectId),
        timestamp: t,
        value: [3, 8][i] as number,
      })),
    );
    const firing = await waitForAlarm(s, other.token, created.alarm.id, (a) => a.state === 'ALARM');
    expect(firing.history.edges[0].node.values).toEqual([5.5]);
    // The member of the first project cannot watch these networks.
    const foreign = await createAlarm(s, member.token, {
      name: 'x',
      meter: 'network.ports',
      resourceType: 'network',
      resourceIds: ids,
      comparison: 'GT',
      threshold: 5,
      aggregation: 'MEAN',
      granularity: 10,
    });
    expect(foreign.__typename).toBe('NotFoundError');
  });

  it('refuses bad input with typed errors naming the field, and writes nothing', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ meter: 'no.such.meter' }, 'InvalidInputError', 'input.meter'],
      [{ meter: 'cpu_util' }, 'InvalidInputError', 'input.meter'],
      [{ granularity: 7 }, 'InvalidInputError', 'input.granularity'],
      [{ evaluationPeriods: 0 }, 'InvalidInputError', 'input.evaluationPeriods'],
      [{ evaluationPeriods: 9000 }, 'InvalidInputError', 'input.evaluationPeriods'],
      [{ resourceIds: [] }, 'InvalidInputError', 'input.resourceIds'],
      [
        { actions: { alarm: ['ftp://example.com/x'] } },
        'InvalidInputError',
        'input.actions.alarm.0',
      ],
      [{ actions: { alarm: ['not a url'] } }, 'InvalidInputError', 'input.actions.alarm.0'],
      [
        { actions: { alarm: ['http://169.254.169.254/latest/meta-data'] } },
        'InvalidInputError',
        'input.actions.alarm.0',
      ],
      [
        { actions: { ok: [`${hook}/ok`, 'http://10.1.2.3/'] } },
        'InvalidInputError',
        'input.actions.ok.1',
      ],
      [
        { actions: { alarm: ['http://[::1]:8080/'] } },
        'InvalidInputError',
        'input.actions.alarm.0',
      ],
      [{ actions: { alarm: ['http://[fd00::1]/'] } }, 'InvalidInputError', 'input.actions.alarm.0'],
      [
        { actions: { alarm: ['http://localhost:9/'] } },
        'InvalidInputError',
        'input.actions.alarm.0',
      ],
      [{ resourceIds: [raw(other.projectId)] }, 'NotFoundError', ''],
      [{ resourceIds: ['not-an-id'] }, 'NotFoundError', ''],
    ];
    for (const [change, type, field] of cases) {
      const payload = await createAlarm(s, member.token, projectAlarm(member.projectId, change));
      expect(payload.__typename, JSON.stringify(change)).toBe(type);
      if (field) expect(payload.field, JSON.stringify(payload)).toBe(field);
    }
    // GraphQL typing refuses a missing or non-numeric threshold before anything runs.
    const { threshold: _t, ...noThreshold } = projectAlarm(member.projectId);
    const missing = await s.gql(
      'mutation($input: CreateAlarmInput!) { createAlarm(input: $input) { __typename } }',
      { input: noThreshold },
      member.token,
    );
    expect(missing.errors?.[0]?.message).toMatch(/threshold.*required|required.*threshold/i);
    const wrong = await s.gql(
      'mutation($input: CreateAlarmInput!) { createAlarm(input: $input) { __typename } }',
      { input: projectAlarm(member.projectId, { threshold: 'high' }) },
      member.token,
    );
    expect(wrong.errors?.[0]?.message).toMatch(/threshold/);
    expect(wrong.errors?.[0]?.message).toMatch(/Float/);
    const listed = await s.ok(
      '{ alarms(filter: { name: "busy" }) { totalCount } }',
      {},
      other.token,
    );
    expect(listed.alarms.totalCount).toBe(0);
    const mine = await s.ok('{ alarms { totalCount } }', {}, member.token);
    // Only the alarm of the first test exists in this project.
    expect(mine.alarms.totalCount).toBe(1);
  });

  it('is not evaluated while disabled, and is again once enabled', async () => {
    const { created } = await createAlarm(s, member.token, projectAlarm(member.projectId));
    const first = await waitForAlarm(s, member.token, created.alarm.id, (a) => a.lastEvaluatedAt);
    const off = await updateAlarm(s, member.token, { id: created.alarm.id, enabled: false });
    expect(off.alarm.enabled).toBe(false);
    const frozen = (await readAlarm(s, member.token, created.alarm.id)).lastEvaluatedAt;
    expect(Date.parse(frozen)).toBeGreaterThanOrEqual(Date.parse(first.lastEvaluatedAt));
    // Several evaluation rounds pass (interval 200 ms) without touching it.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await readAlarm(s, member.token, created.alarm.id)).lastEvaluatedAt).toBe(frozen);
    const on = await updateAlarm(s, member.token, { id: created.alarm.id, enabled: true });
    expect(on.alarm.enabled).toBe(true);
    await waitForAlarm(s, member.token, created.alarm.id, (a) => a.lastEvaluatedAt !== frozen);
    const history = (await readAlarm(s, member.token, created.alarm.id)).history.edges.map(
      (e: Json) => e.node.type,
    );
    // The project's series has samples from the first test, so state transitions may sit between.
    expect(history.slice(0, 2)).toEqual(['rule change', 'rule change']);
    expect(history.at(-1)).toBe('creation');
  });

  it('keeps each project to its own alarms', async () => {
    const { created } = await createAlarm(s, member.token, projectAlarm(member.projectId));
    const id = created.alarm.id;
    expect(await readAlarm(s, other.token, id)).toBeNull();
    const theirs = await s.ok('{ alarms { edges { node { id } } } }', {}, other.token);
    expect(theirs.alarms.edges.map((e: Json) => e.node.id)).not.toContain(id);
    const update = await updateAlarm(s, other.token, { id, threshold: 1 });
    expect(update.__typename).toBe('NotFoundError');
    const del = await s.ok(
      'mutation($id: ID!) { deleteAlarm(input: { id: $id }) { __typename } }',
      { id },
      other.token,
    );
    expect(del.deleteAlarm.__typename).toBe('NotFoundError');
    const sub = s.subscribe(
      'subscription($id: ID!) { alarm(id: $id) { id } }',
      { id },
      other.token,
    );
    const end = await sub.ended;
    expect(JSON.stringify(end.error ?? sub.values)).toContain('NOT_FOUND');
    // A reader sees the alarm but may not change it.
    expect((await readAlarm(s, reader.token, id)).id).toBe(id);
    const refused = await s.gql(
      'mutation($input: CreateAlarmInput!) { createAlarm(input: $input) { __typename } }',
      { input: projectAlarm(member.projectId) },
      reader.token,
    );
    expect(refused.errors?.[0]?.extensions?.code ?? refused.data?.createAlarm?.__typename).toMatch(
      /FORBIDDEN|ForbiddenError/,
    );
    // The admin sees it with allProjects; its owner deletes it.
    const all = await s.ok(
      '{ alarms(filter: { allProjects: true }) { edges { node { id } } } }',
      {},
      s.adminToken,
    );
    expect(all.alarms.edges.map((e: Json) => e.node.id)).toContain(id);
    const gone = await s.ok(
      'mutation($id: ID!) { deleteAlarm(input: { id: $id }) { __typename } }',
      { id },
      member.token,
    );
    expect(gone.deleteAlarm.__typename).toBe('DeleteAlarmSuccess');
    expect(await readAlarm(s, member.token, id)).toBeNull();
  });
});
