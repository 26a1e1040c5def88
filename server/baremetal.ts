import { loadBaremetalDriver } from '../drivers/baremetal';
import type { BaremetalConfig } from '../resolvers/baremetal/config';
import { CredentialBox, loadCredentialKey } from '../resolvers/baremetal/credentials';
import type { BaremetalService } from '../resolvers/baremetal/service';
import type { DriverStatus } from '../resolvers/runtime';
import type { Logger } from './logger';

export interface LoadedBaremetal {
  service: BaremetalService | null;
  /** Why there is none: the driver is `none`, ipmitool is missing, or the key is bad. */
  unavailable: string | null;
}

/** Loads the bare-metal driver and the credential key (like server/volumes.ts loads volumes). */
export async function loadBaremetal(
  config: BaremetalConfig,
  dataDir: string,
  logger: Logger,
): Promise<LoadedBaremetal> {
  if (config.driver === 'none') {
    return { service: null, unavailable: 'STRATUS_BAREMETAL_DRIVER is none on this process' };
  }
  try {
    const driver = await loadBaremetalDriver(config.driver, config.driverConfig);
    const credentials = new CredentialBox(loadCredentialKey(config.credentialKey, dataDir));
    return { service: { driver, credentials, config }, unavailable: null };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    logger.warn({ err: error }, 'bare metal is unavailable on this process');
    return {
      service: null,
      unavailable: `the ${config.driver} baremetal driver failed: ${reason}`,
    };
  }
}

/** The catalog's line for the baremetal kind. */
export function baremetalStatus(loaded: LoadedBaremetal): DriverStatus {
  return loaded.service
    ? {
        kind: 'baremetal',
        implementation: loaded.service.driver.info().name,
        healthy: true,
        detail: `probed at start; nodes API, provision state machine and power-state sync every ${loaded.service.config.syncIntervalMs} ms`,
      }
    : { kind: 'baremetal', implementation: null, healthy: false, detail: loaded.unavailable ?? '' };
}
