/** Metering pollers' knobs (STRATUS_METERING_*). */
export interface MeteringConfig {
  /** How often the pollers read every meter; 0 disables them. Default 10000 (Ceilometer: 600 s). */
  intervalMs: number;
}

/** Shortest interval: 1 s, as the issue allows; anything between 0 and it is raised to it. */
export const MIN_METERING_INTERVAL_MS = 1000;

export function meteringConfig(env: NodeJS.ProcessEnv): MeteringConfig {
  const raw = env.STRATUS_METERING_INTERVAL_MS;
  if (raw === undefined || raw === '') return { intervalMs: 10_000 };
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(
      `STRATUS_METERING_INTERVAL_MS must be a whole number of milliseconds >= 0, got "${raw}"`,
    );
  }
  return { intervalMs: value === 0 ? 0 : Math.max(MIN_METERING_INTERVAL_MS, value) };
}
