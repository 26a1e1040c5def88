import { type ConfigRule, checkConfig, nonEmptyString } from '../config-rules';
import { UnknownDriverError } from '../errors';
import { type IpmiBaremetalConfig, IpmiBaremetalDriver } from './ipmi';
import type { BaremetalDriver } from './types';

export * from './errors';
export type {
  IpmiBaremetalConfig,
  IpmiBaremetalOptions,
  IpmiCall,
  IpmiResult,
  IpmiRunner,
} from './ipmi';
export { classifyIpmiFailure, execIpmitool, IpmiBaremetalDriver, parseBootParam } from './ipmi';
export type * from './types';
export { type CheckedBmc, checkBmcSpec } from './validate';

/** Implementations of the `baremetal` kind by configuration name. */
export const BAREMETAL_DRIVERS = {
  ipmi: (config: IpmiBaremetalConfig) => new IpmiBaremetalDriver(config),
} as const;

export type BaremetalDriverName = keyof typeof BAREMETAL_DRIVERS;

function integerIn(min: number, max: number): ConfigRule['check'] {
  return (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
      ? null
      : `must be an integer ${min}-${max}, got ${JSON.stringify(value)}`;
}

/** Config rules per implementation (unknown keys fail, `user.*` notes are ignored). */
const CONFIG_RULES = {
  ipmi: {
    ipmitoolBinary: { required: false, check: nonEmptyString },
    timeoutSeconds: { required: false, check: integerIn(1, 60) },
    retries: { required: false, check: integerIn(0, 10) },
    cipherSuite: { required: false, check: integerIn(0, 17) },
    commandTimeoutMs: { required: false, check: integerIn(100, 600_000) },
    powerTimeoutMs: { required: false, check: integerIn(100, 3_600_000) },
    pollIntervalMs: { required: false, check: integerIn(10, 60_000) },
  },
} satisfies Record<BaremetalDriverName, Record<string, ConfigRule>>;

/**
 * Checks `config` against the rules of implementation `name` and returns it without `user.*`
 * keys. Throws `UnknownDriverError` for an unknown name and `DriverConfigError` naming the key
 * for an unknown or malformed one.
 */
export function validateBaremetalConfig<N extends BaremetalDriverName>(
  name: N,
  config: unknown,
): Parameters<(typeof BAREMETAL_DRIVERS)[N]>[0];
export function validateBaremetalConfig(name: string, config: unknown): unknown;
export function validateBaremetalConfig(name: string, config: unknown): unknown {
  if (!isDriverName(name))
    throw new UnknownDriverError('baremetal', name, Object.keys(BAREMETAL_DRIVERS));
  return checkConfig(name, config, CONFIG_RULES[name]);
}

/**
 * Loads the baremetal driver `name`: validates `config` strictly, constructs the driver and
 * probes it. Throws `UnknownDriverError` (listing the known names), `DriverConfigError`, or
 * `DriverUnavailableError` when ipmitool cannot be run.
 */
export async function loadBaremetalDriver(
  name: string,
  config: unknown = {},
): Promise<BaremetalDriver> {
  if (!isDriverName(name))
    throw new UnknownDriverError('baremetal', name, Object.keys(BAREMETAL_DRIVERS));
  const driver = BAREMETAL_DRIVERS[name](validateBaremetalConfig(name, config));
  await driver.probe();
  return driver;
}

function isDriverName(name: string): name is BaremetalDriverName {
  return Object.hasOwn(BAREMETAL_DRIVERS, name);
}
