import type { Database } from '../db/connection';
import { loadComputeDriver } from '../drivers/compute/index';
import type { ObjectStore } from '../drivers/objects/types';
import { ComputeAgent } from '../resolvers/compute/compute-agent';
import { ImageCache } from '../resolvers/compute/image-cache';
import type { ComputeConfig } from './config';
import type { Logger } from './logger';

export interface LoadedCompute {
  agent: ComputeAgent | null;
  /** Why there is no agent: the driver is `none`, or it failed its probe (QEMU missing, ...). */
  unavailable: string | null;
}

/**
 * Loads this host's compute driver and agent. A host that cannot run VMs still serves the
 * rest of the API: compute reports unavailable (catalog, FeatureDisabledError) with the reason.
 */
export async function loadCompute(
  config: ComputeConfig,
  db: Database,
  objectStore: ObjectStore,
  logger: Logger,
): Promise<LoadedCompute> {
  if (config.driver === 'none') {
    return { agent: null, unavailable: 'STRATUS_COMPUTE_DRIVER is none on this process' };
  }
  try {
    const driver = await loadComputeDriver(config.driver, config.driverConfig);
    const agent = new ComputeAgent({
      hostname: config.hostname,
      availabilityZone: config.availabilityZone,
      driver,
      imageCache: new ImageCache(config.imageCacheDir, objectStore),
      db,
      logger,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
    });
    await agent.start(await driver.probe());
    return { agent, unavailable: null };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    logger.warn({ err: error }, 'compute is unavailable on this process');
    return { agent: null, unavailable: `the ${config.driver} compute driver failed: ${reason}` };
  }
}
