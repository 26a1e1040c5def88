import { AsyncLocalStorage } from 'node:async_hooks';
import { type SQL, sql } from 'drizzle-orm';
import { auditEvents } from '../../db/tables';

/**
 * Who is acting, for the audit record every published event gets. Set around each mutation
 * (schema/audit.ts) and around each operation job (its initiator); events published outside
 * any scope (pollers, the alarm evaluator, reconcilers) are recorded as `system`.
 */
export interface AuditScope {
  userId: string;
  userProjectId: string | null;
  requestId: string | null;
  /** The mutation (or job kind) that is running, e.g. `createVolume`. */
  operation: string | null;
}

export const SYSTEM_USER = 'system';

const storage = new AsyncLocalStorage<AuditScope>();

export function runInAuditScope<T>(scope: AuditScope, fn: () => T): T {
  return storage.run(scope, fn);
}

export function currentAuditScope(): AuditScope | undefined {
  return storage.getStore();
}

/**
 * The CTE `audited`, which copies the events in relation `stored` (rows of `events`, as an
 * insert's `returning *` gives them) into the audit log with the current scope: one statement
 * with the event's own insert, so auditing adds no round trip under the publish lock.
 */
export function auditCte(stored: string): SQL {
  const scope = currentAuditScope();
  return sql`audited as (
      insert into ${auditEvents} (event_id, kind, project_id, resource_type, resource_id, user_id, user_project_id, request_id, operation)
      select id, kind, project_id, resource_type, resource_id, ${scope?.userId ?? SYSTEM_USER}, ${scope?.userProjectId ?? null}::uuid, ${scope?.requestId ?? null}, ${scope?.operation ?? null}
      from ${sql.raw(stored)}
    )`;
}
