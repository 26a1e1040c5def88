import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../db/connection';
import { alarms } from '../../db/tables';
import { recordSamples } from '../../resolvers/metering/store';
import {
  createTestDatabase,
  dropTestDatabase,
  startTestStratus,
  type TestStratus,
} from '../support/harness';
import { Seed } from '../support/seed';
import { createAlarm, raw, readAlarm, waitForAlarm } from './alarm-support';

/**
 * Alarms survive a restart, and an evaluation that fell due while no Stratus ran is done when
 * one starts: the second Stratus evaluates every hour, so only the missed evaluation can move
 * the alarm during this test.
 */

const databaseUrl = await createTestDatabase();
let s: TestStratus | null = null;

afterAll(async () => {
  await s?.stop();
  await dropTestDatabase(databaseUrl);
});

describe('alarms across a restart', () => {
  it('runs the evaluation missed while Stratus was down when it starts again', async () => {
    s = await startTestStratus(
      {
        // The pollers' own samples (from the database) would mix with the test's.
        metering: { intervalMs: 0 },
        alarms: {
          evaluationIntervalMs: 300,
          webhookAllow: [],
          webhookMaxAttempts: 2,
          webhookTimeoutMs: 2_000,
        },
      },
      databaseUrl,
    );
    const member = await new Seed(s).member('member');
    const { created } = await createAlarm(s, member.token, {
      name: 'across',
      meter: 'project.instances',
      resourceType: 'project',
      resourceIds: [raw(member.projectId)],
      comparison: 'GE',
      threshold: 3,
      aggregation: 'MAX',
      granularity: 10,
      evaluationPeriods: 2,
    });
    const id = created.alarm.id;
    const before = await waitForAlarm(s, member.token, id, (a) => a.lastEvaluatedAt);
    expect(before.state).toBe('INSUFFICIENT_DATA');
    await s.stop();
    s = null;
    const conn = connect(databaseUrl, 2);
    // Stay down until the next evaluation has fallen due: a restart quicker than the first
    // Stratus's 300 ms interval would otherwise find nothing due yet.
    const [due] = await conn.db
      .select({ at: alarms.nextEvaluationAt })
      .from(alarms)
      .where(eq(alarms.id, raw(id)));
    while (Date.now() <= due.at.getTime() + 50) await new Promise((r) => setTimeout(r, 50));

    // While Stratus is down, the project gets busy.
    const t0 = Date.now();
    await recordSamples(
      conn.db,
      [t0 - 10_000, t0].map((t, i) => ({
        meter: 'project.instances',
        resourceType: 'project' as const,
        resourceId: raw(member.projectId),
        projectId: raw(member.projectId),
        timestamp: new Date(t),
        value: 4 + i,
      })),
    );
    await conn.pool.end();

    s = await startTestStratus(
      {
        // The pollers' own samples (from the database) would mix with the test's.
        metering: { intervalMs: 0 },
        alarms: {
          evaluationIntervalMs: 3_600_000,
          webhookAllow: [],
          webhookMaxAttempts: 2,
          webhookTimeoutMs: 2_000,
        },
      },
      databaseUrl,
    );
    const token = await s.login(member.userName, member.password, {
      projectId: member.projectId,
    });
    const after = await waitForAlarm(s, token, id, (a) => a.state === 'ALARM');
    expect(after.history.edges[0].node).toMatchObject({
      type: 'state transition',
      previousState: 'INSUFFICIENT_DATA',
      state: 'ALARM',
      values: [4, 5],
    });
    expect(Date.parse(after.lastEvaluatedAt)).toBeGreaterThan(Date.parse(before.lastEvaluatedAt));
    // The next evaluation is an interval away, not due again.
    const now = await readAlarm(s, token, id);
    expect(Date.parse(now.nextEvaluationAt)).toBeGreaterThan(Date.now() + 3_000_000);
  }, 90_000);
});
