import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { projects, users } from '../../../db/tables';
import { ForbiddenError } from '../../errors';
import { type AuthContext, withImpliedRoles } from '../../identity/auth-context';
import { effectiveRoleNames } from '../../identity/role-assignments';
import type { Runtime, ServiceContext } from '../../runtime';

export interface StackOwner {
  userId: string;
  projectId: string;
}

/**
 * The service context the engine acts in, in a job long after the request: the stack owner
 * with the roles they hold on the project NOW (Heat's trust, re-checked each time), so a user
 * removed from the project, disabled or deleted can no longer act through their stacks.
 */
export async function ownerContext(
  rt: Runtime,
  owner: StackOwner,
  baseUrl: string,
  requestId: string = randomUUID(),
): Promise<ServiceContext> {
  const [row] = await rt.db
    .select({
      projectDomainId: projects.domainId,
      userDomainId: users.domainId,
      enabled: users.enabled,
    })
    .from(projects)
    .innerJoin(users, eq(users.id, owner.userId))
    .where(eq(projects.id, owner.projectId));
  const roles = row?.enabled
    ? await effectiveRoleNames(rt.db, owner.userId, {
        kind: 'project',
        projectId: owner.projectId,
      })
    : [];
  if (!row || roles.length === 0) {
    throw new ForbiddenError(
      `the stack's owner ${owner.userId} no longer has a role on project ${owner.projectId}`,
    );
  }
  const now = new Date();
  const auth: AuthContext = {
    tokenId: `stack-engine:${requestId}`,
    userId: owner.userId,
    domainId: row.userDomainId,
    scope: { kind: 'project', projectId: owner.projectId, domainId: row.projectDomainId },
    roles: withImpliedRoles(roles),
    issuedAt: now,
    expiresAt: new Date(now.getTime() + 3_600_000),
    method: 'password',
    applicationCredentialId: null,
  };
  return {
    rt,
    auth,
    requestId,
    clientAddress: 'stack-engine',
    baseUrl,
    log: rt.logger.child({ requestId, userId: owner.userId, component: 'stack-engine' }),
  };
}
