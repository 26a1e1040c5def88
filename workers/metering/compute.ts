import type { InstanceStats } from '../../drivers/compute/types';
import type { MeteredType, Sample, SampleGap } from '../../resolvers/metering/samples';

/** A server this host runs, as the DB knows it. */
export interface PolledServer {
  id: string;
  projectId: string;
  vcpus: number;
  memoryMib: number;
}

/** The last CPU reading of each server, for cpu_util (Ceilometer's rate-of-change transformer). */
export type CpuHistory = Map<string, { cpuTimeNs: number; atMs: number }>;

/** The meters a server gets from its driver read: all gapped together when the read fails. */
export const SERVER_READ_METERS = [
  'cpu',
  'cpu_util',
  'memory.usage',
  'disk.read.bytes',
  'disk.write.bytes',
  'disk.read.requests',
  'disk.write.requests',
  'network.incoming.bytes',
  'network.outgoing.bytes',
  'network.incoming.packets',
  'network.outgoing.packets',
] as const;

/**
 * cpu_util in %: CPU time used between two readings over the time available to the vCPUs.
 * Null when there is no earlier reading or the counter went back (a new process).
 */
export function cpuUtil(
  previous: { cpuTimeNs: number; atMs: number } | undefined,
  cpuTimeNs: number,
  atMs: number,
  vcpus: number,
): number | null {
  if (!previous || atMs <= previous.atMs || cpuTimeNs < previous.cpuTimeNs) return null;
  const elapsedNs = (atMs - previous.atMs) * 1e6;
  const util = ((cpuTimeNs - previous.cpuTimeNs) / (elapsedNs * Math.max(1, vcpus))) * 100;
  return Math.min(100, Math.max(0, util));
}

/** The samples one stats read gives: the server's, each disk's and each port's. */
export function serverSamples(
  server: PolledServer,
  stats: InstanceStats,
  timestamp: Date,
  history: CpuHistory,
): Sample[] {
  const at = timestamp.getTime();
  const out: Sample[] = [];
  const add = (meter: string, resourceType: MeteredType, resourceId: string, value: number) =>
    out.push({ meter, resourceType, resourceId, projectId: server.projectId, timestamp, value });
  const id = server.id;
  add('cpu', 'server', id, stats.cpuTimeNs);
  const util = cpuUtil(history.get(id), stats.cpuTimeNs, at, stats.vcpus);
  history.set(id, { cpuTimeNs: stats.cpuTimeNs, atMs: at });
  if (util !== null) add('cpu_util', 'server', id, util);
  add('vcpus', 'server', id, stats.vcpus);
  add('memory', 'server', id, stats.memoryMib);
  add('memory.usage', 'server', id, stats.memoryUsageMib);
  const sum = (pick: (d: InstanceStats['disks'][number]) => number) =>
    stats.disks.reduce((acc, d) => acc + pick(d), 0);
  add(
    'disk.read.bytes',
    'server',
    id,
    sum((d) => d.readBytes),
  );
  add(
    'disk.write.bytes',
    'server',
    id,
    sum((d) => d.writeBytes),
  );
  add(
    'disk.read.requests',
    'server',
    id,
    sum((d) => d.readRequests),
  );
  add(
    'disk.write.requests',
    'server',
    id,
    sum((d) => d.writeRequests),
  );
  for (const d of stats.disks) {
    const disk = `${id}/${d.device}`;
    add('disk.device.read.bytes', 'server_disk', disk, d.readBytes);
    add('disk.device.write.bytes', 'server_disk', disk, d.writeBytes);
    add('disk.device.read.requests', 'server_disk', disk, d.readRequests);
    add('disk.device.write.requests', 'server_disk', disk, d.writeRequests);
  }
  const nicSum = (pick: (n: InstanceStats['nics'][number]) => number) =>
    stats.nics.reduce((acc, n) => acc + pick(n), 0);
  add(
    'network.incoming.bytes',
    'server',
    id,
    nicSum((n) => n.incomingBytes),
  );
  add(
    'network.outgoing.bytes',
    'server',
    id,
    nicSum((n) => n.outgoingBytes),
  );
  add(
    'network.incoming.packets',
    'server',
    id,
    nicSum((n) => n.incomingPackets),
  );
  add(
    'network.outgoing.packets',
    'server',
    id,
    nicSum((n) => n.outgoingPackets),
  );
  for (const n of stats.nics) {
    add('network.incoming.bytes', 'port', n.portId, n.incomingBytes);
    add('network.outgoing.bytes', 'port', n.portId, n.outgoingBytes);
    add('network.incoming.packets', 'port', n.portId, n.incomingPackets);
    add('network.outgoing.packets', 'port', n.portId, n.outgoingPackets);
  }
  return out;
}

/** A server whose read failed: what the DB knows still counts, the rest is a gap with why. */
export function unreadServer(
  server: PolledServer,
  timestamp: Date,
  reason: string,
): { samples: Sample[]; gaps: SampleGap[] } {
  const base = { resourceType: 'server' as const, resourceId: server.id, timestamp };
  const projectId = server.projectId;
  return {
    samples: [
      { ...base, projectId, meter: 'vcpus', value: server.vcpus },
      { ...base, projectId, meter: 'memory', value: server.memoryMib },
    ],
    gaps: SERVER_READ_METERS.map((meter) => ({ ...base, projectId, meter, reason })),
  };
}
