import fs from 'node:fs/promises';
import { readTapAsGuest } from '../network/tap-stats';
import { volumeNames } from './qemu-args';
import type { DiskStats, NicSpec, NicStats, VolumeAttachmentSpec } from './types';

/**
 * Reading a QEMU instance's counters for metering, the way libvirt does for its domain
 * stats: CPU time and RSS of the process from /proc, block counters from QMP
 * `query-blockstats`, NIC counters from the taps.
 */

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux ABI Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime of a process in ns, from the text of /proc/<pid>/stat. */
export function parseProcStatCpuNs(text: string): number {
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const rest = text
    .slice(text.lastIndexOf(')') + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error('/proc/<pid>/stat has no utime/stime');
  }
  return ((utime + stime) * 1e9) / CLOCK_TICKS_PER_SECOND;
}

/** VmRSS in MiB, from the text of /proc/<pid>/status. */
export function parseProcStatusRssMib(text: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  if (!match) throw new Error('/proc/<pid>/status has no VmRSS');
  return Number(match[1]) / 1024;
}

export async function processCpuNs(pid: number): Promise<number> {
  return parseProcStatCpuNs(await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
}

export async function processRssMib(pid: number): Promise<number> {
  return parseProcStatusRssMib(await fs.readFile(`/proc/${pid}/status`, 'utf8'));
}

/** One entry of QMP `query-blockstats` (the fields used here). */
export interface BlockstatsEntry {
  device?: string;
  qdev?: string;
  stats: {
    rd_bytes: number;
    wr_bytes: number;
    rd_operations: number;
    wr_operations: number;
  };
}

/**
 * Per guest device counters: the root overlay (`-drive if=virtio`, QMP device `virtio0`) is
 * vda; volumes (device `disk-<key>`) follow in definition order (root volume first), which
 * is the order the guest's kernel names them.
 */
export function diskStatsOf(
  entries: readonly BlockstatsEntry[],
  rootOverlay: boolean,
  volumes: readonly VolumeAttachmentSpec[],
): DiskStats[] {
  const toStats = (device: string, e: BlockstatsEntry): DiskStats => ({
    device,
    readBytes: e.stats.rd_bytes,
    writeBytes: e.stats.wr_bytes,
    readRequests: e.stats.rd_operations,
    writeRequests: e.stats.wr_operations,
  });
  const out: DiskStats[] = [];
  let letter = 0;
  const next = () => `vd${String.fromCharCode(97 + letter++)}`;
  if (rootOverlay) {
    const root = entries.find((e) => e.device === 'virtio0');
    const name = next();
    if (root) out.push(toStats(name, root));
  }
  for (const volume of volumes) {
    const id = volumeNames(volume.volumeId).deviceId;
    // qdev is the device id or its QOM path (/machine/peripheral/<id>/virtio-backend).
    const entry = entries.find((e) => {
      const q = e.qdev ?? '';
      return q === id || q.startsWith(`${id}/`) || q.includes(`/${id}/`) || q.endsWith(`/${id}`);
    });
    const name = next();
    if (entry) out.push(toStats(name, entry));
  }
  return out;
}

/** Counters of each NIC (guest's view), in guest order. */
export async function nicStatsOf(nics: readonly NicSpec[]): Promise<NicStats[]> {
  return Promise.all(
    nics.map(async (nic) => ({
      portId: nic.portId,
      tapName: nic.tapName,
      ...(await readTapAsGuest(nic.tapName)),
    })),
  );
}
