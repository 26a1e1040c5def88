/** Alarm evaluation and webhook delivery settings (STRATUS_ALARM_*, STRATUS_WEBHOOK_*). */
export interface AlarmsConfig {
  /** How often the evaluator looks for due alarms, ms. */
  evaluationIntervalMs: number;
  /** Extra targets webhooks may reach although private (CIDRs, addresses or host names). */
  webhookAllow: string[];
  /** Delivery attempts before a webhook job gives up (graphile-worker's exponential backoff between). */
  webhookMaxAttempts: number;
  /** Per attempt, ms. */
  webhookTimeoutMs: number;
}

export function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

export function alarmsConfig(env: NodeJS.ProcessEnv): AlarmsConfig {
  return {
    evaluationIntervalMs: positiveInt(env, 'STRATUS_ALARM_EVALUATION_INTERVAL_MS', 10_000),
    webhookAllow: (env.STRATUS_WEBHOOK_ALLOW ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    webhookMaxAttempts: positiveInt(env, 'STRATUS_WEBHOOK_MAX_ATTEMPTS', 8),
    webhookTimeoutMs: positiveInt(env, 'STRATUS_WEBHOOK_TIMEOUT_MS', 10_000),
  };
}
