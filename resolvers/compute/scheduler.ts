import { and, eq, inArray, isNotNull, ne, sql } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../../db/connection';
import { computeHosts, serverGroups, servers } from '../../db/tables';
import { NoValidHostError } from './errors';

/**
 * Nova's filter scheduler in small: every host passes through the filters, the survivors are
 * weighed, the heaviest wins. Hosts are rows of `compute_hosts`, so a second host is one more
 * Stratus process with a compute driver, not a redesign.
 */

export interface HostState {
  hostname: string;
  availabilityZone: string;
  enabled: boolean;
  /** Its process reported within HOST_DOWN_AFTER_MS (Nova's servicegroup "up"). */
  up: boolean;
  vcpus: number;
  memoryMib: number;
  diskGib: number;
  usedVcpus: number;
  usedMemoryMib: number;
  usedDiskGib: number;
}

export interface AllocationRatios {
  cpu: number;
  ram: number;
  disk: number;
}

export interface RequestSpec {
  vcpus: number;
  ramMib: number;
  diskGib: number;
  availabilityZone: string | null;
  /** The server group's policy and the hosts its other members run on. */
  group: { policy: GroupPolicy; memberHosts: string[] } | null;
}

export type GroupPolicy = 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity';

interface Filter {
  name: string;
  passes(host: HostState, spec: RequestSpec, ratios: AllocationRatios): boolean;
}

export const FILTERS: Filter[] = [
  { name: 'ComputeFilter', passes: (h) => h.enabled && h.up },
  {
    name: 'AvailabilityZoneFilter',
    passes: (h, s) => s.availabilityZone === null || h.availabilityZone === s.availabilityZone,
  },
  {
    name: 'RamFilter',
    passes: (h, s, r) => h.usedMemoryMib + s.ramMib <= h.memoryMib * r.ram,
  },
  { name: 'CoreFilter', passes: (h, s, r) => h.usedVcpus + s.vcpus <= h.vcpus * r.cpu },
  { name: 'DiskFilter', passes: (h, s, r) => h.usedDiskGib + s.diskGib <= h.diskGib * r.disk },
  {
    name: 'ServerGroupAffinityFilter',
    passes: (h, s) =>
      s.group?.policy !== 'affinity' ||
      s.group.memberHosts.length === 0 ||
      s.group.memberHosts.includes(h.hostname),
  },
  {
    name: 'ServerGroupAntiAffinityFilter',
    passes: (h, s) =>
      s.group?.policy !== 'anti-affinity' || !s.group.memberHosts.includes(h.hostname),
  },
];

interface Weigher {
  name: string;
  /** Raw weight; weights are normalised to 0..1 across hosts, then multiplied. */
  weigh(host: HostState, spec: RequestSpec): number;
  multiplier: number;
}

export const WEIGHERS: Weigher[] = [
  // Spread: most free RAM first (Nova's default ram_weight_multiplier 1.0).
  { name: 'RAMWeigher', weigh: (h) => h.memoryMib - h.usedMemoryMib, multiplier: 1 },
  { name: 'CPUWeigher', weigh: (h) => h.vcpus - h.usedVcpus, multiplier: 1 },
  {
    name: 'ServerGroupSoftAffinityWeigher',
    weigh: (h, s) =>
      s.group?.policy === 'soft-affinity'
        ? s.group.memberHosts.filter((m) => m === h.hostname).length
        : 0,
    multiplier: 10,
  },
  {
    name: 'ServerGroupSoftAntiAffinityWeigher',
    weigh: (h, s) =>
      s.group?.policy === 'soft-anti-affinity'
        ? -s.group.memberHosts.filter((m) => m === h.hostname).length
        : 0,
    multiplier: 10,
  },
];

/** A host whose process has not reported for this long is down (it reports every 30 s). */
export const HOST_DOWN_AFTER_MS = 90_000;
export const hostDeadline = () => new Date(Date.now() - HOST_DOWN_AFTER_MS);

/** Picks the host for `spec`, or throws NoValidHostError naming the filter that left none. */
export function selectHost(
  hosts: HostState[],
  spec: RequestSpec,
  ratios: AllocationRatios,
): HostState {
  if (hosts.length === 0) throw new NoValidHostError('no compute host is registered');
  let candidates = hosts;
  for (const filter of FILTERS) {
    candidates = candidates.filter((h) => filter.passes(h, spec, ratios));
    if (candidates.length === 0) {
      throw new NoValidHostError(`${filter.name} returned 0 hosts`);
    }
  }
  const scores = new Map(candidates.map((h) => [h.hostname, 0]));
  for (const weigher of WEIGHERS) {
    const raw = candidates.map((h) => weigher.weigh(h, spec));
    const min = Math.min(...raw);
    const max = Math.max(...raw);
    candidates.forEach((h, i) => {
      const normalised = max === min ? 0 : (raw[i] - min) / (max - min);
      scores.set(h.hostname, scores.get(h.hostname)! + normalised * weigher.multiplier);
    });
  }
  return [...candidates].sort(
    (a, b) =>
      scores.get(b.hostname)! - scores.get(a.hostname)! || a.hostname.localeCompare(b.hostname),
  )[0];
}

/** Hosts with what their live servers use, read under a lock so concurrent claims queue. */
export async function lockHostStates(tx: Tx): Promise<HostState[]> {
  const hosts = await tx.select().from(computeHosts).orderBy(computeHosts.hostname).for('update');
  const usage = await hostUsage(
    tx,
    hosts.map((h) => h.hostname),
  );
  return hosts.map((h) => {
    const used = usage.get(h.hostname);
    return {
      hostname: h.hostname,
      availabilityZone: h.availabilityZone,
      enabled: h.enabled,
      up: h.lastSeenAt > hostDeadline(),
      vcpus: h.vcpus,
      memoryMib: h.memoryMib,
      diskGib: h.diskGib,
      usedVcpus: used?.vcpus ?? 0,
      usedMemoryMib: used?.ramMib ?? 0,
      usedDiskGib: used?.diskGib ?? 0,
    };
  });
}

/** The group's policy and where its other members run (the group row is locked too). */
export async function groupPlacement(
  tx: Tx,
  groupId: string | null,
  exceptServerId: string,
): Promise<RequestSpec['group']> {
  if (!groupId) return null;
  const [group] = await tx
    .select()
    .from(serverGroups)
    .where(eq(serverGroups.id, groupId))
    .for('update');
  if (!group) return null;
  const members = await tx
    .select({ id: servers.id, host: servers.host })
    .from(servers)
    .where(
      and(
        eq(servers.serverGroupId, groupId),
        ne(servers.vmState, 'deleted'),
        isNotNull(servers.host),
      ),
    );
  return {
    policy: group.policy,
    memberHosts: members.filter((m) => m.id !== exceptServerId).map((m) => m.host!),
  };
}

export interface HostUsage {
  vcpus: number;
  ramMib: number;
  diskGib: number;
  servers: number;
}

/** What the live servers on each named host use, from their flavor snapshots. */
export async function hostUsage(db: DbOrTx, hostnames: string[]): Promise<Map<string, HostUsage>> {
  const flavorInt = (key: string) => sql`(${servers.flavor}->>${key})::int`;
  const rows = hostnames.length
    ? await db
        .select({
          host: servers.host,
          count: sql<number>`count(*)::int`,
          vcpus: sql<number>`coalesce(sum(${flavorInt('vcpus')}), 0)::int`,
          ramMib: sql<number>`coalesce(sum(${flavorInt('ramMib')}), 0)::int`,
          diskGib: sql<number>`coalesce(sum(${flavorInt('rootDiskGib')} + ${flavorInt('ephemeralGib')}), 0)::int`,
        })
        .from(servers)
        .where(and(inArray(servers.host, hostnames), ne(servers.vmState, 'deleted')))
        .groupBy(servers.host)
    : [];
  return new Map(
    rows.map((r) => [
      r.host!,
      { vcpus: r.vcpus, ramMib: r.ramMib, diskGib: r.diskGib, servers: r.count },
    ]),
  );
}
