import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ComputeDriver,
  type ComputeEvent,
  FakeComputeDriver,
  FakeHost,
  InstanceExistsError,
  InstanceNotFoundError,
  type InstanceSpec,
  InstanceStateError,
  InvalidInstanceSpecError,
  isVolumeRootDisk,
  QemuComputeDriver,
  type RootDiskSpec,
  VolumeAlreadyAttachedError,
  type VolumeAttachmentSpec,
  VolumeDetachTimeoutError,
  VolumeNotAttachedError,
} from '../../drivers/compute/index';
import { BUILD_GUEST, GUEST_DIR, qemuSkipReason } from '../support/host-tools';

/**
 * One conformance suite over every compute driver: the fake must answer like qemu (same
 * statuses, same events, same errors), since the service layer's tests run against the fake.
 * The qemu run boots the test guest (scripts/build-test-guest) under TCG.
 */

const qemuSkip = qemuSkipReason();
const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

/** What `start` would launch for an instance, as read from the host behind the driver. */
interface Definition {
  vcpus: number;
  memoryMib: number;
  /** Virtual size of the root disk (qemu: of the overlay, by `qemu-img info`); null: diskless. */
  diskBytes: number | null;
  /** The base image under the root disk, and its virtual size. */
  backingFile: string | null;
  backingBytes: number | null;
  /** Identifies the root disk's content (qemu: a sha256 of the overlay file). */
  diskDigest: string | null;
  /** What is kept for a revert, or left over (qemu: such files in the instance folder). */
  kept: string[];
}

/** What a conformance run needs from a driver's world. */
interface World {
  driver: ComputeDriver;
  /** A second driver on the same host, as after a Stratus restart. */
  reopen(): ComputeDriver;
  spec(overrides?: Partial<InstanceSpec>): InstanceSpec;
  /** A path for snapshots. */
  scratch: string;
  /** A second base image (96 MiB where the default is 64 MiB), for rebuilds. */
  otherImage: Omit<RootDiskSpec, 'sizeGib'>;
  /** The instance's definition and disk, read behind the driver's back. */
  inspect(instanceId: string): Promise<Definition>;
  /** What `inspect(...).kept` lists while a resize is pending. */
  keptForRevert: string[];
  /** A new volume of `mib` MiB (qemu: a qcow2 by qemu-img; fake: a sparse raw file). */
  volume(mib: number): Promise<VolumeAttachmentSpec>;
  cleanup(): Promise<void>;
}

function newId(): string {
  return randomUUID();
}

async function fakeWorld(): Promise<World> {
  const host = new FakeHost();
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-cc-fake-'));
  const imageBytes: Record<string, number> = {
    '/images/base.qcow2': 64 * MIB,
    '/images/other.qcow2': 96 * MIB,
  };
  return {
    driver: new FakeComputeDriver({ host }),
    reopen: () => new FakeComputeDriver({ host }),
    spec: (overrides) => ({
      instanceId: newId(),
      name: 'conformance',
      vcpus: 1,
      memoryMib: 256,
      rootDisk: { baseImagePath: '/images/base.qcow2', format: 'qcow2', sizeGib: 1 },
      kernel: { kernelPath: '/boot/vmlinuz', initrdPath: '/boot/initrd.img' },
      ...overrides,
    }),
    scratch,
    otherImage: { baseImagePath: '/images/other.qcow2', format: 'qcow2' },
    inspect: async (instanceId) => {
      const instance = host.instances.get(instanceId);
      if (!instance) throw new Error(`no fake instance ${instanceId}`);
      const { vcpus, memoryMib } = instance.spec;
      const rootDisk = isVolumeRootDisk(instance.spec.rootDisk) ? null : instance.spec.rootDisk;
      return {
        vcpus,
        memoryMib,
        diskBytes: rootDisk ? rootDisk.sizeGib * GIB : null,
        backingFile: rootDisk?.baseImagePath ?? null,
        backingBytes: rootDisk ? imageBytes[rootDisk.baseImagePath] : null,
        diskDigest: rootDisk ? JSON.stringify(rootDisk) : null,
        kept: instance.preResize ? ['pre-resize spec'] : [],
      };
    },
    keptForRevert: ['pre-resize spec'],
    volume: async (mib) => {
      const volumeId = newId();
      const file = path.join(scratch, `volume-${volumeId}.img`);
      await fs.writeFile(file, '');
      await fs.truncate(file, mib * MIB);
      return { volumeId, driver: 'raw', path: file };
    },
    cleanup: () => fs.rm(scratch, { recursive: true, force: true }),
  };
}

function imageInfo(file: string): { 'virtual-size': number; 'full-backing-filename'?: string } {
  return JSON.parse(
    execFileSync('qemu-img', ['info', '-U', '--output=json', file], { encoding: 'utf8' }),
  );
}

async function qemuWorld(): Promise<World> {
  execFileSync(BUILD_GUEST, [GUEST_DIR], { stdio: 'ignore', timeout: 15 * 60_000 });
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-cc-'));
  const base = path.join(stateDir, 'base.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
  const other = path.join(stateDir, 'other.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', other, '96M']);
  const config = { stateDir, accelerator: 'tcg' } as const;
  const drivers: ComputeDriver[] = [];
  const open = () => {
    const driver = new QemuComputeDriver(config);
    drivers.push(driver);
    return driver;
  };
  const driver = open();
  await driver.probe();
  return {
    driver,
    reopen: open,
    spec: (overrides) => ({
      instanceId: newId(),
      name: 'conformance',
      vcpus: 1,
      memoryMib: 256,
      rootDisk: { baseImagePath: base, format: 'qcow2', sizeGib: 1 },
      kernel: {
        kernelPath: path.join(GUEST_DIR, 'vmlinuz'),
        initrdPath: path.join(GUEST_DIR, 'initrd.img'),
      },
      ...overrides,
    }),
    scratch: stateDir,
    otherImage: { baseImagePath: other, format: 'qcow2' },
    inspect: async (instanceId) => {
      const dir = path.join(stateDir, 'instances', instanceId);
      const stored = JSON.parse(await fs.readFile(path.join(dir, 'instance.json'), 'utf8'));
      const files = await fs.readdir(dir);
      const definition: Definition = {
        vcpus: stored.vcpus,
        memoryMib: stored.memoryMib,
        diskBytes: null,
        backingFile: null,
        backingBytes: null,
        diskDigest: null,
        kept: files.filter((f) => /pre-resize|pre-rebuild|\.rebuild|\.tmp$/.test(f)).sort(),
      };
      if (files.includes('disk.qcow2')) {
        const disk = path.join(dir, 'disk.qcow2');
        const info = imageInfo(disk);
        const backing = info['full-backing-filename'] ?? null;
        definition.diskBytes = info['virtual-size'];
        definition.backingFile = backing;
        definition.backingBytes = backing ? imageInfo(backing)['virtual-size'] : null;
        definition.diskDigest = createHash('sha256')
          .update(await fs.readFile(disk))
          .digest('hex');
      }
      return definition;
    },
    keptForRevert: ['disk.qcow2.pre-resize', 'instance.json.pre-resize'],
    volume: async (mib) => {
      const volumeId = newId();
      const file = path.join(stateDir, `volume-${volumeId}.qcow2`);
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${mib}M`]);
      return { volumeId, driver: 'qcow2', path: file };
    },
    cleanup: async () => {
      for (const id of await driver.list({ all: true })) await driver.destroy(id);
      for (const d of drivers) await d.close();
      await fs.rm(stateDir, { recursive: true, force: true });
    },
  };
}

async function until<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the guest finished its `n`-th boot (its init is up, acpid included). */
function booted(driver: ComputeDriver, id: string, n: number): Promise<string> {
  return until(async () => {
    const log = await driver.consoleLog(id);
    const parts = log.split('STRATUS-GUEST-BOOT-OK');
    return parts.length > n && parts[n].includes('STRATUS-BLOCK') ? log : undefined;
  }, `boot ${n} of ${id}`);
}

function boots(log: string): number {
  return log.split('STRATUS-GUEST-BOOT-OK').length - 1;
}

/**
 * What the guest's kernel reported in boot `n` (the lines before its `n`-th boot line): its
 * CPUs, its memory in KiB, and its root disk in bytes (null: no vda).
 */
function bootReport(log: string, n: number) {
  const segment = log.split('STRATUS-GUEST-BOOT-OK')[n - 1] ?? '';
  const cpus = /smp: Brought up \d+ nodes?, (\d+) CPUs?/.exec(segment)?.[1];
  const memory = /Memory: \d+K\/(\d+)K available/.exec(segment)?.[1];
  const sectors = /\[vda\] (\d+) 512-byte logical blocks/.exec(segment)?.[1];
  return {
    cpus: Number(cpus),
    memoryKib: Number(memory),
    diskBytes: sectors === undefined ? null : Number(sectors) * 512,
  };
}

/** The guest's kernel saw `memoryMib` (less what the firmware keeps, at most 16 MiB). */
function expectMemory(report: { memoryKib: number }, memoryMib: number): void {
  expect(report.memoryKib).toBeLessThanOrEqual(memoryMib * 1024);
  expect(report.memoryKib).toBeGreaterThan((memoryMib - 16) * 1024);
}

/** Records a driver's events; `after(mark)` is what came since `mark = events.length`. */
function record(driver: ComputeDriver) {
  const events: ComputeEvent[] = [];
  const off = driver.onEvent((e) => events.push(e));
  return {
    events,
    off,
    since: (mark: number, id: string) => events.slice(mark).filter((e) => e.instanceId === id),
    waitFor: (mark: number, id: string, kind: ComputeEvent['kind']) =>
      until(
        async () => events.slice(mark).find((e) => e.instanceId === id && e.kind === kind),
        `${kind} of ${id}`,
        30_000,
      ),
  };
}

function describeComputeDriver(name: string, makeWorld: () => Promise<World>, skip: string | null) {
  describe.skipIf(skip !== null)(
    skip === null ? `compute driver "${name}"` : `compute driver "${name}" (skipped: ${skip})`,
    () => {
      let world: World;
      let driver: ComputeDriver;
      let log: ReturnType<typeof record>;
      let id: string;
      /** The instance's definition before its first resize, for the revert. */
      let beforeResize: Definition;

      beforeAll(async () => {
        world = await makeWorld();
        driver = world.driver;
        log = record(driver);
      }, 20 * 60_000);
      afterAll(async () => {
        await world?.cleanup();
      });

      it('names itself and lists its capabilities as booleans', () => {
        const info = driver.info();
        expect(info.name).toBe(name);
        for (const value of Object.values(info.capabilities)) expect(typeof value).toBe('boolean');
        expect(info.capabilities).toMatchObject({ resize: true, rebuild: true });
      });

      it('probes the host resources', async () => {
        const host = await driver.probe();
        expect(host.hostname).toBeTruthy();
        expect(host.vcpus).toBeGreaterThan(0);
        expect(host.memoryMib).toBeGreaterThan(0);
        expect(host.diskGib).toBeGreaterThan(0);
        expect(['kvm', 'tcg']).toContain(host.accelerator);
      });

      it('refuses a bad spec naming the field, leaving nothing behind', async () => {
        const spec = world.spec({ vcpus: 0 });
        await expect(driver.spawn(spec)).rejects.toBeInstanceOf(InvalidInstanceSpecError);
        await expect(driver.spawn(spec)).rejects.toThrow(
          'invalid instance spec: "vcpus" must be an integer from 1 to 255, got 0',
        );
        expect(await driver.list({ all: true })).not.toContain(spec.instanceId);
        await expect(driver.status(spec.instanceId)).rejects.toBeInstanceOf(InstanceNotFoundError);
      });

      it('spawns an instance that boots and sees its user data', async () => {
        const spec = world.spec({ userData: 'conformance user data' });
        id = spec.instanceId;
        const handle = await driver.spawn(spec);
        expect(handle).toMatchObject({
          instanceId: id,
          running: true,
          qmpStatus: 'running',
          powerState: 'running',
        });
        expect(handle.pid).toEqual(expect.any(Number));
        const console = await booted(driver, id, 1);
        expect(console).toMatch(
          /STRATUS-USERDATA-BEGIN\r?\nconformance user data\r?\nSTRATUS-USERDATA-END/,
        );
        expect(await driver.list()).toContain(id);
        await expect(driver.spawn(spec)).rejects.toBeInstanceOf(InstanceExistsError);
        expect((await driver.status(id)).running).toBe(true);
      });

      it('pauses and unpauses, sending STOP and RESUME', async () => {
        const mark = log.events.length;
        await driver.pause(id);
        expect(await driver.status(id)).toMatchObject({
          qmpStatus: 'paused',
          powerState: 'paused',
        });
        await driver.unpause(id);
        expect(await driver.status(id)).toMatchObject({
          qmpStatus: 'running',
          powerState: 'running',
        });
        await log.waitFor(mark, id, 'RESUME');
        expect(log.since(mark, id).map((e) => e.kind)).toEqual(['STOP', 'RESUME']);
      });

      it('suspends and resumes, reporting suspended in between', async () => {
        await driver.suspend(id);
        expect(await driver.status(id)).toMatchObject({
          qmpStatus: 'paused',
          powerState: 'suspended',
        });
        await driver.resume(id);
        expect((await driver.status(id)).powerState).toBe('running');
      });

      it('snapshots the root disk into a standalone qcow2 and keeps the guest running', async () => {
        const dest = path.join(world.scratch, `snap-${id}.qcow2`);
        const result = await driver.snapshot(id, dest);
        expect(result.format).toBe('qcow2');
        expect(result.sizeBytes).toBe((await fs.stat(dest)).size);
        expect((await driver.status(id)).powerState).toBe('running');
        expect((await fs.readdir(world.scratch)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      });

      it('hard-reboots with a machine reset, and the guest boots again', async () => {
        const mark = log.events.length;
        await expect(driver.reboot(id, { hard: true })).resolves.toEqual({ method: 'reset' });
        const first = await log.waitFor(mark, id, 'RESET');
        expect(JSON.parse(first.detail ?? '{}')).toMatchObject({ guest: false });
        expect(boots(await booted(driver, id, 2))).toBe(2);
      });

      it('soft-reboots through the guest (ACPI), booting it again', async () => {
        const mark = log.events.length;
        const result = await driver.reboot(id, { hard: false, timeoutMs: 30_000 });
        expect(result).toEqual({ method: 'acpi' });
        expect(log.since(mark, id).map((e) => e.kind)).toEqual(['POWERDOWN', 'SHUTDOWN', 'RESET']);
        expect(log.since(mark, id)[2].detail).toBe('{"reason":"soft-reboot"}');
        expect(boots(await booted(driver, id, 3))).toBe(3);
      });

      it('powers off gracefully when the guest reacts to ACPI', async () => {
        const mark = log.events.length;
        await expect(driver.powerOff(id, { graceful: true, timeoutMs: 30_000 })).resolves.toEqual({
          method: 'acpi',
        });
        expect(log.since(mark, id).map((e) => e.kind)).toEqual(['POWERDOWN', 'SHUTDOWN']);
        expect(JSON.parse(log.since(mark, id)[1].detail ?? '{}')).toEqual({
          guest: true,
          reason: 'guest-shutdown',
        });
        expect(await driver.status(id)).toEqual({
          running: false,
          qmpStatus: null,
          pid: null,
          powerState: 'shutdown',
        });
        expect(await driver.list()).not.toContain(id);
        expect(await driver.list({ all: true })).toContain(id);
        await expect(driver.powerOff(id, { graceful: false })).resolves.toEqual({
          method: 'already-off',
        });
      });

      it('refuses to pause a shut-off instance', async () => {
        const failure = driver.pause(id);
        await expect(failure).rejects.toBeInstanceOf(InstanceStateError);
        await expect(failure).rejects.toThrow(`cannot pause instance "${id}": it is shut off`);
      });

      it('starts a shut-off instance again from its disk', async () => {
        const handle = await driver.start(id);
        expect(handle).toMatchObject({ running: true, powerState: 'running' });
        expect(boots(await booted(driver, id, 4))).toBe(4);
        const report = bootReport(await driver.consoleLog(id), 4);
        expect(report.cpus).toBe(1);
        expectMemory(report, 256);
        expect(report.diskBytes).toBe(GIB);
      });

      it('refuses to resize, revert or rebuild a running instance, changing nothing', async () => {
        const before = await world.inspect(id);
        expect(before).toMatchObject({ vcpus: 1, memoryMib: 256, diskBytes: GIB, kept: [] });
        const { pid } = await driver.status(id);
        const resize = driver.resize(id, { vcpus: 2, memoryMib: 320, rootDiskGib: 2 });
        await expect(resize).rejects.toBeInstanceOf(InstanceStateError);
        await expect(resize).rejects.toThrow(
          `cannot resize instance "${id}": it is running (it must be shut off)`,
        );
        const { kernel } = world.spec();
        const rebuild = driver.rebuild(id, {
          rootDisk: { ...world.otherImage, sizeGib: 1 },
          kernel,
        });
        await expect(rebuild).rejects.toBeInstanceOf(InstanceStateError);
        await expect(rebuild).rejects.toThrow(
          `cannot rebuild instance "${id}": it is running (it must be shut off)`,
        );
        for (const [call, operation] of [
          [() => driver.revertResize(id), 'revert'],
          [() => driver.confirmResize(id), 'confirm'],
        ] as const) {
          const failure = call();
          await expect(failure).rejects.toBeInstanceOf(InstanceStateError);
          await expect(failure).rejects.toThrow(
            `cannot ${operation} the resize of instance "${id}": it is not resized (no resize is pending)`,
          );
        }
        expect(await driver.hasPendingResize(id)).toBe(false);
        expect(await world.inspect(id)).toEqual(before);
        expect(await driver.status(id)).toMatchObject({ running: true, pid });
      });

      it('powers off at once with quit', async () => {
        const mark = log.events.length;
        await expect(driver.powerOff(id, { graceful: false })).resolves.toEqual({
          method: 'quit',
        });
        expect(log.since(mark, id).map((e) => e.kind)).toEqual(['SHUTDOWN']);
        expect(JSON.parse(log.since(mark, id)[0].detail ?? '{}')).toEqual({
          guest: false,
          reason: 'host-qmp-quit',
        });
        expect((await driver.status(id)).running).toBe(false);
      });

      it('resizes a shut-off instance; start boots it with the new vCPUs, memory and disk', async () => {
        beforeResize = await world.inspect(id);
        const bad = driver.resize(id, { vcpus: 2, memoryMib: 8, rootDiskGib: 2 });
        await expect(bad).rejects.toBeInstanceOf(InvalidInstanceSpecError);
        await expect(bad).rejects.toThrow('"memoryMib" must be an integer from 16 to 1048576');
        expect(await world.inspect(id)).toEqual(beforeResize);

        await driver.resize(id, { vcpus: 2, memoryMib: 320, rootDiskGib: 2 });
        expect(await driver.hasPendingResize(id)).toBe(true);
        const resized = await world.inspect(id);
        expect(resized).toMatchObject({
          vcpus: 2,
          memoryMib: 320,
          diskBytes: 2 * GIB,
          backingFile: beforeResize.backingFile,
          kept: world.keptForRevert,
        });
        expect(resized.diskDigest).not.toBe(beforeResize.diskDigest);

        // While the resize is pending, neither another resize nor a rebuild.
        await expect(
          driver.resize(id, { vcpus: 3, memoryMib: 320, rootDiskGib: 2 }),
        ).rejects.toThrow(
          `cannot resize instance "${id}": it is already resized (a resize is pending: confirm or revert it first)`,
        );
        await expect(
          driver.rebuild(id, { rootDisk: { ...world.otherImage, sizeGib: 2 } }),
        ).rejects.toThrow(`cannot rebuild instance "${id}": it is resized (a resize is pending`);
        expect(await world.inspect(id)).toEqual(resized);

        await driver.start(id);
        const report = bootReport(await booted(driver, id, 5), 5);
        expect(report.cpus).toBe(2);
        expectMemory(report, 320);
        expect(report.diskBytes).toBe(2 * GIB);
      });

      it('reverts a resize once shut off: the old size and disk are back', async () => {
        const failure = driver.revertResize(id);
        await expect(failure).rejects.toBeInstanceOf(InstanceStateError);
        await expect(failure).rejects.toThrow(
          `cannot revert the resize of instance "${id}": it is running (it must be shut off)`,
        );
        expect(await driver.hasPendingResize(id)).toBe(true);
        await driver.powerOff(id, { graceful: false });

        await driver.revertResize(id);
        expect(await driver.hasPendingResize(id)).toBe(false);
        expect(await world.inspect(id)).toEqual(beforeResize);
        await expect(driver.revertResize(id)).rejects.toThrow('it is not resized');
        await expect(driver.confirmResize(id)).rejects.toThrow('it is not resized');
      });

      it('confirms a resize, dropping what it kept; a smaller disk stays as it is', async () => {
        await driver.resize(id, { vcpus: 2, memoryMib: 320, rootDiskGib: 2 });
        await driver.confirmResize(id);
        expect(await driver.hasPendingResize(id)).toBe(false);
        expect(await world.inspect(id)).toMatchObject({
          vcpus: 2,
          memoryMib: 320,
          diskBytes: 2 * GIB,
          kept: [],
        });
        await expect(driver.revertResize(id)).rejects.toBeInstanceOf(InstanceStateError);

        await driver.resize(id, { vcpus: 2, memoryMib: 384, rootDiskGib: 1 });
        expect(await world.inspect(id)).toMatchObject({ memoryMib: 384, diskBytes: 2 * GIB });
        await driver.confirmResize(id);
        expect((await world.inspect(id)).kept).toEqual([]);
      });

      it('refuses a bad rebuild spec, keeping the old disk', async () => {
        const before = await world.inspect(id);
        const { kernel } = world.spec();
        for (const [spec, message] of [
          [
            { rootDisk: { ...world.otherImage, format: 'vmdk', sizeGib: 2 }, kernel },
            '"rootDisk.format" must be "qcow2" or "raw", got "vmdk"',
          ],
          [
            { rootDisk: { ...world.otherImage, sizeGib: 0 }, kernel },
            '"rootDisk.sizeGib" must be an integer from 1 to 65536, got 0',
          ],
          [
            { rootDisk: null, kernel },
            '"rootDisk" is null but the instance has a root disk: a rebuild replaces the disk, it cannot remove it',
          ],
        ] as const) {
          const failure = driver.rebuild(id, spec as never);
          await expect(failure).rejects.toBeInstanceOf(InvalidInstanceSpecError);
          await expect(failure).rejects.toThrow(message);
        }
        expect(await world.inspect(id)).toEqual(before);
      });

      it('rebuilds from another base image, keeping the size, user data and console log', async () => {
        const { kernel } = world.spec();
        await driver.rebuild(id, { rootDisk: { ...world.otherImage, sizeGib: 2 }, kernel });
        const rebuilt = await world.inspect(id);
        expect(rebuilt).toMatchObject({
          vcpus: 2,
          memoryMib: 384,
          diskBytes: 2 * GIB,
          backingFile: world.otherImage.baseImagePath,
          backingBytes: 96 * MIB,
          kept: [],
        });
        expect((await driver.status(id)).powerState).toBe('shutdown');

        await driver.start(id);
        const console = await booted(driver, id, 6);
        expect(boots(console)).toBe(6);
        const report = bootReport(console, 6);
        expect(report.cpus).toBe(2);
        expectMemory(report, 384);
        expect(report.diskBytes).toBe(2 * GIB);
        // Boot 6 printed its block devices, so its user data block is whole.
        expect(console.split('STRATUS-GUEST-BOOT-OK')[6]).toMatch(
          /STRATUS-USERDATA-BEGIN\r?\nconformance user data\r?\nSTRATUS-USERDATA-END/,
        );
        await driver.powerOff(id, { graceful: false });
        // Back to one vCPU: the rest of the suite shares the host's CPUs with this guest.
        await driver.resize(id, { vcpus: 1, memoryMib: 256, rootDiskGib: 1 });
        await driver.confirmResize(id);
      });

      it('reboots a shut-off instance by starting it', async () => {
        await expect(driver.reboot(id, { hard: true })).resolves.toEqual({ method: 'boot' });
        expect((await driver.status(id)).powerState).toBe('running');
      });

      it('is adopted by a new driver after a restart, whose events then flow', async () => {
        await driver.close();
        const next = world.reopen();
        const nextLog = record(next);
        expect(await next.list()).toContain(id);
        const handle = await next.adopt(id);
        expect(handle).toMatchObject({ instanceId: id, running: true, powerState: 'running' });
        await next.pause(id);
        await nextLog.waitFor(0, id, 'STOP');
        await next.unpause(id);
        expect((await next.status(id)).powerState).toBe('running');
        driver = next;
        log = nextLog;
      });

      it('spawns frozen when asked, and start runs it', async () => {
        const spec = world.spec({ startPaused: true });
        const handle = await driver.spawn(spec);
        expect(handle).toMatchObject({ qmpStatus: 'prelaunch', powerState: 'paused' });
        await driver.start(spec.instanceId);
        expect((await driver.status(spec.instanceId)).qmpStatus).toBe('running');
        await booted(driver, spec.instanceId, 1);
        await driver.destroy(spec.instanceId);
      });

      it('destroys an instance, leaving nothing, and destroying again succeeds', async () => {
        await driver.destroy(id);
        await expect(driver.status(id)).rejects.toBeInstanceOf(InstanceNotFoundError);
        expect(await driver.list({ all: true })).not.toContain(id);
        await expect(driver.destroy(id)).resolves.toBeUndefined();
      });

      it('answers operations on an unknown instance with InstanceNotFoundError', async () => {
        const unknown = newId();
        for (const operation of [
          () => driver.start(unknown),
          () => driver.pause(unknown),
          () => driver.powerOff(unknown, { graceful: false }),
          () => driver.reboot(unknown, { hard: true }),
          () => driver.consoleLog(unknown),
          () => driver.adopt(unknown),
          () => driver.resize(unknown, { vcpus: 1, memoryMib: 256, rootDiskGib: 1 }),
          () => driver.confirmResize(unknown),
          () => driver.revertResize(unknown),
          () => driver.hasPendingResize(unknown),
          () => driver.rebuild(unknown, { rootDisk: null, kernel: { kernelPath: '/k' } }),
        ]) {
          await expect(operation()).rejects.toBeInstanceOf(InstanceNotFoundError);
        }
      });

      describe('volumes and NICs', () => {
        let vm: string;
        let data: VolumeAttachmentSpec;

        /** Waits for a console line matching `line` after offset `from`. */
        function sees(instanceId: string, from: number, line: RegExp): Promise<string> {
          return until(async () => {
            const text = (await driver.consoleLog(instanceId)).slice(from);
            return text.split(/\r?\n/).find((l) => line.test(l));
          }, `${line} on the console`);
        }
        const end = async (instanceId: string) => (await driver.consoleLog(instanceId)).length;

        it('claims volumes and NICs', () => {
          expect(driver.info().capabilities).toMatchObject({ volumes: true, nics: true });
        });

        it('hot-plugs a volume into a running guest, which sees it as vdb', async () => {
          const spec = world.spec();
          vm = spec.instanceId;
          await driver.spawn(spec);
          await booted(driver, vm, 1);
          data = await world.volume(16);
          const from = await end(vm);
          expect(await driver.attachVolume(vm, data)).toEqual({
            device: '/dev/vdb',
            method: 'hot-plug',
          });
          await sees(vm, from, /^STRATUS-BLOCK: vda vdb$/);
          expect(await driver.attachedVolumes(vm)).toEqual([data.volumeId]);
        });

        it('refuses bad volume operations with typed errors, changing nothing', async () => {
          await expect(driver.attachVolume(vm, data)).rejects.toBeInstanceOf(
            VolumeAlreadyAttachedError,
          );
          await expect(driver.detachVolume(vm, newId())).rejects.toBeInstanceOf(
            VolumeNotAttachedError,
          );
          await expect(driver.extendVolume(vm, newId(), 32 * MIB)).rejects.toBeInstanceOf(
            VolumeNotAttachedError,
          );
          const bad = {
            ...data,
            volumeId: newId(),
            driver: 'vmdk',
          } as unknown as VolumeAttachmentSpec;
          await expect(driver.attachVolume(vm, bad)).rejects.toThrow('"volume.driver"');
          await expect(driver.extendVolume(vm, data.volumeId, 8 * MIB)).rejects.toThrow(
            '"newSizeBytes" is 8388608 bytes, smaller than the volume',
          );
          await expect(driver.extendVolume(vm, data.volumeId, 1000)).rejects.toThrow(
            '"newSizeBytes" must be a multiple of 512',
          );
          await expect(
            driver.spawn(
              world.spec({ nics: [{ portId: 'p', tapName: 'tap0', mac: '01:00:5e:00:00:01' }] }),
            ),
          ).rejects.toThrow('"nics[0].mac" must be unicast');
          await expect(
            driver.spawn(
              world.spec({
                nics: [{ portId: 'p', tapName: 'tap-name-too-long', mac: 'fa:16:3e:00:00:01' }],
              }),
            ),
          ).rejects.toThrow('"nics[0].tapName" must be 1-15 characters');
          expect(await driver.attachedVolumes(vm)).toEqual([data.volumeId]);
        });

        it('extends the volume online: the guest sees the new size', async () => {
          const from = await end(vm);
          await driver.extendVolume(vm, data.volumeId, 32 * MIB);
          await sees(vm, from, new RegExp(`^STRATUS-BLOCKSIZE: .*\\bvdb=${(32 * MIB) / 512}\\b`));
        });

        it('times out detaching from a frozen guest, keeping the volume; detaches once thawed', async () => {
          await driver.pause(vm);
          await expect(
            driver.detachVolume(vm, data.volumeId, { timeoutMs: 300 }),
          ).rejects.toBeInstanceOf(VolumeDetachTimeoutError);
          expect(await driver.attachedVolumes(vm)).toEqual([data.volumeId]);
          const from = await end(vm);
          await driver.unpause(vm);
          expect(await driver.detachVolume(vm, data.volumeId)).toEqual({ method: 'hot-unplug' });
          await sees(vm, from, /^STRATUS-BLOCK: vda$/);
          expect(await driver.attachedVolumes(vm)).toEqual([]);
        });

        it('attaches and detaches in the definition while shut off; start brings the volume', async () => {
          await driver.powerOff(vm, { graceful: false });
          expect(await driver.attachVolume(vm, data)).toEqual({
            device: '/dev/vdb',
            method: 'definition',
          });
          const from = await end(vm);
          await driver.start(vm);
          await sees(vm, from, /^STRATUS-BLOCK: vda vdb$/);
          await driver.powerOff(vm, { graceful: false });
          expect(await driver.detachVolume(vm, data.volumeId)).toEqual({ method: 'definition' });
          expect(await driver.attachedVolumes(vm)).toEqual([]);
          await driver.destroy(vm);
        });

        it('boots from a volume; it cannot be detached, snapshotted or rebuilt; destroy keeps it', async () => {
          const root = await world.volume(64);
          const spec = world.spec({ rootDisk: { volume: root } });
          await driver.spawn(spec);
          await booted(driver, spec.instanceId, 1);
          expect(await driver.attachedVolumes(spec.instanceId)).toEqual([root.volumeId]);
          await expect(driver.detachVolume(spec.instanceId, root.volumeId)).rejects.toBeInstanceOf(
            InstanceStateError,
          );
          await expect(
            driver.snapshot(spec.instanceId, path.join(world.scratch, 'bfv.qcow2')),
          ).rejects.toBeInstanceOf(InstanceStateError);
          await driver.powerOff(spec.instanceId, { graceful: false });
          await expect(
            driver.rebuild(spec.instanceId, { rootDisk: { ...world.otherImage, sizeGib: 1 } }),
          ).rejects.toBeInstanceOf(InstanceStateError);
          await driver.destroy(spec.instanceId);
          await expect(fs.stat(root.path)).resolves.toBeTruthy();
        });
      });
    },
  );
}

describeComputeDriver('fake', fakeWorld, null);
describeComputeDriver('qemu', qemuWorld, qemuSkip);
