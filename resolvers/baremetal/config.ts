/** Bare-metal settings, read once from the environment (server/config.ts holds the result). */
export interface BaremetalConfig {
  /** `ipmi` (the default) or `none` for a process that serves no nodes. */
  driver: string;
  /** Driver configuration, checked strictly by drivers/baremetal. */
  driverConfig: Record<string, unknown>;
  /** STRATUS_CREDENTIAL_KEY: base64 of 32 bytes; null: a key file in the data folder. */
  credentialKey: string | null;
  /** How often the worker reads every node's power state (Ironic's sync_power_state_interval). */
  syncIntervalMs: number;
  /** Consecutive failed reads after which a node goes into maintenance (Ironic: power_state_sync_max_retries). */
  syncFailures: number;
  /** Ironic's automated_clean: wipe a node before it becomes available. */
  automatedClean: boolean;
  /** How long a deploy waits for the deployed system's call-back. */
  deployTimeoutMs: number;
  /** How long cleaning may take. */
  cleanTimeoutMs: number;
  /** BMC reads one sync round runs at once. */
  syncConcurrency: number;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer of at least ${min}, got "${raw}"`);
  }
  return value;
}

/** STRATUS_BAREMETAL_* variables and STRATUS_CREDENTIAL_KEY; throws on a malformed value. */
export function baremetalConfig(env: NodeJS.ProcessEnv): BaremetalConfig {
  const clean = env.STRATUS_BAREMETAL_AUTOMATED_CLEAN;
  return {
    driver: env.STRATUS_BAREMETAL_DRIVER ?? 'ipmi',
    driverConfig: {},
    credentialKey: env.STRATUS_CREDENTIAL_KEY || null,
    syncIntervalMs: int(env, 'STRATUS_BAREMETAL_SYNC_INTERVAL_MS', 60_000, 100),
    syncFailures: int(env, 'STRATUS_BAREMETAL_SYNC_FAILURES', 3, 1),
    automatedClean:
      clean === undefined || clean === '' || ['1', 'true', 'yes', 'on'].includes(clean),
    deployTimeoutMs: int(env, 'STRATUS_BAREMETAL_DEPLOY_TIMEOUT_MS', 30 * 60_000, 1000),
    cleanTimeoutMs: int(env, 'STRATUS_BAREMETAL_CLEAN_TIMEOUT_MS', 30 * 60_000, 1000),
    syncConcurrency: int(env, 'STRATUS_BAREMETAL_SYNC_CONCURRENCY', 32, 1),
  };
}
