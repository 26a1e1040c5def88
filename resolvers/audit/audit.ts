import { and, eq, gte, lt, type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/connection';
import { auditEvents } from '../../db/tables';
import { authorize } from '../authorize';
import { InvalidInputError } from '../errors';
import { isAdmin, scopedProjectId } from '../identity/auth-context';
import type { ListResult, Page } from '../pagination';
import { selectPage } from '../pagination';
import type { ServiceContext } from '../runtime';
import type { AuditScope } from './scope';

/** The audit log: reading it, the result of each mutation, retention. */

export type AuditRow = typeof auditEvents.$inferSelect;

/**
 * After a mutation: its events' records get its result (payload typename or error code); a
 * mutation that published nothing (refused, or one like login) gets a record of its own.
 * One statement.
 */
export async function recordMutationResult(
  db: Database,
  scope: AuditScope,
  result: string,
): Promise<void> {
  await db.execute(sql`with updated as (
      update ${auditEvents} set result = ${result}
      where request_id = ${scope.requestId} and operation = ${scope.operation} and result is null
      returning 1
    )
    insert into ${auditEvents} (kind, project_id, resource_type, resource_id, user_id, user_project_id, request_id, operation, result)
    select 'MUTATION', ${scope.userProjectId}::uuid, 'Mutation', ${scope.operation ?? ''}, ${scope.userId},
      ${scope.userProjectId}::uuid, ${scope.requestId}, ${scope.operation}, ${result}
    where not exists (select 1 from updated)`);
}

export interface AuditFilter {
  resourceType?: string | null;
  resourceId?: string | null;
  kind?: string | null;
  userId?: string | null;
  requestId?: string | null;
  since?: Date | null;
  until?: Date | null;
}

/** Audit records, newest first: admins all, others their project's. */
export async function listAuditEvents(
  ctx: ServiceContext,
  filter: AuditFilter,
  page: Page,
): Promise<ListResult<AuditRow>> {
  authorize(ctx, 'audit:list');
  if (filter.since && filter.until && filter.since.getTime() > filter.until.getTime())
    throw new InvalidInputError('filter.since', 'filter.since must not be after filter.until');
  const own = scopedProjectId(ctx.auth);
  let projectWhere: SQL | undefined;
  if (isAdmin(ctx.auth)) projectWhere = undefined;
  else if (own) projectWhere = eq(auditEvents.projectId, own);
  else return { rows: [], totalCount: 0 };
  const where = and(
    projectWhere,
    filter.resourceType != null ? eq(auditEvents.resourceType, filter.resourceType) : undefined,
    filter.resourceId != null ? eq(auditEvents.resourceId, filter.resourceId) : undefined,
    filter.kind != null ? eq(auditEvents.kind, filter.kind) : undefined,
    filter.userId != null ? eq(auditEvents.userId, filter.userId) : undefined,
    filter.requestId != null ? eq(auditEvents.requestId, filter.requestId) : undefined,
    filter.since ? gte(auditEvents.createdAt, filter.since) : undefined,
    filter.until ? lt(auditEvents.createdAt, filter.until) : undefined,
  );
  return selectPage(
    ctx.rt.db,
    auditEvents,
    where,
    { column: auditEvents.id, direction: 'DESC', tiebreak: auditEvents.id },
    page,
  );
}

/** Deletes records older than the retention (STRATUS_AUDIT_RETENTION_DAYS). */
export async function pruneAuditEvents(db: Database, retentionDays: number): Promise<number> {
  const cutoff = new Date(Date.now() - retentionDays * 86_400_000);
  const deleted = await db
    .delete(auditEvents)
    .where(lt(auditEvents.createdAt, cutoff))
    .returning({ id: auditEvents.id });
  return deleted.length;
}
