import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  type ComputeEvent,
  FakeComputeDriver,
  FakeHost,
  HypervisorCommandError,
  InstanceExistsError,
  type InstanceSpec,
  InstanceStateError,
  InvalidInstanceSpecError,
  VolumeDetachTimeoutError,
  VolumeSlotsExhaustedError,
} from '../../drivers/compute/index';
import { NotSupportedError } from '../../drivers/errors';

/** The fake compute driver's own knobs: injected failures, delays, crashes, big fleets. */

function spec(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    instanceId: randomUUID(),
    name: 'fake-vm',
    vcpus: 1,
    memoryMib: 128,
    rootDisk: { baseImagePath: '/images/base.qcow2', format: 'qcow2', sizeGib: 1 },
    ...overrides,
  };
}

function record(driver: FakeComputeDriver) {
  const events: ComputeEvent[] = [];
  driver.onEvent((e) => events.push(e));
  return events;
}

describe('FakeComputeDriver', () => {
  it('fails every spawn when failSpawn is true, leaving nothing behind', async () => {
    const driver = new FakeComputeDriver({ failSpawn: true });
    const s = spec();
    const failure = driver.spawn(s);
    await expect(failure).rejects.toBeInstanceOf(HypervisorCommandError);
    await expect(failure).rejects.toThrow(
      `starting qemu of instance "${s.instanceId}" failed: fake: spawn failure injected`,
    );
    expect(await driver.list({ all: true })).toEqual([]);
  });

  it('fails only the spawns whose name matches failSpawn', async () => {
    const driver = new FakeComputeDriver({ failSpawn: /^doomed-/ });
    await expect(driver.spawn(spec({ name: 'doomed-1' }))).rejects.toBeInstanceOf(
      HypervisorCommandError,
    );
    const ok = await driver.spawn(spec({ name: 'fine-1' }));
    expect(await driver.list()).toEqual([ok.instanceId]);
  });

  it('runs operations on one instance one after the other, across its spawn delay', async () => {
    const driver = new FakeComputeDriver({ spawnDelayMs: 50 });
    const s = spec();
    const order: string[] = [];
    const spawned = driver.spawn(s).then(() => order.push('spawned'));
    const twice = driver.spawn(s).catch((err) => {
      order.push('second spawn refused');
      throw err;
    });
    const destroyed = driver.destroy(s.instanceId).then(() => order.push('destroyed'));
    await expect(twice).rejects.toBeInstanceOf(InstanceExistsError);
    await Promise.all([spawned, destroyed]);
    expect(order).toEqual(['spawned', 'second spawn refused', 'destroyed']);
    expect(await driver.list({ all: true })).toEqual([]);
  });

  it('simulates a kill -9 with crash(): GONE, and the instance is shut off', async () => {
    const driver = new FakeComputeDriver();
    const events = record(driver);
    const { instanceId, pid } = await driver.spawn(spec());
    driver.crash(instanceId);
    expect(events).toEqual([
      { instanceId, kind: 'GONE', detail: `process ${pid} exited without shutting down` },
    ]);
    expect(await driver.status(instanceId)).toMatchObject({
      running: false,
      powerState: 'shutdown',
    });
    expect(await driver.list()).toEqual([]);
  });

  it('simulates a guest powering itself off and rebooting itself', async () => {
    const driver = new FakeComputeDriver();
    const events = record(driver);
    const { instanceId } = await driver.spawn(spec());
    driver.guestReboot(instanceId);
    driver.guestPowerOff(instanceId);
    expect(events.map((e) => [e.kind, e.detail])).toEqual([
      ['RESET', '{"guest":true,"reason":"guest-reset"}'],
      ['SHUTDOWN', '{"guest":true,"reason":"guest-shutdown"}'],
    ]);
    expect((await driver.status(instanceId)).running).toBe(false);
    expect((await driver.consoleLog(instanceId)).split('STRATUS-GUEST-BOOT-OK')).toHaveLength(3);
  });

  it('falls back to quit and reset when guests ignore ACPI', async () => {
    const driver = new FakeComputeDriver({ guestIgnoresAcpi: true });
    const events = record(driver);
    const { instanceId } = await driver.spawn(spec());
    await expect(driver.reboot(instanceId, { hard: false })).resolves.toEqual({ method: 'reset' });
    await expect(driver.powerOff(instanceId, { graceful: true })).resolves.toEqual({
      method: 'quit',
    });
    expect(events.map((e) => e.kind)).toEqual(['POWERDOWN', 'RESET', 'POWERDOWN', 'SHUTDOWN']);
  });

  it('keeps instances on a shared FakeHost across drivers; events need adoption', async () => {
    const host = new FakeHost();
    const first = new FakeComputeDriver({ host });
    const { instanceId } = await first.spawn(spec());
    await first.close();

    const second = new FakeComputeDriver({ host });
    const events = record(second);
    expect(await second.list()).toEqual([instanceId]);
    second.crash(instanceId);
    expect(events).toEqual([]);
    await second.start(instanceId);
    second.crash(instanceId);
    expect(events.map((e) => e.kind)).toEqual(['GONE']);
  });

  it('refuses to snapshot a diskless instance', async () => {
    const driver = new FakeComputeDriver();
    const s = spec({ rootDisk: null, kernel: { kernelPath: '/boot/vmlinuz' } });
    await driver.spawn(s);
    const failure = driver.snapshot(s.instanceId, '/tmp/never-written.qcow2');
    await expect(failure).rejects.toBeInstanceOf(InstanceStateError);
    await expect(failure).rejects.toThrow('it is diskless (it has no root disk)');
  });

  it('fails resize and rebuild when told to, after the delay, changing nothing', async () => {
    const driver = new FakeComputeDriver({
      operationDelayMs: 30,
      failResize: /^doomed-/,
      failRebuild: true,
    });
    const doomed = spec({ name: 'doomed-1' });
    const fine = spec({ name: 'fine-1' });
    for (const s of [doomed, fine]) {
      await driver.spawn(s);
      await driver.powerOff(s.instanceId, { graceful: false });
    }
    const size = { vcpus: 2, memoryMib: 256, rootDiskGib: 2 };
    const started = Date.now();
    const resize = driver.resize(doomed.instanceId, size);
    await expect(resize).rejects.toBeInstanceOf(HypervisorCommandError);
    await expect(resize).rejects.toThrow(
      `growing the root disk of instance "${doomed.instanceId}" failed: fake: resize failure injected`,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(await driver.hasPendingResize(doomed.instanceId)).toBe(false);
    await driver.resize(fine.instanceId, size);
    expect(await driver.hasPendingResize(fine.instanceId)).toBe(true);
    await driver.confirmResize(fine.instanceId);

    const rebuild = driver.rebuild(fine.instanceId, {
      rootDisk: { baseImagePath: '/images/other.qcow2', format: 'qcow2', sizeGib: 2 },
    });
    await expect(rebuild).rejects.toThrow(
      `creating the disk overlay of instance "${fine.instanceId}" failed: fake: rebuild failure injected`,
    );
    expect(driver.host.instances.get(fine.instanceId)?.spec.rootDisk).toEqual({
      baseImagePath: '/images/base.qcow2',
      format: 'qcow2',
      sizeGib: 2,
    });
  });

  it('resizes a diskless instance (no disk to grow) and rebuilds it with or without a disk', async () => {
    const driver = new FakeComputeDriver();
    const s = spec({ rootDisk: null, kernel: { kernelPath: '/boot/vmlinuz' } });
    const id = s.instanceId;
    await driver.spawn(s);
    await driver.powerOff(id, { graceful: false });
    await driver.resize(id, { vcpus: 3, memoryMib: 192, rootDiskGib: 5 });
    await driver.revertResize(id);
    await driver.resize(id, { vcpus: 3, memoryMib: 192, rootDiskGib: 5 });
    await driver.confirmResize(id);
    await driver.rebuild(id, { rootDisk: null, kernel: { kernelPath: '/boot/vmlinuz-2' } });
    await driver.start(id);
    let log = await driver.consoleLog(id);
    expect(log).toContain('smp: Brought up 1 node, 3 CPUs');
    expect(log).toContain('Memory: 157286K/196608K available');
    expect(log).not.toContain('[vda]');
    await driver.powerOff(id, { graceful: false });

    // A diskless instance may get a disk; booting from it drops the kernel.
    await driver.rebuild(id, {
      rootDisk: { baseImagePath: '/images/base.qcow2', format: 'qcow2', sizeGib: 3 },
    });
    expect(driver.host.instances.get(id)?.spec).toMatchObject({
      vcpus: 3,
      memoryMib: 192,
      rootDisk: { sizeGib: 3 },
    });
    expect(driver.host.instances.get(id)?.spec.kernel).toBeUndefined();
    await driver.start(id);
    log = await driver.consoleLog(id);
    expect(log).toContain('[vda] 6291456 512-byte logical blocks (3.22 GB/3.00 GiB)');
  });

  it('returns the last lines of the console log', async () => {
    const driver = new FakeComputeDriver();
    const s = spec({ userData: 'one\ntwo' });
    await driver.spawn(s);
    expect(await driver.consoleLog(s.instanceId, 5)).toBe(
      'two\nSTRATUS-USERDATA-END\nSTRATUS-BLOCK: vda\nSTRATUS-BLOCKSIZE: vda=2097152\nSTRATUS-NET:\n',
    );
  });

  it('keeps delivering events when a listener throws', async () => {
    const driver = new FakeComputeDriver();
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const seen: string[] = [];
      driver.onEvent(() => {
        throw new Error('listener bug');
      });
      const unsubscribe = driver.onEvent((e) => seen.push(e.kind));
      const { instanceId } = await driver.spawn(spec());
      await driver.pause(instanceId);
      unsubscribe();
      await driver.unpause(instanceId);
      expect(seen).toEqual(['STOP']);
      expect(warn).toHaveBeenCalledTimes(2);
      expect(warn).toHaveBeenCalledWith(
        expect.objectContaining({ message: 'listener bug' }),
        'ComputeEventListenerError',
      );
    } finally {
      warn.mockRestore();
    }
  });

  it('simulates thousands of servers', async () => {
    const driver = new FakeComputeDriver();
    const specs = Array.from({ length: 5000 }, (_, i) => spec({ name: `vm-${i}` }));
    await Promise.all(specs.map((s) => driver.spawn(s)));
    expect(await driver.list()).toHaveLength(5000);
    await Promise.all(
      specs.slice(0, 2500).map((s) => driver.powerOff(s.instanceId, { graceful: true })),
    );
    expect(await driver.list()).toHaveLength(2500);
    expect(await driver.list({ all: true })).toHaveLength(5000);
  });

  describe('volumes and NICs', () => {
    const volume = (n: number) => ({
      volumeId: randomUUID(),
      driver: 'raw' as const,
      path: `/volumes/v${n}`,
    });

    it('times out every detach of a running guest with guestIgnoresDetach, keeping the volume', async () => {
      const driver = new FakeComputeDriver({ guestIgnoresDetach: true });
      const { instanceId } = await driver.spawn(spec());
      const v = volume(1);
      await driver.attachVolume(instanceId, v);
      const error = await driver
        .detachVolume(instanceId, v.volumeId, { timeoutMs: 20 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VolumeDetachTimeoutError);
      expect(error).toMatchObject({ code: 'VOLUME_DETACH_TIMEOUT', timeoutMs: 20 });
      expect(await driver.attachedVolumes(instanceId)).toEqual([v.volumeId]);
      // Shut off, the definition alone changes.
      await driver.powerOff(instanceId, { graceful: false });
      expect(await driver.detachVolume(instanceId, v.volumeId)).toEqual({ method: 'definition' });
    });

    it('prints the disks, their sizes and the NICs as the test guest does', async () => {
      const driver = new FakeComputeDriver();
      const s = spec({
        nics: [{ portId: 'port-1', tapName: 'tap-port-1', mac: 'FA:16:3E:00:00:0A' }],
      });
      await driver.spawn(s);
      const v = volume(1);
      await driver.attachVolume(s.instanceId, v);
      await driver.extendVolume(s.instanceId, v.volumeId, 2 * 1024 ** 3);
      const log = await driver.consoleLog(s.instanceId, 3);
      expect(log).toBe(
        'STRATUS-BLOCK: vda vdb\nSTRATUS-BLOCKSIZE: vda=2097152 vdb=4194304\nSTRATUS-NET: eth0=fa:16:3e:00:00:0a\n',
      );
    });

    it('takes eight volumes besides the root disk, then refuses with VolumeSlotsExhaustedError', async () => {
      const driver = new FakeComputeDriver();
      const { instanceId } = await driver.spawn(spec());
      const devices: string[] = [];
      for (let i = 0; i < 8; i++) {
        devices.push((await driver.attachVolume(instanceId, volume(i))).device);
      }
      expect(devices).toEqual(['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].map((l) => `/dev/vd${l}`));
      await expect(driver.attachVolume(instanceId, volume(9))).rejects.toBeInstanceOf(
        VolumeSlotsExhaustedError,
      );
      // A freed slot is reused, and the guess follows it.
      const [, second] = await driver.attachedVolumes(instanceId);
      await driver.detachVolume(instanceId, second);
      expect((await driver.attachVolume(instanceId, volume(10))).device).toBe('/dev/vdc');
    });

    it('refuses duplicate NICs and volumes in a spec, naming the field', async () => {
      const driver = new FakeComputeDriver();
      const nic = { portId: 'p1', tapName: 'tap1', mac: 'fa:16:3e:00:00:01' };
      const twice = driver.spawn(spec({ nics: [nic, { ...nic, portId: 'p2' }] }));
      await expect(twice).rejects.toBeInstanceOf(InvalidInstanceSpecError);
      await expect(twice).rejects.toThrow('"nics[1].tapName" repeats tap "tap1"');
      const root = volume(1);
      await expect(
        driver.spawn(spec({ rootDisk: { volume: root }, volumes: [{ ...root, path: '/x' }] })),
      ).rejects.toThrow(`"volumes[0].volumeId" repeats volume "${root.volumeId}"`);
      await expect(
        driver.rebuild(randomUUID(), { rootDisk: { volume: root } } as never),
      ).rejects.toThrow('"rootDisk.volume" is not allowed here');
    });

    it('answers NotSupportedError when a driver does not claim volumes', async () => {
      class NoVolumes extends FakeComputeDriver {
        override info() {
          const info = super.info();
          return { ...info, capabilities: { ...info.capabilities, volumes: false, nics: false } };
        }
      }
      const driver = new NoVolumes();
      const { instanceId } = await driver.spawn(spec());
      await expect(driver.attachVolume(instanceId, volume(1))).rejects.toBeInstanceOf(
        NotSupportedError,
      );
      await expect(driver.spawn(spec({ volumes: [volume(2)] }))).rejects.toBeInstanceOf(
        NotSupportedError,
      );
    });
  });
});
