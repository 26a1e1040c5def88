import { type ConfigRule, checkConfig, nonEmptyString } from '../config-rules';
import { UnknownDriverError } from '../errors';
import { FakeNetworkDriver } from './fake';
import { type OvsNetworkConfig, OvsNetworkDriver } from './ovs/index';
import type { NetworkDriver } from './types';

export type { FakeNetworkCall, FakeNetworkMethod } from './fake';
export { FakeNetworkDriver, tapName } from './fake';
export type { OvsNetworkConfig } from './ovs/index';
export { OvsNetworkDriver } from './ovs/index';
export type * from './types';

/** Implementations of the `network` kind by configuration name. */
export const NETWORK_DRIVER_NAMES = ['ovs', 'fake'] as const;
export type NetworkDriverName = (typeof NETWORK_DRIVER_NAMES)[number];

const CONFIG_RULES = {
  ovs: {
    bridge: { required: false, check: nonEmptyString },
    stateDir: { required: true, check: nonEmptyString },
  },
  fake: {},
} satisfies Record<NetworkDriverName, Record<string, ConfigRule>>;

/** Checks `config` against the rules of implementation `name`; throws naming the key. */
export function validateNetworkConfig(name: string, config: unknown): Record<string, unknown> {
  if (!isDriverName(name)) throw new UnknownDriverError('network', name, [...NETWORK_DRIVER_NAMES]);
  return checkConfig(name, config, CONFIG_RULES[name]);
}

/**
 * Loads the network driver `name`: validates `config` strictly, constructs the driver and
 * probes the host. Throws `UnknownDriverError`, `DriverConfigError`, or
 * `DriverUnavailableError` when the probe fails (OVS or namespaces unusable).
 */
export async function loadNetworkDriver(name: string, config: unknown): Promise<NetworkDriver> {
  const checked = validateNetworkConfig(name, config);
  const driver =
    name === 'fake'
      ? new FakeNetworkDriver()
      : new OvsNetworkDriver(checked as unknown as OvsNetworkConfig);
  await driver.probe();
  return driver;
}

function isDriverName(name: string): name is NetworkDriverName {
  return (NETWORK_DRIVER_NAMES as readonly string[]).includes(name);
}
