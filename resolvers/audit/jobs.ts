import { eq } from 'drizzle-orm';
import type { DbOrTx } from '../../db/connection';
import { operations } from '../../db/tables';
import { runInAuditScope, SYSTEM_USER } from './scope';

/**
 * Runs an operation's job in the audit scope of the user who started it, so the events the
 * job publishes (a server turning ACTIVE) are recorded as that user's, with no request id.
 */
export async function asOperationInitiator<T>(
  db: DbOrTx,
  operationId: string,
  fn: () => Promise<T>,
): Promise<T> {
  const [op] = await db
    .select({
      userId: operations.createdByUserId,
      kind: operations.kind,
      projectId: operations.projectId,
    })
    .from(operations)
    .where(eq(operations.id, operationId));
  return runInAuditScope(
    {
      userId: op?.userId ?? SYSTEM_USER,
      userProjectId: op?.userId ? op.projectId : null,
      requestId: null,
      operation: op?.kind ?? null,
    },
    fn,
  );
}
