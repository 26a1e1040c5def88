import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  validateInstanceSpec,
  validateRebuildSpec,
  validateResizeSpec,
} from '../../drivers/compute/base';
import {
  type ComputeDriverInfo,
  FakeComputeDriver,
  InvalidInstanceSpecError,
  loadComputeDriver,
  validateComputeConfig,
} from '../../drivers/compute/index';
import {
  DriverConfigError,
  DriverUnavailableError,
  NotSupportedError,
  UnknownDriverError,
} from '../../drivers/errors';

/** Loading compute drivers by name with strict config, and the checks every driver shares. */

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-compute-load-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const ID = '2c5e8a1f-7d3b-4e9a-b6c0-1f2e3d4c5b6a';
const good = {
  instanceId: ID,
  name: 'web-1',
  vcpus: 2,
  memoryMib: 512,
  rootDisk: { baseImagePath: '/images/base.qcow2', format: 'qcow2', sizeGib: 10 },
};

describe('loadComputeDriver', () => {
  it('refuses an unknown driver name, listing the known ones', async () => {
    const failure = loadComputeDriver('libvirt', {});
    await expect(failure).rejects.toBeInstanceOf(UnknownDriverError);
    await expect(failure).rejects.toThrow(
      'unknown compute driver "libvirt" (known: "qemu", "fake")',
    );
    await expect(loadComputeDriver('constructor', {})).rejects.toBeInstanceOf(UnknownDriverError);
  });

  it('loads the fake with an empty config', async () => {
    const driver = await loadComputeDriver('fake', {});
    expect(driver.info().name).toBe('fake');
  });

  it.each([
    [
      'qemu',
      { stateDir: '/x', accelerator: 'tcg', stateDirr: '/y' },
      'stateDirr',
      /is not a known key \(known: stateDir, accelerator, qemuBinary, qemuImgBinary\)/,
    ],
    ['qemu', { accelerator: 'tcg' }, 'stateDir', /is required/],
    ['qemu', { stateDir: '/x' }, 'accelerator', /is required/],
    [
      'qemu',
      { stateDir: '/x', accelerator: 'hvf' },
      'accelerator',
      /must be one of "kvm", "tcg", "auto", got "hvf"/,
    ],
    ['qemu', { stateDir: '', accelerator: 'tcg' }, 'stateDir', /must be a non-empty string/],
    [
      'qemu',
      { stateDir: '/x', accelerator: 'tcg', qemuBinary: 7 },
      'qemuBinary',
      /must be a non-empty string/,
    ],
    ['fake', { spawnDelayMs: -1 }, 'spawnDelayMs', /must be an integer number of milliseconds/],
    ['fake', { failSpawn: 'yes' }, 'failSpawn', /must be true or false/],
    ['fake', { failResize: 1 }, 'failResize', /must be true or false/],
    ['fake', { failRebuild: 'no' }, 'failRebuild', /must be true or false/],
    ['fake', { __proto__: null, toString: 1 }, 'toString', /is not a known key/],
  ])('%s config %j is refused naming %s', async (name, config, key, message) => {
    const failure = loadComputeDriver(name, config);
    await expect(failure).rejects.toBeInstanceOf(DriverConfigError);
    await expect(failure).rejects.toMatchObject({ code: 'DRIVER_CONFIG_INVALID', key });
    await expect(failure).rejects.toThrow(message);
  });

  it('refuses a config that is not an object', async () => {
    await expect(loadComputeDriver('qemu', null)).rejects.toThrow(
      'invalid config for driver "qemu": must be an object',
    );
  });

  it('ignores user.* notes', () => {
    expect(
      validateComputeConfig('qemu', { stateDir: '/x', accelerator: 'auto', 'user.rack': 'b4' }),
    ).toEqual({ stateDir: '/x', accelerator: 'auto' });
  });

  it('fails the probe when QEMU is not there', async () => {
    const failure = loadComputeDriver('qemu', {
      stateDir: dir,
      accelerator: 'tcg',
      qemuBinary: '/nonexistent/qemu-system-x86_64',
    });
    await expect(failure).rejects.toBeInstanceOf(DriverUnavailableError);
    await expect(failure).rejects.toThrow(
      'driver "qemu" is not usable: /nonexistent/qemu-system-x86_64 was not found',
    );
  });

  it('fails the probe when QMP socket paths would be too long for unix sockets', async () => {
    const deep = path.join(dir, 'x'.repeat(60));
    const failure = loadComputeDriver('qemu', { stateDir: deep, accelerator: 'tcg' });
    await expect(failure).rejects.toBeInstanceOf(DriverUnavailableError);
    await expect(failure).rejects.toThrow(/unix sockets take at most 107/);
  });
});

describe('instance spec validation', () => {
  it('accepts a good spec and normalises it', () => {
    expect(validateInstanceSpec({ ...good, instanceId: ID.toUpperCase() })).toEqual(good);
  });

  it.each([
    [{ instanceId: 'web-1' }, 'instanceId', 'must be a UUID, got "web-1"'],
    [{ name: '' }, 'name', 'must be a string of 1-255 characters'],
    [{ name: 'a\nb' }, 'name', 'must not contain control characters'],
    [{ vcpus: 1.5 }, 'vcpus', 'must be an integer from 1 to 255, got 1.5'],
    [{ memoryMib: 8 }, 'memoryMib', 'must be an integer from 16 to 1048576, got 8'],
    [{ rootDisk: undefined }, 'rootDisk', 'is required (null for a diskless instance)'],
    [
      { rootDisk: null },
      'rootDisk',
      'is null and no kernel is given: the instance would have nothing to boot',
    ],
    [
      { rootDisk: { baseImagePath: 'base.qcow2', format: 'qcow2', sizeGib: 1 } },
      'rootDisk.baseImagePath',
      'must be an absolute path, got "base.qcow2"',
    ],
    [
      { rootDisk: { baseImagePath: '/b', format: 'vmdk', sizeGib: 1 } },
      'rootDisk.format',
      'must be "qcow2" or "raw", got "vmdk"',
    ],
    [
      { rootDisk: { baseImagePath: '/b', format: 'raw', sizeGib: 0 } },
      'rootDisk.sizeGib',
      'must be an integer from 1 to 65536, got 0',
    ],
    [
      { rootDisk: { baseImagePath: '/b', format: 'raw', sizeGib: 1, bus: 'ide' } },
      'rootDisk.bus',
      'is not a known field (known: baseImagePath, format, sizeGib)',
    ],
    [
      { kernel: { kernelPath: 'vmlinuz' } },
      'kernel.kernelPath',
      'must be an absolute path, got "vmlinuz"',
    ],
    [
      { kernel: { kernelPath: '/k', cmdline: 'a\nb' } },
      'kernel.cmdline',
      'must not contain control characters',
    ],
    [{ userData: 42 }, 'userData', 'must be a string'],
    [{ userData: 'x'.repeat(65537) }, 'userData', 'is 65537 bytes, at most 65536'],
    [{ metadata: { role: 1 } }, 'metadata.role', 'must be a string'],
    [{ startPaused: 'yes' }, 'startPaused', 'must be true or false'],
    [{ flavor: 'm1.small' }, 'flavor', 'is not a known field'],
  ])('refuses %j naming %s', (overrides, field, message) => {
    let thrown: unknown;
    try {
      validateInstanceSpec({ ...good, ...overrides });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InvalidInstanceSpecError);
    expect(thrown).toMatchObject({ code: 'INSTANCE_INVALID_SPEC', field });
    expect((thrown as Error).message).toContain(`invalid instance spec: "${field}" ${message}`);
  });

  it('accepts good resize and rebuild specs, normalising them', () => {
    const resize = { vcpus: 2, memoryMib: 320, rootDiskGib: 2 };
    expect(validateResizeSpec(resize)).toEqual(resize);
    expect(
      validateRebuildSpec({
        rootDisk: { baseImagePath: '/images//other.qcow2', format: 'qcow2', sizeGib: 3 },
        kernel: undefined,
      }),
    ).toEqual({ rootDisk: { baseImagePath: '/images/other.qcow2', format: 'qcow2', sizeGib: 3 } });
    expect(validateRebuildSpec({ rootDisk: null, kernel: { kernelPath: '/k' } })).toEqual({
      rootDisk: null,
      kernel: { kernelPath: '/k' },
    });
  });

  it.each([
    [
      'resize',
      { vcpus: 0, memoryMib: 256, rootDiskGib: 1 },
      'vcpus',
      'must be an integer from 1 to 255, got 0',
    ],
    [
      'resize',
      { vcpus: 1, memoryMib: 8, rootDiskGib: 1 },
      'memoryMib',
      'must be an integer from 16 to 1048576, got 8',
    ],
    [
      'resize',
      { vcpus: 1, memoryMib: 256 },
      'rootDiskGib',
      'must be an integer from 1 to 65536, got undefined',
    ],
    [
      'resize',
      { vcpus: 1, memoryMib: 256, rootDiskGib: 1, flavor: 'm1' },
      'flavor',
      'is not a known field',
    ],
    ['rebuild', {}, 'rootDisk', 'is required (null for a diskless instance)'],
    ['rebuild', { rootDisk: null }, 'rootDisk', 'is null and no kernel is given'],
    [
      'rebuild',
      { rootDisk: { baseImagePath: '/b', format: 'vmdk', sizeGib: 1 } },
      'rootDisk.format',
      'must be "qcow2" or "raw", got "vmdk"',
    ],
    [
      'rebuild',
      { rootDisk: null, kernel: { kernelPath: 'vmlinuz' } },
      'kernel.kernelPath',
      'must be an absolute path, got "vmlinuz"',
    ],
    ['rebuild', { rootDisk: null, name: 'x' }, 'name', 'is not a known field'],
  ] as const)('refuses a %s spec %j naming %s', (kind, spec, field, message) => {
    let thrown: unknown;
    try {
      if (kind === 'resize') validateResizeSpec(spec);
      else validateRebuildSpec(spec);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InvalidInstanceSpecError);
    expect(thrown).toMatchObject({ code: 'INSTANCE_INVALID_SPEC', field });
    expect((thrown as Error).message).toContain(`invalid instance spec: "${field}" ${message}`);
  });

  it('checks operation options before touching the instance', async () => {
    const driver = new FakeComputeDriver();
    await expect(driver.powerOff(ID, {} as never)).rejects.toThrow(
      '"options.graceful" must be true or false',
    );
    await expect(driver.powerOff(ID, { graceful: true, timeoutMs: -5 })).rejects.toThrow(
      '"options.timeoutMs" must be an integer from 0 to 3600000, got -5',
    );
    await expect(driver.reboot(ID, { hard: 'yes' } as never)).rejects.toThrow(
      '"options.hard" must be true or false',
    );
    await expect(driver.snapshot(ID, 'relative.qcow2')).rejects.toThrow(
      '"destPath" must be an absolute path',
    );
    await expect(driver.consoleLog(ID, 0)).rejects.toThrow('"lastLines" must be an integer');
    await expect(driver.status('nope')).rejects.toThrow('"instanceId" must be a UUID');
  });
});

describe('optional operations', () => {
  /** A driver that claims none of the optional operations. */
  class BareDriver extends FakeComputeDriver {
    override info(): ComputeDriverInfo {
      return {
        name: 'fake',
        capabilities: {
          pause: false,
          suspend: false,
          snapshot: false,
          consoleLog: false,
          softReboot: false,
          resize: false,
          rebuild: false,
          volumes: false,
          nics: false,
        },
      };
    }
  }

  it.each([
    ['pause', (d: BareDriver) => d.pause(ID)],
    ['unpause', (d: BareDriver) => d.unpause(ID)],
    ['suspend', (d: BareDriver) => d.suspend(ID)],
    ['resume', (d: BareDriver) => d.resume(ID)],
    ['snapshot', (d: BareDriver) => d.snapshot(ID, '/tmp/x.qcow2')],
    ['console log', (d: BareDriver) => d.consoleLog(ID)],
    ['soft reboot', (d: BareDriver) => d.reboot(ID, { hard: false })],
    ['resize', (d: BareDriver) => d.resize(ID, { vcpus: 1, memoryMib: 256, rootDiskGib: 1 })],
    ['confirm resize', (d: BareDriver) => d.confirmResize(ID)],
    ['revert resize', (d: BareDriver) => d.revertResize(ID)],
    ['resize', (d: BareDriver) => d.hasPendingResize(ID)],
    ['rebuild', (d: BareDriver) => d.rebuild(ID, { rootDisk: null, kernel: { kernelPath: '/k' } })],
  ])('%s is NotSupportedError when info() does not claim it', async (operation, call) => {
    const driver = new BareDriver();
    await driver.spawn({ ...good, rootDisk: { ...good.rootDisk, format: 'qcow2' } } as never);
    const failure = call(driver);
    await expect(failure).rejects.toBeInstanceOf(NotSupportedError);
    await expect(failure).rejects.toThrow(`driver "fake" does not support ${operation}`);
    await expect(driver.reboot(ID, { hard: true })).resolves.toEqual({ method: 'reset' });
  });
});
