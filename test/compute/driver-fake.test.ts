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
} from '../../drivers/compute/index';

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

  it('returns the last lines of the console log', async () => {
    const driver = new FakeComputeDriver();
    const s = spec({ userData: 'one\ntwo' });
    await driver.spawn(s);
    expect(await driver.consoleLog(s.instanceId, 3)).toBe(
      'two\nSTRATUS-USERDATA-END\nSTRATUS-BLOCK: vda\n',
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
});
