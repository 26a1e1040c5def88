import type { Database } from '../db/connection';
import { loadNetworkDriver } from '../drivers/network/index';
import { NetworkAgent } from '../resolvers/networks/network-agent';
import type { NetworkConfig } from './config';
import type { Logger } from './logger';

export interface LoadedNetwork {
  agent: NetworkAgent | null;
  /** Why there is no agent: the driver is `none`, or it failed its probe (OVS missing, ...). */
  unavailable: string | null;
}

/**
 * Loads this host's network driver and agent and reconciles the data path with the database.
 * Without one the API still works (networks, ports, IPAM are database work); nothing is
 * plugged on this host and the catalog says why.
 */
export async function loadNetwork(
  config: NetworkConfig,
  hostname: string,
  db: Database,
  logger: Logger,
): Promise<LoadedNetwork> {
  if (config.driver === 'none') {
    return { agent: null, unavailable: 'STRATUS_NETWORK_DRIVER is none on this process' };
  }
  try {
    const driver = await loadNetworkDriver(config.driver, config.driverConfig);
    const agent = new NetworkAgent({ driver, db, logger, hostname });
    await agent.reconcile();
    return { agent, unavailable: null };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    logger.warn({ err: error }, 'networking is unavailable on this process');
    return { agent: null, unavailable: `the ${config.driver} network driver failed: ${reason}` };
  }
}
