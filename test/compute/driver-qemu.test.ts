import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ComputeDriver,
  type ComputeEvent,
  HypervisorCommandError,
  type InstanceSpec,
  InvalidInstanceSpecError,
  loadComputeDriver,
} from '../../drivers/compute/index';
import { BUILD_GUEST, GUEST_DIR, qemuSkipReason } from '../support/host-tools';

/**
 * The qemu compute driver with real QEMU (TCG) booting the test guest of
 * scripts/build-test-guest: it prints STRATUS-GUEST-BOOT-OK on ttyS0, then the user data it
 * read from fw_cfg between STRATUS-USERDATA-BEGIN/END, and powers off on the ACPI button.
 */

const skipReason = qemuSkipReason();
const skip = skipReason !== null;
const title = skip
  ? `qemu compute driver with real VMs (skipped: ${skipReason})`
  : 'qemu compute driver with real VMs';

const BOOT = 'STRATUS-GUEST-BOOT-OK';

describe.skipIf(skip)(title, () => {
  let stateDir: string;
  let base: string;
  let driver: ComputeDriver;
  const events: ComputeEvent[] = [];

  beforeAll(async () => {
    execFileSync(BUILD_GUEST, [GUEST_DIR], { stdio: 'ignore', timeout: 15 * 60_000 });
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-qemu-'));
    base = path.join(stateDir, 'base.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
    driver = await loadComputeDriver('qemu', { stateDir, accelerator: 'tcg' });
    driver.onEvent((e) => events.push(e));
  }, 20 * 60_000);

  afterAll(async () => {
    if (!driver) return;
    for (const id of await driver.list({ all: true })) await driver.destroy(id);
    await driver.close();
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  function spec(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
    return {
      instanceId: randomUUID(),
      name: 'qemu-test',
      vcpus: 1,
      memoryMib: 256,
      rootDisk: { baseImagePath: base, format: 'qcow2', sizeGib: 1 },
      kernel: {
        kernelPath: path.join(GUEST_DIR, 'vmlinuz'),
        initrdPath: path.join(GUEST_DIR, 'initrd.img'),
      },
      ...overrides,
    };
  }

  async function until<T>(probe: () => Promise<T | undefined | false>, what: string, ms = 90_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The console log once the boot line appeared `count` times. */
  function bootLines(id: string, count: number) {
    return until(async () => {
      const log = await driver.consoleLog(id);
      return log.split(BOOT).length - 1 >= count ? log : undefined;
    }, `${count} boot line(s) of ${id}`);
  }

  async function processGone(pid: number) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    return stat === '' || / [ZX] /.test(stat.slice(stat.lastIndexOf(')')));
  }

  it('runs an instance through its lifecycle and leaves nothing after destroy', async () => {
    const s = spec({ userData: '#cloud-config\nhostname: qemu-test\n' });
    const id = s.instanceId;
    const handle = await driver.spawn(s);
    expect(handle).toMatchObject({ running: true, qmpStatus: 'running', powerState: 'running' });

    // The guest booted and read its user data from fw_cfg (waiting for the whole block: the
    // console is read while the guest is still writing it).
    await bootLines(id, 1);
    const log = await until(async () => {
      const text = await driver.consoleLog(id);
      return text.includes('STRATUS-USERDATA-END') ? text : undefined;
    }, 'the end of the user data');
    expect(log).toMatch(
      /STRATUS-USERDATA-BEGIN\r?\n#cloud-config\r?\nhostname: qemu-test\r?\nSTRATUS-USERDATA-END/,
    );
    expect((await driver.consoleLog(id, 2)).trimEnd().split('\n')).toHaveLength(2);

    // Pause and unpause, as QMP query-status sees them.
    await driver.pause(id);
    expect((await driver.status(id)).qmpStatus).toBe('paused');
    await driver.unpause(id);
    expect((await driver.status(id)).qmpStatus).toBe('running');

    // A hard reboot resets the machine: the guest boots a second time in the same process.
    const pid = (await driver.status(id)).pid;
    await expect(driver.reboot(id, { hard: true })).resolves.toEqual({ method: 'reset' });
    await bootLines(id, 2);
    expect((await driver.status(id)).pid).toBe(pid);

    // A graceful power-off the guest cannot finish in time falls back to quit.
    const mark = events.length;
    await expect(driver.powerOff(id, { graceful: true, timeoutMs: 0 })).resolves.toEqual({
      method: 'quit',
    });
    const kinds = events.slice(mark).filter((e) => e.instanceId === id);
    expect(kinds[0].kind).toBe('POWERDOWN');
    expect(kinds.at(-1)).toMatchObject({ kind: 'SHUTDOWN' });
    expect(kinds.map((e) => e.kind)).not.toContain('GONE');
    expect(await driver.status(id)).toMatchObject({ running: false, powerState: 'shutdown' });
    expect(await processGone(pid!)).toBe(true);

    await driver.destroy(id);
    expect(existsSync(path.join(stateDir, 'instances', id))).toBe(false);
  });

  it('notices a kill -9 of the QEMU process within 5 seconds (GONE)', async () => {
    const s = spec();
    const id = s.instanceId;
    const { pid } = await driver.spawn(s);
    expect(pid).toEqual(expect.any(Number));
    const mark = events.length;
    const killedAt = Date.now();
    process.kill(pid!, 'SIGKILL');
    const gone = await until(
      async () => events.slice(mark).find((e) => e.instanceId === id && e.kind === 'GONE'),
      'GONE',
      5_000,
    );
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect(gone.detail).toContain(String(pid));
    expect(await driver.status(id)).toMatchObject({ running: false, pid: null });
    expect(await driver.list()).not.toContain(id);

    // What is left after the kill (stale pidfile and socket) does not stop a new start.
    const again = await driver.start(id);
    expect(again).toMatchObject({ running: true, powerState: 'running' });
    expect(again.pid).not.toBe(pid);

    await driver.destroy(id);
    expect(await processGone(again.pid!)).toBe(true);
    expect(existsSync(path.join(stateDir, 'instances', id))).toBe(false);
  });

  it('boots a diskless instance from its kernel alone', async () => {
    const s = spec({ rootDisk: null, userData: undefined });
    await driver.spawn(s);
    await bootLines(s.instanceId, 1);
    await until(
      async () => (await driver.consoleLog(s.instanceId)).includes('STRATUS-USERDATA-NONE'),
      'STRATUS-USERDATA-NONE',
    );
    await driver.destroy(s.instanceId);
  });

  it('undoes every step when QEMU refuses to start, reporting its stderr', async () => {
    const s = spec({ kernel: { kernelPath: path.join(stateDir, 'no-such-kernel') } });
    const failure = driver.spawn(s);
    await expect(failure).rejects.toBeInstanceOf(HypervisorCommandError);
    await expect(failure).rejects.toThrow(
      /starting qemu of instance ".*" failed: .*no-such-kernel/,
    );
    expect(existsSync(path.join(stateDir, 'instances', s.instanceId))).toBe(false);
    expect(await driver.list({ all: true })).not.toContain(s.instanceId);
  });

  it.each([
    [
      'a missing base image',
      { baseImagePath: '/nonexistent/base.qcow2', format: 'qcow2', sizeGib: 1 },
      /"rootDisk\.baseImagePath" names no readable file/,
    ],
    [
      'a base image of another format',
      { format: 'raw', sizeGib: 1 },
      /"rootDisk\.format" is "raw" but .* is a qcow2 image/,
    ],
  ] as const)('refuses %s before creating anything', async (_name, disk, message) => {
    const s = spec({ rootDisk: { baseImagePath: base, ...disk } });
    const failure = driver.spawn(s);
    await expect(failure).rejects.toBeInstanceOf(InvalidInstanceSpecError);
    await expect(failure).rejects.toThrow(message);
    expect(existsSync(path.join(stateDir, 'instances', s.instanceId))).toBe(false);
  });

  it('refuses a disk smaller than its base image', async () => {
    const big = path.join(stateDir, 'big.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', big, '2G']);
    const s = spec({ rootDisk: { baseImagePath: big, format: 'qcow2', sizeGib: 1 } });
    await expect(driver.spawn(s)).rejects.toThrow(
      /"rootDisk\.sizeGib" is 1 GiB, smaller than the base image \(2147483648 bytes\)/,
    );
  });

  it('snapshots into a standalone qcow2 without its backing file', async () => {
    const s = spec();
    await driver.spawn(s);
    const dest = path.join(stateDir, 'snapshot.qcow2');
    await driver.snapshot(s.instanceId, dest);
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '--output=json', dest], { encoding: 'utf8' }),
    );
    expect(info.format).toBe('qcow2');
    expect(info['backing-filename']).toBeUndefined();
    expect(info['virtual-size']).toBe(1024 ** 3);
    expect((await driver.status(s.instanceId)).qmpStatus).toBe('running');
    await driver.destroy(s.instanceId);
  });
});
