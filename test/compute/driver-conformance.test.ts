import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
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
  QemuComputeDriver,
} from '../../drivers/compute/index';
import { BUILD_GUEST, GUEST_DIR, qemuSkipReason } from '../support/host-tools';

/**
 * One conformance suite over every compute driver: the fake must answer like qemu (same
 * statuses, same events, same errors), since the service layer's tests run against the fake.
 * The qemu run boots the test guest (scripts/build-test-guest) under TCG.
 */

const qemuSkip = qemuSkipReason();

/** What a conformance run needs from a driver's world. */
interface World {
  driver: ComputeDriver;
  /** A second driver on the same host, as after a Stratus restart. */
  reopen(): ComputeDriver;
  spec(overrides?: Partial<InstanceSpec>): InstanceSpec;
  /** A path for snapshots. */
  scratch: string;
  cleanup(): Promise<void>;
}

function newId(): string {
  return randomUUID();
}

async function fakeWorld(): Promise<World> {
  const host = new FakeHost();
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-cc-fake-'));
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
    cleanup: () => fs.rm(scratch, { recursive: true, force: true }),
  };
}

async function qemuWorld(): Promise<World> {
  execFileSync(BUILD_GUEST, [GUEST_DIR], { stdio: 'ignore', timeout: 15 * 60_000 });
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-cc-'));
  const base = path.join(stateDir, 'base.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
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
        ]) {
          await expect(operation()).rejects.toBeInstanceOf(InstanceNotFoundError);
        }
      });
    },
  );
}

describeComputeDriver('fake', fakeWorld, null);
describeComputeDriver('qemu', qemuWorld, qemuSkip);
