import { and, eq, gte, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import { servers, volumes } from '../../db/tables';
import { authorize } from '../authorize';
import { ForbiddenError, InvalidInputError } from '../errors';
import { isAdmin, scopedProjectId } from '../identity/auth-context';
import type { ServiceContext } from '../runtime';
import { TimeRangeError } from './errors';

/**
 * A project's usage over a period, like Nova's simple tenant usage: each server counts from its
 * launch to its termination (or the period's end, never past now), times its flavor's vCPUs and
 * RAM; a server that never launched counts nothing. Volumes count from creation to now at their
 * current size (deleted volumes leave no row, so they are not counted). Object storage is the
 * only figure taken from samples: each hour's mean of storage.objects.size of the project's
 * containers, over the part of the hour inside the period. See docs/metering.md.
 */

const HOUR = 3_600_000;
const GIB = 1024 ** 3;

export interface ServerUsage {
  serverId: string;
  name: string;
  flavorName: string;
  vcpus: number;
  ramMib: number;
  rootDiskGib: number;
  state: string;
  startedAt: Date | null;
  endedAt: Date | null;
  hours: number;
  vcpuHours: number;
  ramMibHours: number;
  diskGibHours: number;
}

export interface VolumeUsage {
  volumeId: string;
  name: string;
  sizeGib: number;
  hours: number;
  gibHours: number;
}

export interface UsageReport {
  projectId: string;
  from: Date;
  to: Date;
  servers: ServerUsage[];
  volumes: VolumeUsage[];
  totalHours: number;
  vcpuHours: number;
  ramMibHours: number;
  diskGibHours: number;
  volumeGibHours: number;
  objectGibHours: number;
}

/** Hours of [start, end) inside [from, to). */
function overlapHours(start: Date, end: Date, from: Date, to: Date): number {
  const a = Math.max(start.getTime(), from.getTime());
  const b = Math.min(end.getTime(), to.getTime());
  return b > a ? (b - a) / HOUR : 0;
}

export async function usageReport(
  ctx: ServiceContext,
  args: { projectId?: string | null; from: Date; to: Date },
): Promise<UsageReport> {
  authorize(ctx, 'metric:usage_report');
  const own = scopedProjectId(ctx.auth);
  const projectId = args.projectId ?? own;
  if (!projectId)
    throw new InvalidInputError(
      'projectId',
      'Name a project (admins) or use a project-scoped token',
    );
  if (!isAdmin(ctx.auth) && projectId !== own) {
    throw new ForbiddenError("Only admins may read another project's usage");
  }
  if (args.from.getTime() >= args.to.getTime()) {
    throw new TimeRangeError('from', '`from` must be before `to`');
  }
  const from = args.from;
  // Nothing is used in the future: the period stops at now.
  const to = new Date(Math.min(args.to.getTime(), Date.now()));
  const db = ctx.rt.db;

  const serverRows = await db
    .select()
    .from(servers)
    .where(
      and(
        eq(servers.projectId, projectId),
        isNotNull(servers.launchedAt),
        lt(servers.launchedAt, to),
        or(isNull(servers.terminatedAt), gte(servers.terminatedAt, from)),
      ),
    )
    .orderBy(servers.launchedAt);
  const serverUsage = serverRows.map((s): ServerUsage => {
    const start = s.launchedAt as Date;
    const hours = overlapHours(start, s.terminatedAt ?? to, from, to);
    return {
      serverId: s.id,
      name: s.name,
      flavorName: s.flavor.name,
      vcpus: s.flavor.vcpus,
      ramMib: s.flavor.ramMib,
      rootDiskGib: s.flavor.rootDiskGib,
      state: s.vmState,
      startedAt: start,
      endedAt: s.terminatedAt,
      hours,
      vcpuHours: hours * s.flavor.vcpus,
      ramMibHours: hours * s.flavor.ramMib,
      diskGibHours: hours * s.flavor.rootDiskGib,
    };
  });

  const volumeRows = await db
    .select()
    .from(volumes)
    .where(and(eq(volumes.projectId, projectId), lt(volumes.createdAt, to)))
    .orderBy(volumes.createdAt);
  const volumeUsage = volumeRows.map((v): VolumeUsage => {
    const hours = overlapHours(v.createdAt, to, from, to);
    return { volumeId: v.id, name: v.name, sizeGib: v.sizeGib, hours, gibHours: hours * v.sizeGib };
  });

  const sum = <T>(rows: T[], f: (r: T) => number) => rows.reduce((acc, r) => acc + f(r), 0);
  return {
    projectId,
    from,
    to,
    servers: serverUsage,
    volumes: volumeUsage,
    totalHours: sum(serverUsage, (u) => u.hours),
    vcpuHours: sum(serverUsage, (u) => u.vcpuHours),
    ramMibHours: sum(serverUsage, (u) => u.ramMibHours),
    diskGibHours: sum(serverUsage, (u) => u.diskGibHours),
    volumeGibHours: sum(volumeUsage, (u) => u.gibHours),
    objectGibHours: await objectGibHours(ctx, projectId, from, to),
  };
}

/** Σ over hours of the mean bytes stored in the project's containers, in GiB-hours. */
async function objectGibHours(
  ctx: ServiceContext,
  projectId: string,
  from: Date,
  to: Date,
): Promise<number> {
  const start = new Date(Math.floor(from.getTime() / HOUR) * HOUR);
  const { rows } = await ctx.rt.db.execute<{ b: number; bytes: number }>(sql`
    select extract(epoch from r.bucket)::float8 as b, sum(r.sum / r.count) as bytes
    from metering_rollups r join metering_series m on m.id = r.series_id
    where m.meter = 'storage.objects.size' and m.resource_type = 'container'
      and m.project_id = ${projectId}::uuid and r.granularity = 3600
      and r.bucket >= ${start.toISOString()}::timestamptz and r.bucket < ${to.toISOString()}::timestamptz
    group by 1`);
  return rows.reduce((acc, r) => {
    const b = new Date(Number(r.b) * 1000);
    return acc + (Number(r.bytes) / GIB) * overlapHours(b, new Date(b.getTime() + HOUR), from, to);
  }, 0);
}
