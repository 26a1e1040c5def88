import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
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
  InstanceStateError,
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

  /** A shut-off instance (spawned, then ended at once) and its folder. */
  async function shutOff(overrides: Partial<InstanceSpec> = {}) {
    const s = spec(overrides);
    await driver.spawn(s);
    await driver.powerOff(s.instanceId, { graceful: false });
    return { id: s.instanceId, dir: path.join(stateDir, 'instances', s.instanceId) };
  }

  /** A sha256 of every file in the instance folder but the console log, by name. */
  async function snapshotOf(dir: string) {
    const files = (await fs.readdir(dir)).filter((f) => f !== 'console.log').sort();
    const bytes: Record<string, string> = {};
    for (const f of files) {
      if ((await fs.stat(path.join(dir, f))).isFile()) {
        bytes[f] = createHash('sha256')
          .update(await fs.readFile(path.join(dir, f)))
          .digest('hex');
      }
    }
    return bytes;
  }

  it('undoes a resize and a rebuild whose last step fails, keeping the old disk', async () => {
    const { id, dir } = await shutOff();
    const before = await snapshotOf(dir);
    // A folder where instance.json's temporary file goes: writing the new definition, the
    // last step, fails after the disk was grown or swapped.
    await fs.mkdir(path.join(dir, 'instance.json.tmp'));
    const other = path.join(stateDir, 'other-undo.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', other, '96M']);

    await expect(driver.resize(id, { vcpus: 2, memoryMib: 320, rootDiskGib: 3 })).rejects.toThrow(
      /EISDIR|directory/,
    );
    expect(await driver.hasPendingResize(id)).toBe(false);
    await expect(
      driver.rebuild(id, { rootDisk: { baseImagePath: other, format: 'qcow2', sizeGib: 2 } }),
    ).rejects.toThrow(/EISDIR|directory/);

    await fs.rmdir(path.join(dir, 'instance.json.tmp'));
    // Byte for byte what was there: same disk (1 GiB over base.qcow2), same definition.
    expect(await snapshotOf(dir)).toEqual(before);
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '--output=json', path.join(dir, 'disk.qcow2')], {
        encoding: 'utf8',
      }),
    );
    expect(info).toMatchObject({ 'virtual-size': 1024 ** 3, 'backing-filename': base });
    await driver.destroy(id);
  });

  it('refuses a rebuild from a missing or mislabelled base image before touching anything', async () => {
    const { id, dir } = await shutOff();
    const before = await snapshotOf(dir);
    const missing = driver.rebuild(id, {
      rootDisk: { baseImagePath: path.join(stateDir, 'gone.qcow2'), format: 'qcow2', sizeGib: 1 },
    });
    await expect(missing).rejects.toBeInstanceOf(InvalidInstanceSpecError);
    await expect(missing).rejects.toThrow(/"rootDisk\.baseImagePath" names no readable file/);
    await expect(
      driver.rebuild(id, { rootDisk: { baseImagePath: base, format: 'raw', sizeGib: 1 } }),
    ).rejects.toThrow(/"rootDisk\.format" is "raw" but .* is a qcow2 image/);
    expect(await snapshotOf(dir)).toEqual(before);
    await driver.destroy(id);
  });

  it('resizes a paused instance no more than a running one', async () => {
    const s = spec({ startPaused: true });
    await driver.spawn(s);
    const failure = driver.resize(s.instanceId, { vcpus: 2, memoryMib: 320, rootDiskGib: 1 });
    await expect(failure).rejects.toBeInstanceOf(InstanceStateError);
    await expect(failure).rejects.toThrow('it is paused (it must be shut off)');
    await driver.destroy(s.instanceId);
  });

  it('resizes a diskless instance (nothing to copy or grow) and rebuilds it with a disk', async () => {
    const { id, dir } = await shutOff({ rootDisk: null });
    await driver.resize(id, { vcpus: 2, memoryMib: 320, rootDiskGib: 4 });
    expect((await fs.readdir(dir)).filter((f) => f.includes('pre-resize'))).toEqual([
      'instance.json.pre-resize',
    ]);
    await driver.confirmResize(id);
    expect((await fs.readdir(dir)).filter((f) => f.includes('pre-'))).toEqual([]);

    await driver.rebuild(id, { rootDisk: { baseImagePath: base, format: 'qcow2', sizeGib: 2 } });
    const stored = JSON.parse(await fs.readFile(path.join(dir, 'instance.json'), 'utf8'));
    expect(stored).toMatchObject({ vcpus: 2, memoryMib: 320, rootDisk: { sizeGib: 2 } });
    expect(stored.kernel).toBeUndefined();
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '--output=json', path.join(dir, 'disk.qcow2')], {
        encoding: 'utf8',
      }),
    );
    expect(info).toMatchObject({ 'virtual-size': 2 * 1024 ** 3, 'backing-filename': base });
    expect((await fs.readdir(dir)).filter((f) => /rebuild|\.tmp$/.test(f))).toEqual([]);
    await driver.destroy(id);
  });

  it('starts a resized instance with the new size on its QEMU command line', async () => {
    const { id } = await shutOff();
    await driver.resize(id, { vcpus: 3, memoryMib: 272, rootDiskGib: 1 });
    const { pid } = await driver.start(id);
    const argv = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    expect(argv.slice(argv.indexOf('-m'), argv.indexOf('-m') + 2)).toEqual(['-m', '272M']);
    expect(argv.slice(argv.indexOf('-smp'), argv.indexOf('-smp') + 2)).toEqual(['-smp', '3']);
    await driver.destroy(id);
    expect(existsSync(path.join(stateDir, 'instances', id))).toBe(false);
  });
});
