import type { InstanceSpec, InstanceStats } from './types';

/**
 * Plausible, deterministic counters for a fake instance, `elapsedMs` after it was first
 * measured: CPU grows with a per-server load factor (metadata `fake:cpu_load`, 0-1, else one
 * derived from the id), memory steady at 60 % of the flavor, disk and network counters grow
 * linearly. Same inputs, same figures: benchmarks and tests can compute what to expect.
 */
export function fakeStats(
  spec: InstanceSpec,
  diskDevices: readonly string[],
  elapsedMs: number,
): InstanceStats {
  const load = fakeLoadFactor(spec);
  const seconds = Math.max(0, elapsedMs) / 1000;
  const cpuTimeNs = Math.round(load * spec.vcpus * seconds * 1e9);
  const disks = diskDevices.map((device, i) => {
    const rate = (i + 1) * 4096;
    return {
      device,
      readBytes: Math.round(rate * 16 * seconds),
      writeBytes: Math.round(rate * 8 * seconds),
      readRequests: Math.round(16 * seconds),
      writeRequests: Math.round(8 * seconds),
    };
  });
  const nics = (spec.nics ?? []).map((nic) => ({
    portId: nic.portId,
    tapName: nic.tapName,
    incomingBytes: Math.round(12_000 * seconds),
    outgoingBytes: Math.round(3_000 * seconds),
    incomingPackets: Math.round(10 * seconds),
    outgoingPackets: Math.round(5 * seconds),
  }));
  return {
    cpuTimeNs,
    vcpus: spec.vcpus,
    memoryMib: spec.memoryMib,
    memoryUsageMib: Math.round(spec.memoryMib * 0.6),
    disks,
    nics,
  };
}

/** The share of its vCPUs a fake server keeps busy: metadata `fake:cpu_load`, else from its id. */
export function fakeLoadFactor(spec: InstanceSpec): number {
  const given = Number(spec.metadata?.['fake:cpu_load']);
  if (spec.metadata?.['fake:cpu_load'] !== undefined && Number.isFinite(given)) {
    return Math.min(1, Math.max(0, given));
  }
  let hash = 0;
  for (const ch of spec.instanceId) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return 0.05 + (hash % 90) / 100;
}
