import { positiveInt } from '../metering/alarm-config';

export interface AuditConfig {
  /** Audit records older than this are pruned (STRATUS_AUDIT_RETENTION_DAYS, default 90). */
  retentionDays: number;
}

export function auditConfig(env: NodeJS.ProcessEnv): AuditConfig {
  return { retentionDays: positiveInt(env, 'STRATUS_AUDIT_RETENTION_DAYS', 90) };
}
