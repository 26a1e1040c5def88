import { type ConfigRule, checkConfig, nonEmptyString } from '../config-rules';
import { UnknownDriverError } from '../errors';
import { type FileVolumeConfig, FileVolumeDriver } from './file';
import { type LvmVolumeConfig, LvmVolumeDriver } from './lvm';
import type { VolumeDriver } from './types';

export * from './errors';
export type { FileVolumeConfig } from './file';
export { FileVolumeDriver } from './file';
export type { CommandRunner, LvmVolumeConfig, LvmVolumeOptions } from './lvm';
export { LvmVolumeDriver } from './lvm';
export type * from './types';

/** Implementations of the `volume` kind by configuration name. */
export const VOLUME_DRIVERS = {
  file: (config: FileVolumeConfig) => new FileVolumeDriver(config),
  lvm: (config: LvmVolumeConfig) => new LvmVolumeDriver(config),
} as const;

export type VolumeDriverName = keyof typeof VOLUME_DRIVERS;

/** An LVM volume group name (what lvm2 accepts: letters, digits, `+_.-`, not starting with `-`). */
const volumeGroupName: ConfigRule['check'] = (value) =>
  typeof value === 'string' &&
  /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/.test(value) &&
  value !== '.' &&
  value !== '..'
    ? null
    : `must be an LVM volume group name (letters, digits, "+", "_", ".", "-"), got ${JSON.stringify(value)}`;

/**
 * Config rules per implementation (Incus style: unknown keys fail, except free-form `user.*`
 * notes, which are ignored).
 */
const CONFIG_RULES = {
  file: {
    // A relative root is resolved against the working directory.
    root: { required: true, check: nonEmptyString },
    qemuImgBinary: { required: false, check: nonEmptyString },
  },
  lvm: {
    volumeGroup: { required: true, check: volumeGroupName },
    qemuImgBinary: { required: false, check: nonEmptyString },
  },
} satisfies Record<VolumeDriverName, Record<string, ConfigRule>>;

/**
 * Checks `config` against the rules of implementation `name` and returns it without `user.*`
 * keys. Throws `UnknownDriverError` for an unknown name and `DriverConfigError` naming the key
 * for an unknown, missing or malformed one.
 */
export function validateVolumeConfig<N extends VolumeDriverName>(
  name: N,
  config: unknown,
): Parameters<(typeof VOLUME_DRIVERS)[N]>[0];
export function validateVolumeConfig(name: string, config: unknown): unknown;
export function validateVolumeConfig(name: string, config: unknown): unknown {
  if (!isDriverName(name))
    throw new UnknownDriverError('volume', name, Object.keys(VOLUME_DRIVERS));
  return checkConfig(name, config, CONFIG_RULES[name]);
}

/**
 * Loads the volume driver `name`: validates `config` strictly, constructs the driver and
 * probes the backend. Throws `UnknownDriverError` (listing the known names),
 * `DriverConfigError`, or `DriverUnavailableError` when the probe fails (qemu-img missing,
 * root unwritable, volume group absent or lvm2 unusable).
 */
export async function loadVolumeDriver(name: string, config: unknown): Promise<VolumeDriver> {
  if (!isDriverName(name))
    throw new UnknownDriverError('volume', name, Object.keys(VOLUME_DRIVERS));
  const driver = construct(name, config);
  await driver.probe();
  return driver;
}

function construct(name: VolumeDriverName, config: unknown): VolumeDriver {
  switch (name) {
    case 'file':
      return VOLUME_DRIVERS.file(validateVolumeConfig('file', config));
    case 'lvm':
      return VOLUME_DRIVERS.lvm(validateVolumeConfig('lvm', config));
  }
}

function isDriverName(name: string): name is VolumeDriverName {
  return Object.hasOwn(VOLUME_DRIVERS, name);
}
