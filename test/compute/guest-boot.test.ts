import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * The test guest the compute tests boot (scripts/build-test-guest, test/guest/README.md): a
 * Debian cloud kernel and a busybox initramfs, booted with QEMU under TCG exactly as the QEMU
 * driver will, and read through its serial console.
 */

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BUILD = join(REPO, 'scripts/build-test-guest');
const GUEST = join(REPO, '.cache/test-guest');
const MAC = '52:54:00:12:34:56';
const USER_DATA = 'hello-from-test';

// Building downloads ~27 MB with apt and packs an initramfs; TCG boots take seconds and much
// longer on a loaded machine. Generous waits, no wall-clock assertions.
const BUILD_TIMEOUT = 600_000;
const WAIT = 120_000;

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const missing = [
  ...['qemu-system-x86_64', 'qemu-img', 'apt-get', 'dpkg-deb', 'cpio'].filter((c) => !onPath(c)),
  ...['/bin/busybox'].filter((path) => {
    try {
      accessSync(path, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  }),
];
const skip = missing.length > 0 && process.env.CI !== 'true';
const title = skip
  ? `test guest boots under QEMU (skipped: ${missing.join(', ')} missing; scripts/install-deps installs them)`
  : 'test guest boots under QEMU';

interface Guest {
  process: ChildProcess;
  /** Console output so far, with \r\n turned into \n. */
  output(): string;
  /** Resolves with the first match of `pattern` in the console output. */
  waitFor(pattern: RegExp, timeout?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  qmpSocket: string;
}

describe.skipIf(skip)(title, () => {
  let dir: string;
  let disk: string;
  const running: ChildProcess[] = [];

  beforeAll(() => {
    if (missing.length > 0) {
      throw new Error(`${missing.join(', ')} missing and CI=true: run scripts/install-deps`);
    }
    try {
      execFileSync(BUILD, [GUEST], {
        timeout: BUILD_TIMEOUT,
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
      });
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`scripts/build-test-guest failed: ${e.stderr || e.message}`);
    }
    dir = mkdtempSync(join(tmpdir(), 'stratus-guest-'));
    disk = join(dir, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-f', 'qcow2', disk, '64M'], { stdio: 'ignore' });
  }, BUILD_TIMEOUT + 10_000);

  afterEach(() => {
    for (const p of running.splice(0)) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function boot(name: string): Guest {
    const qmpSocket = join(dir, `${name}.qmp`);
    const qemu = spawn(
      'qemu-system-x86_64',
      [
        ...['-accel', 'tcg', '-m', '256', '-nographic', '-no-reboot'],
        ...['-kernel', join(GUEST, 'vmlinuz'), '-initrd', join(GUEST, 'initrd.img')],
        ...['-append', 'console=ttyS0 panic=-1'],
        ...['-fw_cfg', `name=opt/stratus/user-data,string=${USER_DATA}`],
        ...['-drive', `file=${disk},if=virtio,snapshot=on`],
        ...['-netdev', 'user,id=n0,restrict=on', '-device', `virtio-net-pci,netdev=n0,mac=${MAC}`],
        ...['-qmp', `unix:${qmpSocket},server=on,wait=off`],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.push(qemu);
    let output = '';
    let stderr = '';
    const listeners = new Set<() => void>();
    qemu.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk.replace(/\r/g, '');
      for (const listener of [...listeners]) listener();
    });
    qemu.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      qemu.on('exit', (code, signal) => {
        done({ code, signal });
        for (const listener of [...listeners]) listener();
      }),
    );
    const tail = () =>
      `\n--- console (last 3000 chars) ---\n${output.slice(-3000)}\n--- stderr ---\n${stderr}`;

    return {
      process: qemu,
      output: () => output,
      exited,
      qmpSocket,
      waitFor(pattern, timeout = WAIT) {
        return new Promise((done, fail) => {
          const check = () => {
            // Whole lines only: the last one may still be arriving.
            const match = output.slice(0, output.lastIndexOf('\n') + 1).match(pattern);
            if (match) {
              finish();
              done(match);
            } else if (qemu.exitCode !== null || qemu.signalCode !== null) {
              finish();
              fail(new Error(`QEMU exited before ${pattern} appeared${tail()}`));
            }
          };
          const timer = setTimeout(() => {
            finish();
            fail(new Error(`${pattern} did not appear within ${timeout} ms${tail()}`));
          }, timeout);
          const finish = () => {
            clearTimeout(timer);
            listeners.delete(check);
          };
          listeners.add(check);
          check();
        });
      },
    };
  }

  /** Sends QMP commands after the capabilities handshake; resolves with their replies. */
  function qmp(socket: string, commands: string[]): Promise<unknown[]> {
    return new Promise((done, fail) => {
      const replies: unknown[] = [];
      let buffer = '';
      let greeted = false;
      const conn = connect(socket);
      conn.setEncoding('utf8');
      conn.on('error', fail);
      conn.on('data', (chunk: string) => {
        buffer += chunk;
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          const message = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
          buffer = buffer.slice(nl + 1);
          if ('QMP' in message && !greeted) {
            greeted = true;
            conn.write(
              [{ execute: 'qmp_capabilities' }, ...commands.map((execute) => ({ execute }))]
                .map((c) => `${JSON.stringify(c)}\n`)
                .join(''),
            );
          } else if ('return' in message || 'error' in message) {
            replies.push(message);
            if (replies.length === commands.length + 1) {
              conn.end();
              done(replies.slice(1));
            }
          }
        }
      });
    });
  }

  it(
    'prints the boot line, its user data, its virtio disk and its virtio NIC on the serial console',
    async () => {
      const guest = boot('lines');
      await guest.waitFor(/^STRATUS-GUEST-BOOT-OK$/m);
      const [, userData] = await guest.waitFor(
        /^STRATUS-USERDATA-BEGIN\n([\s\S]*?)\nSTRATUS-USERDATA-END$/m,
      );
      expect(userData).toBe(USER_DATA);
      const [blockLine] = await guest.waitFor(/^STRATUS-BLOCK:.*\bvda\b.*$/m);
      expect(blockLine.split(' ').slice(1)).toContain('vda');
      const [netLine] = await guest.waitFor(/^STRATUS-NET:.*=.*$/m);
      expect(netLine).toMatch(new RegExp(`\\beth\\d+=${MAC}\\b`));
      expect(guest.output()).not.toMatch(/STRATUS-MODULE-FAILED|Kernel panic/);
    },
    WAIT * 4,
  );

  it(
    'powers itself off on the ACPI power button (QMP system_powerdown)',
    async () => {
      const guest = boot('powerdown');
      // acpid starts after the user-data lines; the first STRATUS-BLOCK line comes after it.
      await guest.waitFor(/^STRATUS-BLOCK:/m);
      const [reply] = await qmp(guest.qmpSocket, ['system_powerdown']);
      expect(reply).toEqual({ return: {} });
      await guest.waitFor(/^STRATUS-POWEROFF$/m);
      const exit = await Promise.race([
        guest.exited,
        new Promise<'timeout'>((done) => setTimeout(() => done('timeout'), WAIT).unref()),
      ]);
      expect(exit).toEqual({ code: 0, signal: null });
    },
    WAIT * 4,
  );
});
