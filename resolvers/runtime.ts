import type pg from 'pg';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Database, Tx } from '../db/connection';
import type { ObjectStore } from '../drivers/objects/types';
import type { StratusConfig } from '../server/config';
import type { Logger } from '../server/logger';
import type { NodeDeployer } from './baremetal/deployer';
import type { BaremetalService } from './baremetal/service';
import type { ComputeAgent } from './compute/compute-agent';
import type { StratusEvent } from './events';
import type { AuthContext } from './identity/auth-context';
import type { RevocationCache } from './identity/revocation-cache';
import type { TokenService } from './identity/tokens';
import type { NetworkAgent } from './networks/network-agent';
import type { VolumeBackend } from './volumes/backend';

/** Long-lived parts of one Stratus process that services use. */
export interface Runtime {
  config: StratusConfig;
  db: Database;
  pool: pg.Pool;
  logger: Logger;
  tokens: TokenService;
  revocations: RevocationCache;
  loginLimiter: RateLimiterAbstract;
  /** Names of the job kinds this process's worker runs (a job of another kind would never run). */
  jobKinds: ReadonlySet<string>;
  /** Event streams for subscriptions (the process's LISTEN connection behind it). */
  events: EventSource;
  /** Secret temp URLs are signed with (per-project keys are derived from it). */
  tempUrlSecret: string;
  /** Where object and image bytes live (drivers/objects). */
  objectStore: ObjectStore;
  /** This process's compute host (driver, image cache, reconciler), or null without one. */
  compute: ComputeAgent | null;
  /** Why compute is unavailable here, when `compute` is null. */
  computeUnavailable: string | null;
  /** This process's volume backend, or null without one. */
  volume: VolumeBackend | null;
  /** Why there is no volume backend here, when `volume` is null. */
  volumeUnavailable: string | null;
  /** This process's network driver and its sync agent, or null without one. */
  network: NetworkAgent | null;
  /** This process's bare-metal driver and credential key (Ironic conductor), or null. */
  baremetal: BaremetalService | null;
  /** Why there is no bare-metal service here, when `baremetal` is null. */
  baremetalUnavailable: string | null;
  /** Network booting for node deploy and clean (resolvers/baremetal/pxe), or null. */
  nodeDeployer: NodeDeployer | null;
  /** Driver kinds and the implementation configured for each, for the catalog. */
  drivers: DriverStatus[];
}

export interface EventSource {
  stream(options: {
    after: number | null;
    accept: (event: StratusEvent) => boolean;
  }): AsyncIterableIterator<StratusEvent>;
}

export interface DriverStatus {
  kind: string;
  implementation: string | null;
  healthy: boolean;
  detail: string;
}

/** What every service call gets: the runtime, who is calling, and a logger tagged with the request. */
export interface ServiceContext {
  rt: Runtime;
  auth: AuthContext | null;
  log: Logger;
  requestId: string;
  /** Network address of the client, for login throttling. */
  clientAddress: string;
  /** Scheme, host and port the client reached Stratus at, for URLs handed back to it. */
  baseUrl: string;
}

/** Runs `fn` in one transaction; callbacks registered with `afterCommit` run once it committed. */
export async function inTransaction<T>(
  rt: Runtime,
  fn: (tx: Tx, afterCommit: (callback: () => void) => void) => Promise<T>,
): Promise<T> {
  const callbacks: Array<() => void> = [];
  const result = await rt.db.transaction((tx) => fn(tx, (cb) => callbacks.push(cb)));
  for (const callback of callbacks) callback();
  return result;
}
