import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/connection';
import type { Aggregation, Sample, SeriesQuery } from '../../resolvers/metering/samples';
import { querySeries } from '../../resolvers/metering/series';
import { recordGaps, recordSamples } from '../../resolvers/metering/store';
import { startTestStratus, type TestStratus } from '../support/harness';

/**
 * The metering store against real PostgreSQL: samples written at chosen timestamps, every
 * aggregation checked against figures worked out by hand below, rollup boundaries, bad input.
 */

let s: TestStratus;
let db: Database;
// An hour boundary three hours ago: inside the raw and 10 s timespans (one day).
const base = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
const at = (seconds: number) => new Date(base + seconds * 1000);
const util = (resourceId: string, sec: number, value: number): Sample => ({
  meter: 'cpu_util',
  resourceType: 'server',
  resourceId,
  projectId: null,
  timestamp: at(sec),
  value,
});

beforeAll(async () => {
  s = await startTestStratus();
  db = s.stratus.runtime.db;
  // srv-a: 10 s buckets [0,10): 10 20 60   [10,20): 5 15   [20,30): 40   [60,70): 100
  // written in two batches, the second one carrying an older sample of the first bucket.
  await recordSamples(db, [util('srv-a', 0, 10), util('srv-a', 7, 60), util('srv-a', 12, 5)]);
  await recordSamples(db, [
    util('srv-a', 3, 20),
    util('srv-a', 19, 15),
    util('srv-a', 25, 40),
    util('srv-a', 65, 100),
  ]);
  // srv-b: one sample in [0,10)
  await recordSamples(db, [util('srv-b', 1, 50)]);
});
afterAll(() => s?.stop());

const q = (over: Partial<SeriesQuery>): SeriesQuery => ({
  meter: 'cpu_util',
  resourceType: 'server',
  resourceIds: ['srv-a'],
  from: at(0),
  to: at(120),
  granularity: 10,
  aggregation: 'mean',
  ...over,
});
const series = async (over: Partial<SeriesQuery>) =>
  (await querySeries(db, q(over))).map((p) => [(p.timestamp.getTime() - base) / 1000, p.value]);

describe('one resource, 10 s buckets', () => {
  const expected: Record<Exclude<Aggregation, 'rate'>, number[][]> = {
    mean: [
      [0, 30], // (10+20+60)/3
      [10, 10], // (5+15)/2
      [20, 40],
      [60, 100],
    ],
    min: [
      [0, 10],
      [10, 5],
      [20, 40],
      [60, 100],
    ],
    max: [
      [0, 60],
      [10, 15],
      [20, 40],
      [60, 100],
    ],
    sum: [
      [0, 90],
      [10, 20],
      [20, 40],
      [60, 100],
    ],
    count: [
      [0, 3],
      [10, 2],
      [20, 1],
      [60, 1],
    ],
    // p95 of [10,20,60]: rank 0.95*2 = 1.9 -> 20 + 0.9*(60-20) = 56; of [5,15]: 5 + 0.95*10 = 14.5
    p95: [
      [0, 56],
      [10, 14.5],
      [20, 40],
      [60, 100],
    ],
  };
  for (const [aggregation, points] of Object.entries(expected)) {
    it(aggregation, async () => {
      const got = await series({ aggregation: aggregation as Aggregation });
      expect(got.map(([t]) => t)).toEqual(points.map(([t]) => t));
      for (const [i, [, v]] of got.entries()) expect(v).toBeCloseTo(points[i]?.[1] as number, 9);
    });
  }
});

describe('one resource, 60 s buckets', () => {
  it('mean, min, max, sum, count and p95 over six samples', async () => {
    expect(await series({ granularity: 60 })).toEqual([
      [0, 25], // (10+20+60+5+15+40)/6 = 150/6
      [60, 100],
    ]);
    expect(await series({ granularity: 60, aggregation: 'min' })).toEqual([
      [0, 5],
      [60, 100],
    ]);
    expect(await series({ granularity: 60, aggregation: 'max' })).toEqual([
      [0, 60],
      [60, 100],
    ]);
    expect(await series({ granularity: 60, aggregation: 'sum' })).toEqual([
      [0, 150],
      [60, 100],
    ]);
    expect(await series({ granularity: 60, aggregation: 'count' })).toEqual([
      [0, 6],
      [60, 1],
    ]);
    // sorted 5 10 15 20 40 60: rank 0.95*5 = 4.75 -> 40 + 0.75*(60-40) = 55
    const p95 = await series({ granularity: 60, aggregation: 'p95' });
    expect(p95[0]?.[0]).toBe(0);
    expect(p95[0]?.[1]).toBeCloseTo(55, 9);
    expect(p95[1]).toEqual([60, 100]);
  });

  it('an hour bucket holds all seven', async () => {
    expect(await series({ granularity: 3600, to: at(3600), aggregation: 'count' })).toEqual([
      [0, 7],
    ]);
  });

  it('a window starting inside a bucket returns that whole bucket', async () => {
    expect(await series({ from: at(15), to: at(25), aggregation: 'count' })).toEqual([
      [10, 2],
      [20, 1],
    ]);
  });
});

describe('several resources combine bucket by bucket', () => {
  const both = { resourceIds: ['srv-a', 'srv-b', 'never-sampled'] };
  it('mean of means, min of mins, max of maxes, sums of sums and counts', async () => {
    const first = async (aggregation: Aggregation) => (await series({ ...both, aggregation }))[0];
    expect(await first('mean')).toEqual([0, 40]); // (30 + 50) / 2
    expect(await first('min')).toEqual([0, 10]);
    expect(await first('max')).toEqual([0, 60]);
    expect(await first('sum')).toEqual([0, 140]); // 90 + 50
    expect(await first('count')).toEqual([0, 4]);
    // pooled 10 20 50 60: rank 2.85 -> 50 + 0.85*10 = 58.5
    expect((await first('p95'))?.[1]).toBeCloseTo(58.5, 9);
  });
  it('no sampled resource: no points', async () => {
    expect(await series({ resourceIds: ['nobody'] })).toEqual([]);
    expect(await series({ resourceIds: [] })).toEqual([]);
  });
});

describe('rate of a cumulative meter', () => {
  const cpu = (sec: number, value: number): Sample => ({
    meter: 'cpu',
    resourceType: 'server',
    resourceId: 'srv-c',
    projectId: null,
    timestamp: at(sec),
    value,
  });
  beforeAll(async () => {
    // counter: 1000 @5, 3000 @15, 6000 @25, restarted: 500 @35, 1500 @45
    await recordSamples(db, [
      cpu(5, 1000),
      cpu(15, 3000),
      cpu(25, 6000),
      cpu(35, 500),
      cpu(45, 1500),
    ]);
  });
  const rate = (from: number) =>
    series({ meter: 'cpu', resourceIds: ['srv-c'], from: at(from), aggregation: 'rate' });
  it('per second from consecutive last values; a drop counts from zero', async () => {
    expect(await rate(0)).toEqual([
      [10, 200], // (3000-1000)/10
      [20, 300], // (6000-3000)/10
      [30, 50], // reset: 500/10
      [40, 100], // (1500-500)/10
    ]);
  });
  it('the first point of a later window uses the bucket before it', async () => {
    expect((await rate(10))[0]).toEqual([10, 200]);
  });
});

describe('p95 of a window older than the raw timespan', () => {
  it('comes from the finest rollup still covering it (per-minute means)', async () => {
    const old = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 86_400_000;
    const oldSample = (sec: number, value: number): Sample => ({
      ...util('srv-old', 0, value),
      timestamp: new Date(old + sec * 1000),
    });
    // minute means: (10+30)/2 = 20, 40, 60, 100
    await recordSamples(db, [
      oldSample(5, 10),
      oldSample(35, 30),
      oldSample(65, 40),
      oldSample(125, 60),
      oldSample(185, 100),
    ]);
    const got = await querySeries(
      db,
      q({
        resourceIds: ['srv-old'],
        from: new Date(old),
        to: new Date(old + 3_600_000),
        granularity: 3600,
        aggregation: 'p95',
      }),
    );
    // rank 0.95*3 = 2.85 -> 60 + 0.85*(100-60) = 94 (the raw samples would give 92)
    expect(got).toHaveLength(1);
    expect(got[0]?.timestamp.getTime()).toBe(old);
    expect(got[0]?.value).toBeCloseTo(94, 9);
  });
});

describe('rollup boundaries', () => {
  it('a sample on a boundary opens the next bucket; one just before stays in the previous', async () => {
    const id = 'srv-edge';
    await recordSamples(db, [
      util(id, 9.999, 1),
      util(id, 10, 2),
      util(id, 59.999, 3),
      util(id, 60, 4),
      util(id, 3599.999, 5),
      util(id, 3600, 6),
    ]);
    const c = (granularity: number, to: number) =>
      series({ resourceIds: [id], granularity, to: at(to), aggregation: 'sum' });
    expect(await c(10, 70)).toEqual([
      [0, 1],
      [10, 2],
      [50, 3],
      [60, 4],
    ]);
    expect(await c(60, 120)).toEqual([
      [0, 1 + 2 + 3],
      [60, 4],
    ]);
    expect(await c(3600, 7200)).toEqual([
      [0, 1 + 2 + 3 + 4 + 5],
      [3600, 6],
    ]);
  });
});

describe('bad input: a typed error naming the field, nothing written', () => {
  const rows = async () => {
    const { rows } = await s.stratus.runtime.pool.query(
      `select (select count(*) from metering_samples)::int as samples,
              (select count(*) from metering_rollups)::int as rollups,
              (select count(*) from metering_series)::int as series`,
    );
    return rows[0];
  };
  it.each([
    ['unknown meter', { meter: 'cpu.bogus' }, 'meter', /Unknown meter/],
    ['meter of another resource type', { meter: 'volume.size' }, 'meter', /does not exist for/],
    ['granularity not in the policy', { granularity: 30 }, 'granularity', /not in archive policy/],
    ['from after to', { from: at(100), to: at(50) }, 'from', /before/],
    ['from equal to', { from: at(50), to: at(50) }, 'from', /before/],
    ['window beyond retention', { from: at(0), to: at(2 * 86_400) }, 'to', /longer than/],
  ] as const)('query: %s', async (_name, over, field, message) => {
    await expect(querySeries(db, q(over as Partial<SeriesQuery>))).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      field,
      message: expect.stringMatching(message),
    });
  });

  it.each([
    ['unknown meter', { meter: 'nope' }, 'samples[1].meter'],
    ['meter of another type', { resourceType: 'volume' }, 'samples[1].meter'],
    ['non-finite value', { value: Number.NaN }, 'samples[1].value'],
    ['invalid date', { timestamp: new Date('x') }, 'samples[1].timestamp'],
    ['empty resource id', { resourceId: '' }, 'samples[1].resourceId'],
  ] as const)('record: %s', async (_name, over, field) => {
    const before = await rows();
    const batch = [util('srv-new', 1, 1), { ...util('srv-new', 2, 2), ...over } as Sample];
    await expect(recordSamples(db, batch)).rejects.toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(await rows()).toEqual(before);
  });

  it('gaps are stored with their reason', async () => {
    await recordGaps(db, [
      {
        meter: 'cpu_util',
        resourceType: 'server',
        resourceId: 'srv-a',
        projectId: null,
        timestamp: at(30),
        reason: 'qemu gone',
      },
    ]);
    const { rows: gaps } = await s.stratus.runtime.pool.query('select reason from metering_gaps');
    expect(gaps).toEqual([{ reason: 'qemu gone' }]);
  });
});
