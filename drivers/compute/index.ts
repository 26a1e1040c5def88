import { boolean, type ConfigRule, checkConfig, nonEmptyString } from '../config-rules';
import { UnknownDriverError } from '../errors';
import { FakeComputeDriver, type FakeComputeOptions } from './fake';
import { QemuComputeDriver, type QemuConfig } from './qemu';
import type { ComputeDriver } from './types';

export {
  DEFAULT_DETACH_TIMEOUT_MS,
  isVolumeRootDisk,
  MAX_ATTACHED_VOLUMES,
  MAX_NICS,
} from './base';
export * from './errors';
export type { FakeComputeOptions } from './fake';
export { FakeComputeDriver, FakeHost } from './fake';
export type { QemuConfig } from './qemu';
export { QemuComputeDriver } from './qemu';
export * from './qmp/errors';
export type * from './types';

/** Configuration of the fake driver as it comes from a config file (no test hooks). */
export interface FakeConfig {
  spawnDelayMs?: number;
  operationDelayMs?: number;
  failSpawn?: boolean;
  failResize?: boolean;
  failRebuild?: boolean;
  guestIgnoresAcpi?: boolean;
  guestIgnoresDetach?: boolean;
}

/** Implementations of the `compute` kind by configuration name. */
export const COMPUTE_DRIVERS = {
  qemu: (config: QemuConfig) => new QemuComputeDriver(config),
  fake: (config: FakeConfig) => new FakeComputeDriver(config satisfies FakeComputeOptions),
} as const;

export type ComputeDriverName = keyof typeof COMPUTE_DRIVERS;

function oneOf(...allowed: string[]): ConfigRule['check'] {
  return (value) =>
    typeof value === 'string' && allowed.includes(value)
      ? null
      : `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${JSON.stringify(value)}`;
}

const milliseconds: ConfigRule['check'] = (value) =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 3_600_000
    ? null
    : `must be an integer number of milliseconds from 0 to 3600000, got ${JSON.stringify(value)}`;

/**
 * Config rules per implementation (Incus style: unknown keys fail, except free-form `user.*`
 * notes, which are ignored).
 */
const CONFIG_RULES = {
  qemu: {
    // A relative folder is resolved against the working directory.
    stateDir: { required: true, check: nonEmptyString },
    accelerator: { required: true, check: oneOf('kvm', 'tcg', 'auto') },
    qemuBinary: { required: false, check: nonEmptyString },
    qemuImgBinary: { required: false, check: nonEmptyString },
  },
  fake: {
    spawnDelayMs: { required: false, check: milliseconds },
    operationDelayMs: { required: false, check: milliseconds },
    failSpawn: { required: false, check: boolean },
    failResize: { required: false, check: boolean },
    failRebuild: { required: false, check: boolean },
    guestIgnoresAcpi: { required: false, check: boolean },
    guestIgnoresDetach: { required: false, check: boolean },
  },
} satisfies Record<ComputeDriverName, Record<string, ConfigRule>>;

/**
 * Checks `config` against the rules of implementation `name` and returns it without `user.*`
 * keys. Throws `UnknownDriverError` for an unknown name and `DriverConfigError` naming the key
 * for an unknown, missing or malformed one.
 */
export function validateComputeConfig<N extends ComputeDriverName>(
  name: N,
  config: unknown,
): Parameters<(typeof COMPUTE_DRIVERS)[N]>[0];
export function validateComputeConfig(name: string, config: unknown): unknown;
export function validateComputeConfig(name: string, config: unknown): unknown {
  if (!isDriverName(name)) {
    throw new UnknownDriverError('compute', name, Object.keys(COMPUTE_DRIVERS));
  }
  return checkConfig(name, config, CONFIG_RULES[name]);
}

/**
 * Loads the compute driver `name`: validates `config` strictly, constructs the driver and
 * probes the host. Throws `UnknownDriverError` (listing the known names), `DriverConfigError`,
 * or `DriverUnavailableError` when the probe fails (QEMU missing, state folder unwritable,
 * kvm asked for without /dev/kvm).
 */
export async function loadComputeDriver(name: string, config: unknown): Promise<ComputeDriver> {
  if (!isDriverName(name)) {
    throw new UnknownDriverError('compute', name, Object.keys(COMPUTE_DRIVERS));
  }
  const driver = construct(name, config);
  await driver.probe();
  return driver;
}

function construct(name: ComputeDriverName, config: unknown): ComputeDriver {
  switch (name) {
    case 'qemu':
      return COMPUTE_DRIVERS.qemu(validateComputeConfig('qemu', config));
    case 'fake':
      return COMPUTE_DRIVERS.fake(validateComputeConfig('fake', config));
  }
}

function isDriverName(name: string): name is ComputeDriverName {
  return Object.hasOwn(COMPUTE_DRIVERS, name);
}
