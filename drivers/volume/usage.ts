import { runTool } from '../compute/host-process';
import type { VolumeDriver } from './types';

/** What a volume takes on its backend, for metering (`volume.allocated`). */
export interface VolumeUsage {
  /** Bytes the backend has allocated to it (a sparse file's blocks; an LV's extents). */
  allocatedBytes: number;
}

/**
 * Reads a volume's usage through its driver: a file volume's `actual-size` from
 * `qemu-img info --output=json -U` (-U: the file may be open in a running guest), an LVM
 * volume's size from `lvs` (a thick LV has all its extents allocated).
 */
export async function volumeUsage(
  driver: VolumeDriver,
  volumeId: string,
  tools: { qemuImg?: string; lvs?: string } = {},
): Promise<VolumeUsage> {
  const info = await driver.connectionInfo(volumeId);
  if (driver.info().name === 'lvm') {
    const { stdout } = await runTool(
      tools.lvs ?? 'lvs',
      ['--noheadings', '--units', 'b', '--nosuffix', '-o', 'lv_size', info.path],
      { timeoutMs: 10_000 },
    );
    return { allocatedBytes: parseNumber(stdout.trim(), 'lvs lv_size') };
  }
  const { stdout } = await runTool(
    tools.qemuImg ?? 'qemu-img',
    ['info', '--output=json', '-U', info.path],
    { timeoutMs: 10_000 },
  );
  const parsed = JSON.parse(stdout) as { 'actual-size'?: number };
  return { allocatedBytes: parseNumber(String(parsed['actual-size']), 'qemu-img actual-size') };
}

function parseNumber(text: string, what: string): number {
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`${what} is not a number: "${text}"`);
  return value;
}
