import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DriverConfigError,
  DriverUnavailableError,
  UnknownDriverError,
} from '../../drivers/errors';
import { loadVolumeDriver, validateVolumeConfig } from '../../drivers/volume/index';

/** Loading volume drivers by name with strict config. */

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-volume-load-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('loadVolumeDriver', () => {
  it('refuses an unknown driver name, listing the known ones', async () => {
    const failure = loadVolumeDriver('ceph', {});
    await expect(failure).rejects.toBeInstanceOf(UnknownDriverError);
    await expect(failure).rejects.toThrow('unknown volume driver "ceph" (known: "file", "lvm")');
    await expect(loadVolumeDriver('constructor', {})).rejects.toBeInstanceOf(UnknownDriverError);
  });

  it('loads the file driver and probes it (creating its folders)', async () => {
    const root = path.join(dir, 'root');
    const driver = await loadVolumeDriver('file', { root, 'user.note': 'scratch' });
    expect(driver.info().name).toBe('file');
    expect((await fs.readdir(root)).sort()).toEqual(['snapshots', 'volumes']);
    expect(await driver.list()).toEqual({ volumes: [], snapshots: [] });
  });

  it.each([
    ['file', {}, 'root', /is required/],
    ['file', { root: '' }, 'root', /must be a non-empty string/],
    ['file', { root: 7 }, 'root', /must be a non-empty string/],
    [
      'file',
      { root: '/x', rooot: '/y' },
      'rooot',
      /is not a known key \(known: root, qemuImgBinary\)/,
    ],
    ['file', { root: '/x', qemuImgBinary: '' }, 'qemuImgBinary', /must be a non-empty string/],
    ['lvm', {}, 'volumeGroup', /is required/],
    ['lvm', { volumeGroup: '' }, 'volumeGroup', /must be an LVM volume group name/],
    ['lvm', { volumeGroup: '-vg' }, 'volumeGroup', /must be an LVM volume group name/],
    ['lvm', { volumeGroup: 'vg/x' }, 'volumeGroup', /must be an LVM volume group name/],
    ['lvm', { volumeGroup: 'vg0', root: '/x' }, 'root', /is not a known key/],
    ['lvm', { __proto__: null, toString: 1 }, 'toString', /is not a known key/],
  ])('%s config %j is refused naming %s', async (name, config, key, message) => {
    const failure = loadVolumeDriver(name, config);
    await expect(failure).rejects.toBeInstanceOf(DriverConfigError);
    await expect(failure).rejects.toMatchObject({ code: 'DRIVER_CONFIG_INVALID', key });
    await expect(failure).rejects.toThrow(message);
  });

  it('refuses a config that is not an object', async () => {
    await expect(loadVolumeDriver('lvm', null)).rejects.toThrow(
      'invalid config for driver "lvm": must be an object',
    );
    await expect(loadVolumeDriver('file', [])).rejects.toThrow(
      'invalid config for driver "file": must be an object',
    );
  });

  it('ignores user.* notes', () => {
    expect(
      validateVolumeConfig('lvm', { volumeGroup: 'cinder-volumes', 'user.rack': 'b4' }),
    ).toEqual({ volumeGroup: 'cinder-volumes' });
  });

  it('fails the file probe when qemu-img is not there', async () => {
    const failure = loadVolumeDriver('file', {
      root: dir,
      qemuImgBinary: '/nonexistent/qemu-img',
    });
    await expect(failure).rejects.toBeInstanceOf(DriverUnavailableError);
    await expect(failure).rejects.toThrow(
      'driver "file" is not usable: /nonexistent/qemu-img was not found',
    );
  });

  it('fails the lvm probe with the reason when the volume group cannot be read', async () => {
    // Here vgs is missing (or device-mapper is): either way the probe says why.
    const failure = loadVolumeDriver('lvm', { volumeGroup: 'stratus-no-such-vg' });
    await expect(failure).rejects.toBeInstanceOf(DriverUnavailableError);
    await expect(failure).rejects.toThrow(
      /^driver "lvm" is not usable: volume group "stratus-no-such-vg" is not usable: .+/,
    );
  });
});
