import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enforceRetention } from '../../resolvers/metering/retention';
import type { Sample } from '../../resolvers/metering/samples';
import { recordGaps, recordSamples } from '../../resolvers/metering/store';
import { startTestStratus, type TestStratus } from '../support/harness';
import { eventually } from '../support/servers';

/**
 * Retention with samples written at chosen ages, enforced by the worker's metering_retention
 * job (queued here instead of waiting for its crontab minute) and at exact cutoffs.
 */

let s: TestStratus;
const DAY = 86_400_000;
const sample = (resourceId: string, at: Date, value = 1): Sample => ({
  meter: 'cpu_util',
  resourceType: 'server',
  resourceId,
  projectId: null,
  timestamp: at,
  value,
});
const query = async (text: string, values: unknown[] = []) =>
  (await s.stratus.runtime.pool.query(text, values)).rows;
const countsOf = async (resourceId: string) =>
  (
    await query(
      `select (select count(*) from metering_samples where series_id = m.id)::int as raw,
        (select count(*) from metering_gaps where series_id = m.id)::int as gaps,
        (select count(*) from metering_rollups where series_id = m.id and granularity = 60)::int as minutes,
        (select count(*) from metering_rollups where series_id = m.id and granularity = 3600)::int as hours
       from metering_series m where resource_id = $1`,
      [resourceId],
    )
  )[0];

beforeAll(async () => {
  s = await startTestStratus();
});
afterAll(() => s?.stop());

describe('the retention job', () => {
  it('drops raw samples after a day, minutes after a week, hours after a year', async () => {
    const now = Date.now();
    const ages = [3_600_000, 2 * DAY, 8 * DAY, 400 * DAY];
    await recordSamples(
      s.stratus.runtime.db,
      ages.map((age) => sample('srv-ret', new Date(now - age))),
    );
    await recordGaps(s.stratus.runtime.db, [
      { ...sample('srv-ret', new Date(now - 2 * DAY)), reason: 'unreadable' },
      { ...sample('srv-ret', new Date(now - 60_000)), reason: 'unreadable' },
    ]);
    await query(`select graphile_worker.add_job('metering_retention')`);
    // kept: raw 1 h old; minutes 1 h and 2 d old; hours all but the 400-day one
    await eventually(
      () => countsOf('srv-ret'),
      (c) => expect(c).toEqual({ raw: 1, gaps: 1, minutes: 2, hours: 3 }),
    );
  });
});

describe('cutoffs', () => {
  it('a bucket or sample exactly at the cutoff stays, one a millisecond older goes', async () => {
    // An hour boundary ahead of the clock: the crontab's run (real now) deletes none of these.
    const now = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 3_600_000);
    const day = new Date(now.getTime() - DAY);
    const week = new Date(now.getTime() - 7 * DAY);
    await recordSamples(s.stratus.runtime.db, [
      sample('srv-cut', day),
      sample('srv-cut', new Date(day.getTime() - 1)),
      sample('srv-cut', week),
      sample('srv-cut', new Date(week.getTime() - 1)),
    ]);
    // `day` and `week` are hour boundaries: each 1 ms before them lies in the previous hour
    expect(await countsOf('srv-cut')).toEqual({ raw: 4, gaps: 0, minutes: 4, hours: 4 });
    const deleted = await enforceRetention(s.stratus.runtime.db, now);
    // raw: only the sample at `day` stays; minutes: only the bucket before `week` goes
    expect(await countsOf('srv-cut')).toEqual({ raw: 1, gaps: 0, minutes: 3, hours: 4 });
    expect(deleted.samples).toBeGreaterThanOrEqual(3);
    expect(deleted.rollups).toBeGreaterThanOrEqual(1);
  });
});
