import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What `qemu-img info` tells about the start of a disk image. */
export interface DiskImageInfo {
  /** The format qemu-img detects from the bytes (raw when it recognises none). */
  format: string;
  virtualSizeBytes: number;
  backingFile: string | null;
  /** qcow2's external data file, another way to make an image read a host path. */
  dataFile: string | null;
}

/**
 * Inspects a file holding the first bytes of an image with `qemu-img info`, letting it probe
 * the format rather than trusting a declared one. `-U` because Stratus holds no lock on it.
 */
export async function inspectDiskImage(path: string, qemuImg = 'qemu-img'): Promise<DiskImageInfo> {
  const { stdout } = await run(qemuImg, ['info', '-U', '--output=json', path], { timeout: 30_000 });
  const info = JSON.parse(stdout) as {
    format: string;
    'virtual-size': number;
    'backing-filename'?: string;
    'format-specific'?: { data?: { 'data-file'?: string } };
  };
  return {
    format: info.format,
    virtualSizeBytes: info['virtual-size'],
    backingFile: info['backing-filename'] ?? null,
    dataFile: info['format-specific']?.data?.['data-file'] ?? null,
  };
}
