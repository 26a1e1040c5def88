import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/connection';
import { type ArchivePolicy, isFromRaw, levelOf, policyOf } from './archive-policies';
import { GranularityNotInPolicyError, TimeRangeError, WindowBeyondRetentionError } from './errors';
import { checkMeterFor, type MeterDefinition } from './meters';
import type { Aggregation, SeriesPoint, SeriesQuery } from './samples';

/**
 * Reading series. A point is one bucket of the requested granularity whose start lies in
 * [floor(from), to). Per resource: mean = sum/count of the bucket, min, max, sum, count, and
 * rate = per-second change of consecutive buckets' `last` values (Gnocchi's rate:last; a drop
 * is a counter reset, counted from zero). Several resources combine bucket by bucket: mean of
 * the means, min of mins, max of maxes, sums of sum/count/rate. p95 is computed from the
 * finest points stored for the window (raw samples while they are kept, else the finest
 * rollup's bucket means), pooled across the resources. See docs/metering.md.
 */

/** Field names for errors; the GraphQL layer passes its own argument names. */
export interface QueryFields {
  meter: string;
  granularity: string;
  from: string;
  to: string;
}
const DEFAULT_FIELDS: QueryFields = {
  meter: 'meter',
  granularity: 'granularity',
  from: 'from',
  to: 'to',
};

/** Checks a query; returns the meter and policy. Throws typed errors naming the field. */
export function checkQuery(
  q: Omit<SeriesQuery, 'resourceIds'>,
  fields: QueryFields = DEFAULT_FIELDS,
): { meter: MeterDefinition; policy: ArchivePolicy } {
  const meter = checkMeterFor(fields.meter, q.meter, q.resourceType);
  const policy = policyOf(q.meter);
  const level = levelOf(policy, q.granularity);
  if (!level) {
    throw new GranularityNotInPolicyError(
      fields.granularity,
      q.granularity,
      policy.name,
      policy.levels.map((l) => l.granularity),
    );
  }
  for (const [name, d] of [
    [fields.from, q.from],
    [fields.to, q.to],
  ] as const) {
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) {
      throw new TimeRangeError(name, 'Not a valid date');
    }
  }
  if (q.from.getTime() >= q.to.getTime()) {
    throw new TimeRangeError(fields.from, '`from` must be before `to`');
  }
  const window = (q.to.getTime() - q.from.getTime()) / 1000;
  if (window > level.timespan) {
    throw new WindowBeyondRetentionError(fields.to, window, level.timespan, q.granularity);
  }
  return { meter, policy };
}

const ROLLUP_COLS = sql`series_id as sid, extract(epoch from bucket)::float8 as b,
  count::float8 as count, sum, min, max, last, extract(epoch from last_ts)::float8 as last_t`;

/** Per-series bucket values combined across series (see the module comment). */
const COMBINED: Record<Exclude<Aggregation, 'rate' | 'p95'>, ReturnType<typeof sql>> = {
  mean: sql`avg(sum / count)::float8`,
  min: sql`min(min)::float8`,
  max: sql`max(max)::float8`,
  sum: sql`sum(sum)::float8`,
  count: sql`sum(count)::float8`,
};

/** The ids of the stored series of these resources (resources never sampled have none). */
export async function seriesOf(
  db: DbOrTx,
  meter: string,
  resourceType: string,
  resourceIds: readonly string[],
): Promise<number[]> {
  if (resourceIds.length === 0) return [];
  const { rows } = await db.execute<{ id: number }>(sql`
    select id from metering_series where meter = ${meter} and resource_type = ${resourceType}
      and resource_id = any(${sql.param([...resourceIds])}::text[])`);
  return rows.map((r) => r.id);
}

/** The series of one resource or the combination of several; throws typed errors on bad input. */
export async function querySeries(
  db: DbOrTx,
  q: SeriesQuery,
  fields: QueryFields = DEFAULT_FIELDS,
): Promise<SeriesPoint[]> {
  const { policy } = checkQuery(q, fields);
  const ids = await seriesOf(db, q.meter, q.resourceType, q.resourceIds);
  return pointsOf(db, ids, q, policy);
}

/** Points of already-resolved series ids (the aggregate query resolves ids its own way). */
export async function pointsOf(
  db: DbOrTx,
  ids: readonly number[],
  q: Pick<SeriesQuery, 'from' | 'to' | 'granularity' | 'aggregation'>,
  policy: ArchivePolicy,
): Promise<SeriesPoint[]> {
  if (ids.length === 0) return [];
  const g = q.granularity;
  const start = Math.floor(q.from.getTime() / 1000 / g) * g;
  const end = q.to.getTime() / 1000;
  if (q.aggregation === 'p95') return p95(db, ids, g, start, end, policy);
  const idParam = sql.param([...ids]);
  const level = levelOf(policy, g);
  const raw = level !== undefined && isFromRaw(policy, level);
  // Per series and bucket: count, sum, min, max, last (from raw samples, or the stored buckets).
  const perSeries = raw
    ? sql`
    select sid, b, count(*)::float8 as count, sum(value) as sum, min(value) as min,
      max(value) as max, (array_agg(value order by ts desc))[1] as last,
      extract(epoch from max(ts))::float8 as last_t
    from (
      select series_id as sid, floor(extract(epoch from ts)::float8 / ${g}::float8) * ${g}::float8 as b,
        ts, value
      from metering_samples
      where series_id = any(${idParam}::int[])
        and ts >= to_timestamp(${start}) and ts < to_timestamp(${Math.ceil(end / g) * g})
    ) x
    where b < ${end}::float8
    group by sid, b`
    : sql`
    select ${ROLLUP_COLS} from metering_rollups
    where series_id = any(${idParam}::int[]) and granularity = ${g}
      and bucket >= to_timestamp(${start}) and bucket < to_timestamp(${end})`;
  if (q.aggregation !== 'rate') {
    // Everything but rate is combined in SQL: two numbers per bucket cross the wire.
    const { rows: points } = await db.execute<{ b: number; v: number }>(
      sql`select b, ${COMBINED[q.aggregation]} as v from (${perSeries}) s group by b order by b`,
    );
    return points.map((r) => ({ timestamp: new Date(Number(r.b) * 1000), value: Number(r.v) }));
  }
  // rate: each bucket's last against the series' previous bucket, the one before the window
  // included (is_prev); a drop is a counter reset, counted from zero. Summed across series.
  const before = raw
    ? sql`
      select r.* from unnest(${idParam}::int[]) as i(id), lateral (
        select series_id as sid, extract(epoch from ts)::float8 as b, value as last,
          extract(epoch from ts)::float8 as last_t
        from metering_samples where series_id = i.id and ts < to_timestamp(${start})
        order by ts desc limit 1) r`
    : sql`
      select r.* from unnest(${idParam}::int[]) as i(id), lateral (
        select series_id as sid, extract(epoch from bucket)::float8 as b, last,
          extract(epoch from last_ts)::float8 as last_t
        from metering_rollups
        where series_id = i.id and granularity = ${g} and bucket < to_timestamp(${start})
        order by bucket desc limit 1) r`;
  const { rows } = await db.execute<{ b: number; v: number }>(sql`
    select b, sum(v)::float8 as v from (
      select b, is_prev,
        (case when last >= lag(last) over w then last - lag(last) over w else last end)
          / nullif(last_t - lag(last_t) over w, 0) as v,
        last_t > lag(last_t) over w as forward
      from (
        select sid, b, last, last_t, false as is_prev from (${perSeries}) s
        union all
        select sid, b, last, last_t, true from (${before}) p
      ) u
      window w as (partition by sid order by b)
    ) x
    where not is_prev and forward
    group by b order by b`);
  return rows.map((r) => ({ timestamp: new Date(Number(r.b) * 1000), value: Number(r.v) }));
}

/** p95 per output bucket from the finest points stored for the window (linear interpolation). */
async function p95(
  db: DbOrTx,
  ids: readonly number[],
  g: number,
  start: number,
  end: number,
  policy: ArchivePolicy,
): Promise<SeriesPoint[]> {
  const now = Date.now() / 1000;
  const idParam = sql.param([...ids]);
  const bucketEnd = Math.ceil(end / g) * g;
  let source: ReturnType<typeof sql>;
  if (start >= now - policy.rawTimespan) {
    source = sql`select extract(epoch from ts)::float8 as t, value from metering_samples
      where series_id = any(${idParam}::int[])
        and ts >= to_timestamp(${start}) and ts < to_timestamp(${bucketEnd})`;
  } else {
    const finest =
      policy.levels.find((l) => l.granularity <= g && start >= now - l.timespan) ??
      levelOf(policy, g);
    source = sql`select extract(epoch from bucket)::float8 as t, sum / count as value
      from metering_rollups where series_id = any(${idParam}::int[])
        and granularity = ${finest?.granularity ?? g}
        and bucket >= to_timestamp(${start}) and bucket < to_timestamp(${bucketEnd})`;
  }
  const { rows } = await db.execute<{ b: number; v: number }>(sql`
    select floor(t / ${g}) * ${g} as b, percentile_cont(0.95) within group (order by value) as v
    from (${source}) p group by 1 order by 1`);
  return rows.map((r) => ({ timestamp: new Date(Number(r.b) * 1000), value: Number(r.v) }));
}
