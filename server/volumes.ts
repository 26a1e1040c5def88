import path from 'node:path';
import type { Database } from '../db/connection';
import type { ObjectStore } from '../drivers/objects/types';
import { loadVolumeDriver } from '../drivers/volume/index';
import type { ComputeAgent } from '../resolvers/compute/compute-agent';
import { ImageCache } from '../resolvers/compute/image-cache';
import type { VolumeBackend } from '../resolvers/volumes/backend';
import { reconcileVolumes } from '../resolvers/volumes/reconcile';
import { registerAllTypeQuotas } from '../resolvers/volumes/volume-types';
import type { StratusConfig } from './config';
import type { Logger } from './logger';

export interface LoadedVolumes {
  backend: VolumeBackend | null;
  /** Why there is no backend: the driver is `none`, or it failed its probe (qemu-img missing, ...). */
  unavailable: string | null;
}

/**
 * Loads this process's volume driver (like server/compute.ts loads compute) and repairs what a
 * previous run left in progress. A process without one still serves the rest of the API.
 */
export async function loadVolumes(
  config: StratusConfig,
  db: Database,
  objectStore: ObjectStore,
  agent: ComputeAgent | null,
  logger: Logger,
): Promise<LoadedVolumes> {
  // Per-type quotas are resources (volumes_<type>, ...) on every process, backend or not.
  await registerAllTypeQuotas(db, config.quotaDefaults);
  const v = config.volume;
  if (v.driver === 'none') {
    return { backend: null, unavailable: 'STRATUS_VOLUME_DRIVER is none on this process' };
  }
  try {
    const driver = await loadVolumeDriver(v.driver, v.driverConfig);
    const root =
      v.driver === 'file' ? String(v.driverConfig.root) : path.join(config.dataDir, 'volumes');
    const backend: VolumeBackend = {
      driver,
      hostname: config.compute.hostname,
      backendName: v.backendName,
      imageCache: agent?.imageCache ?? new ImageCache(path.join(root, '_images'), objectStore),
      detachTimeoutMs: v.detachTimeoutMs,
    };
    await reconcileVolumes(db, backend.hostname, agent, logger).catch((err) =>
      logger.error({ err }, 'repairing volumes left in progress failed'),
    );
    return { backend, unavailable: null };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    logger.warn({ err: error }, 'volumes are unavailable on this process');
    return { backend: null, unavailable: `the ${v.driver} volume driver failed: ${reason}` };
  }
}
