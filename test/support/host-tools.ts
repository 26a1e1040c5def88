import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Paths the QEMU tests share: the guest build script and where its output is cached. */
export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BUILD_GUEST = path.join(REPO, 'scripts/build-test-guest');
export const GUEST_DIR = path.join(os.tmpdir(), 'stratus-test-guest');

/** Whether `binary --version` runs on this machine. */
export function runs(binary: string): boolean {
  try {
    execFileSync(binary, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why the real-QEMU tests cannot run here, or null when they can. Under CI=true it is always
 * null: a missing tool must fail the run there, not skip it.
 */
export function qemuSkipReason(): string | null {
  if (process.env.CI === 'true') return null;
  if (!runs('qemu-system-x86_64') || !runs('qemu-img')) {
    return 'qemu-system-x86_64 or qemu-img is missing; scripts/install-deps installs them';
  }
  if (!existsSync(BUILD_GUEST)) return 'scripts/build-test-guest is missing';
  return null;
}
