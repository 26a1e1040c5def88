import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/connection';
import { policyOf, storedLevels } from './archive-policies';
import { InvalidSampleError } from './errors';
import { checkMeterFor } from './meters';
import type { MeteredType, Sample, SampleGap } from './samples';

/**
 * Writing samples: one transaction per batch that inserts the raw samples and merges them
 * into the rollup buckets of the meter's archive policy (INSERT ... ON CONFLICT DO UPDATE;
 * levels no longer than the raw timespan are read from the raw samples instead).
 * The batch is first reduced in memory to one row per (series, granularity, bucket), so a
 * batch of many samples of the same series costs few bucket writes. Arrays go to PostgreSQL
 * as three/eleven parameters through unnest (pg-copy-streams is not installed).
 */

interface SeriesKey {
  meter: string;
  resourceType: MeteredType;
  resourceId: string;
  projectId: string | null;
}

const keyOf = (s: SeriesKey) => `${s.meter}\u0000${s.resourceType}\u0000${s.resourceId}`;

/** Checks every sample before anything is written; the field names its index. */
function validate(samples: readonly (Sample | SampleGap)[], what: string): void {
  samples.forEach((s, i) => {
    const field = `${what}[${i}]`;
    checkMeterFor(`${field}.meter`, s.meter, s.resourceType);
    if (!s.resourceId)
      throw new InvalidSampleError(`${field}.resourceId`, 'The resource id is empty');
    if (!(s.timestamp instanceof Date) || Number.isNaN(s.timestamp.getTime())) {
      throw new InvalidSampleError(`${field}.timestamp`, 'The timestamp is not a valid date');
    }
    if ('value' in s && !Number.isFinite(s.value)) {
      throw new InvalidSampleError(`${field}.value`, 'The value must be a finite number');
    }
  });
}

/**
 * Ids of committed series, per database handle (never per transaction: a series created in a
 * transaction that rolls back must not be remembered). Series rows are never deleted.
 */
const committedIds = new WeakMap<object, Map<string, number>>();

/** The id of each series, created on first use. `cacheKey`: the pool-level handle, if any. */
export async function seriesIds(
  db: DbOrTx,
  keys: readonly SeriesKey[],
  cacheKey?: object,
): Promise<Map<string, number>> {
  const cache = cacheKey ? committedIds.get(cacheKey) : undefined;
  const unique = new Map<string, SeriesKey>();
  const ids = new Map<string, number>();
  for (const k of keys) {
    const key = keyOf(k);
    const known = cache?.get(key);
    if (known !== undefined) ids.set(key, known);
    else unique.set(key, k);
  }
  const wanted = ids.size + unique.size;
  // A second round picks up rows a concurrent batch inserted but had not committed yet.
  for (let round = 0; round < 3 && ids.size < wanted; round++) {
    const missing = [...unique.entries()].filter(([k]) => !ids.has(k)).map(([, v]) => v);
    if (missing.length === 0) break;
    const { rows } = await db.execute<{
      id: number;
      meter: string;
      resource_type: MeteredType;
      resource_id: string;
      fresh: boolean;
    }>(sql`
      with input as (
        select * from unnest(${sql.param(missing.map((k) => k.meter))}::text[],
          ${sql.param(missing.map((k) => k.resourceType))}::text[],
          ${sql.param(missing.map((k) => k.resourceId))}::text[],
          ${sql.param(missing.map((k) => k.projectId))}::uuid[],
          ${sql.param(missing.map((k) => policyOf(k.meter).name))}::text[])
          as t(meter, resource_type, resource_id, project_id, policy)
      ), ins as (
        insert into metering_series (meter, resource_type, resource_id, project_id, policy)
        select * from input on conflict do nothing
        returning id, meter, resource_type, resource_id
      )
      select * from ins
      union all
      select s.id, s.meter, s.resource_type, s.resource_id from metering_series s
        join input i using (meter, resource_type, resource_id)`);
    for (const r of rows) {
      ids.set(
        keyOf({
          meter: r.meter,
          resourceType: r.resource_type,
          resourceId: r.resource_id,
          projectId: null,
        }),
        r.id,
      );
    }
  }
  if (ids.size < unique.size) throw new Error('metering: could not create the series ids');
  return ids;
}

/** Runs `fn` in a transaction, or in the caller's. */
async function inTransaction<T>(db: DbOrTx, fn: (tx: DbOrTx) => Promise<T>): Promise<T> {
  if ('rollback' in db) return fn(db);
  return db.transaction(fn);
}

interface Bucket {
  seriesId: number;
  granularity: number;
  bucket: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  first: number;
  firstTs: number;
  last: number;
  lastTs: number;
}

/** Stores samples and rolls them up. Throws a typed error (nothing written) on a bad sample. */
export async function recordSamples(db: DbOrTx, samples: readonly Sample[]): Promise<void> {
  if (samples.length === 0) return;
  validate(samples, 'samples');
  const cacheKey = 'rollback' in db ? undefined : db;
  await inTransaction(db, async (tx) => {
    const ids = await seriesIds(tx, samples, cacheKey);
    const n = samples.length;
    const sid = new Array<number>(n);
    const ts = new Array<number>(n);
    const val = new Array<number>(n);
    const buckets = new Map<string, Bucket>();
    for (let i = 0; i < n; i++) {
      const s = samples[i] as Sample;
      const id = ids.get(keyOf(s)) as number;
      const t = s.timestamp.getTime();
      sid[i] = id;
      ts[i] = t;
      val[i] = s.value;
      for (const level of storedLevels(policyOf(s.meter))) {
        const g = level.granularity;
        const b = Math.floor(t / 1000 / g) * g;
        const k = `${id}:${g}:${b}`;
        const cur = buckets.get(k);
        if (!cur) {
          buckets.set(k, {
            seriesId: id,
            granularity: g,
            bucket: b,
            count: 1,
            sum: s.value,
            min: s.value,
            max: s.value,
            first: s.value,
            firstTs: t,
            last: s.value,
            lastTs: t,
          });
          continue;
        }
        cur.count++;
        cur.sum += s.value;
        if (s.value < cur.min) cur.min = s.value;
        if (s.value > cur.max) cur.max = s.value;
        if (t < cur.firstTs) {
          cur.first = s.value;
          cur.firstTs = t;
        }
        if (t >= cur.lastTs) {
          cur.last = s.value;
          cur.lastTs = t;
        }
      }
    }
    await tx.execute(sql`
      insert into metering_samples (series_id, ts, value)
      select sid, to_timestamp(t / 1000.0), v
      from unnest(${sql.param(sid)}::int[], ${sql.param(ts)}::float8[], ${sql.param(val)}::float8[]) as u(sid, t, v)`);
    await mergeBuckets(tx, [...buckets.values()]);
  });
}

/** Merges pre-reduced buckets, in key order so concurrent batches lock rows in one order. */
async function mergeBuckets(tx: DbOrTx, rows: Bucket[]): Promise<void> {
  if (rows.length === 0) return;
  rows.sort(
    (a, b) => a.seriesId - b.seriesId || a.granularity - b.granularity || a.bucket - b.bucket,
  );
  const col = <K extends keyof Bucket>(k: K) => sql.param(rows.map((r) => r[k]));
  await tx.execute(sql`
    insert into metering_rollups as r
      (series_id, granularity, bucket, count, sum, min, max, first, first_ts, last, last_ts)
    select sid, g, to_timestamp(b), c, s, mn, mx, f, to_timestamp(ft / 1000.0), l, to_timestamp(lt / 1000.0)
    from unnest(${col('seriesId')}::int[], ${col('granularity')}::int[], ${col('bucket')}::float8[],
      ${col('count')}::int[], ${col('sum')}::float8[], ${col('min')}::float8[], ${col('max')}::float8[],
      ${col('first')}::float8[], ${col('firstTs')}::float8[], ${col('last')}::float8[],
      ${col('lastTs')}::float8[]) as u(sid, g, b, c, s, mn, mx, f, ft, l, lt)
    on conflict (series_id, granularity, bucket) do update set
      count = r.count + excluded.count,
      sum = r.sum + excluded.sum,
      min = least(r.min, excluded.min),
      max = greatest(r.max, excluded.max),
      first = case when excluded.first_ts < r.first_ts then excluded.first else r.first end,
      first_ts = least(r.first_ts, excluded.first_ts),
      last = case when excluded.last_ts >= r.last_ts then excluded.last else r.last end,
      last_ts = greatest(r.last_ts, excluded.last_ts)`);
}

/** Stores the resources a poller could not read, with the reason. */
export async function recordGaps(db: DbOrTx, gaps: readonly SampleGap[]): Promise<void> {
  if (gaps.length === 0) return;
  validate(gaps, 'gaps');
  await inTransaction(db, async (tx) => {
    const ids = await seriesIds(tx, gaps);
    await tx.execute(sql`
      insert into metering_gaps (series_id, ts, reason)
      select * from unnest(${sql.param(gaps.map((g) => ids.get(keyOf(g)) as number))}::int[],
        ${sql.param(gaps.map((g) => g.timestamp.toISOString()))}::timestamptz[],
        ${sql.param(gaps.map((g) => g.reason))}::text[])`);
  });
}
