import { sql } from 'drizzle-orm';
import { authorize } from '../authorize';
import { ForbiddenError, InvalidInputError } from '../errors';
import { canSeeProject, isAdmin, scopedProjectId } from '../identity/auth-context';
import type { ServiceContext } from '../runtime';
import { policyOf } from './archive-policies';
import { findMeter, type MeterKind } from './meters';
import type { Aggregation, MeteredType, SeriesPoint } from './samples';
import { checkQuery, pointsOf, querySeries, seriesOf } from './series';

/** What the API's metric fields ask for; from/to/granularity default to the last hour at 10 s. */
export interface MetricArgs {
  meter: string;
  from?: Date | null;
  to?: Date | null;
  granularity?: number | null;
  aggregation?: Aggregation | null;
}

export interface MetricSeries {
  meter: string;
  unit: string;
  kind: MeterKind;
  resourceType: MeteredType;
  granularity: number;
  aggregation: Aggregation;
  from: Date;
  to: Date;
  points: SeriesPoint[];
  /** Series ids, for the gaps field. */
  seriesIds: number[];
}

export interface MetricGap {
  timestamp: Date;
  reason: string;
}

/** Fills the defaults and checks the window (typed errors naming the argument). */
export function resolveArgs(
  resourceType: MeteredType,
  args: MetricArgs,
): Required<{ [K in keyof MetricArgs]: NonNullable<MetricArgs[K]> }> {
  const policy = policyOf(args.meter);
  const to = args.to ?? new Date();
  const from = args.from ?? new Date(to.getTime() - 3_600_000);
  const granularity = args.granularity ?? policy.levels[0]?.granularity ?? 60;
  const aggregation = args.aggregation ?? 'mean';
  checkQuery({ meter: args.meter, resourceType, from, to, granularity, aggregation });
  return { meter: args.meter, from, to, granularity, aggregation };
}

function seriesResult(
  resourceType: MeteredType,
  a: ReturnType<typeof resolveArgs>,
  points: SeriesPoint[],
  seriesIds: number[],
): MetricSeries {
  const def = findMeter(a.meter);
  return {
    meter: a.meter,
    unit: def?.unit ?? '',
    kind: def?.kind ?? 'gauge',
    resourceType,
    granularity: a.granularity,
    aggregation: a.aggregation,
    from: a.from,
    to: a.to,
    points,
    seriesIds,
  };
}

/**
 * `metrics` of one resource the caller already sees. Metrics are the owner's: a member of
 * another project who may read a shared network or a public image still gets FORBIDDEN.
 */
export async function resourceMetrics(
  ctx: ServiceContext,
  resource: { type: MeteredType; id: string; projectId: string | null },
  args: MetricArgs,
): Promise<MetricSeries> {
  authorize(ctx, 'metric:get');
  const a = resolveArgs(resource.type, args);
  if (!canSeeProject(ctx.auth, resource.projectId)) {
    throw new ForbiddenError("Metrics are visible to the resource's project and admins only");
  }
  const db = ctx.rt.db;
  const ids = await seriesOf(db, a.meter, resource.type, [resource.id]);
  const points = await querySeries(db, {
    ...a,
    resourceType: resource.type,
    resourceIds: [resource.id],
  });
  return seriesResult(resource.type, a, points, ids);
}

/** Gaps recorded for the series in the window (a poller could not read the resource). */
export async function gapsOf(ctx: ServiceContext, s: MetricSeries): Promise<MetricGap[]> {
  if (s.seriesIds.length === 0) return [];
  const { rows } = await ctx.rt.db.execute<{ ts: string; reason: string }>(sql`
    select ts, reason from metering_gaps where series_id = any(${sql.param(s.seriesIds)}::int[])
      and ts >= ${s.from.toISOString()}::timestamptz and ts < ${s.to.toISOString()}::timestamptz
    order by ts limit 1000`);
  return rows.map((r) => ({ timestamp: new Date(r.ts), reason: r.reason }));
}

export type AggregateGroupBy = 'flavor' | 'host' | 'none';

export interface AggregateArgs extends MetricArgs {
  resourceType: MeteredType;
  groupBy?: AggregateGroupBy | null;
  projectId?: string | null;
}

export interface MetricGroup {
  /** Flavor id or name, host name, or null for NONE / servers without one. */
  key: string | null;
  resourceCount: number;
  series: MetricSeries;
}

/**
 * One meter across every resource of a project (members: their own; admins: the one asked, or
 * all), optionally grouped by the servers' flavor or host. Groups combine their resources
 * bucket by bucket as querySeries does.
 */
export async function aggregateMetrics(
  ctx: ServiceContext,
  args: AggregateArgs,
): Promise<MetricGroup[]> {
  authorize(ctx, 'metric:aggregate');
  const a = resolveArgs(args.resourceType, args);
  const groupBy = args.groupBy ?? 'none';
  if (groupBy !== 'none' && args.resourceType !== 'server') {
    throw new InvalidInputError('groupBy', 'Grouping by flavor or host applies to servers only');
  }
  let projectId: string | null = args.projectId ?? null;
  if (!isAdmin(ctx.auth)) {
    const own = scopedProjectId(ctx.auth);
    if (projectId && projectId !== own) {
      throw new ForbiddenError("Only admins may aggregate another project's metrics");
    }
    projectId = own;
    if (!projectId) throw new ForbiddenError('A project-scoped token is needed');
  }
  const projectFilter = projectId ? sql`and m.project_id = ${projectId}::uuid` : sql``;
  const key =
    groupBy === 'flavor'
      ? sql`s.flavor->>'name'`
      : groupBy === 'host'
        ? sql`s.host`
        : sql`null::text`;
  const join = groupBy === 'none' ? sql`` : sql`left join servers s on s.id::text = m.resource_id`;
  const { rows } = await ctx.rt.db.execute<{ key: string | null; ids: number[] }>(sql`
    select ${key} as key, array_agg(m.id) as ids from metering_series m ${join}
    where m.meter = ${a.meter} and m.resource_type = ${args.resourceType} ${projectFilter}
    group by 1 order by 1 nulls last`);
  const policy = policyOf(a.meter);
  return Promise.all(
    rows.map(async (r) => ({
      key: r.key,
      resourceCount: r.ids.length,
      series: seriesResult(
        args.resourceType,
        a,
        await pointsOf(ctx.rt.db, r.ids, a, policy),
        r.ids,
      ),
    })),
  );
}
