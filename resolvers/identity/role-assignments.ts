import { and, eq, inArray, isNull, or, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { DbOrTx, Tx } from '../../db/connection';
import {
  domains,
  groupMembers,
  groups,
  projects,
  roleAssignments,
  roles,
  users,
} from '../../db/tables';
import { authorize } from '../authorize';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors';
import { publishEvent } from '../events';
import { type ListResult, type Page, selectPage } from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, parseInput, uniqueViolation } from '../validation';
import { revokeUsersTokens } from './revocations';

export type RoleAssignmentRow = typeof roleAssignments.$inferSelect;

/** Where a role applies. */
export type AssignmentTarget =
  | { kind: 'project'; projectId: string }
  | { kind: 'domain'; domainId: string }
  | { kind: 'system' };

export interface RoleAssignmentFilter {
  userId?: string | null;
  groupId?: string | null;
  projectId?: string | null;
  domainId?: string | null;
  roleId?: string | null;
}

function idOrNone(column: Parameters<typeof eq>[0], id: string): SQL {
  return isUuid(id) ? eq(column, id) : sql`false`;
}

export async function listRoleAssignments(
  ctx: ServiceContext,
  filter: RoleAssignmentFilter,
  page: Page,
): Promise<ListResult<RoleAssignmentRow>> {
  authorize(ctx, 'identity:list_role_assignments');
  const where = and(
    filter.userId != null ? idOrNone(roleAssignments.userId, filter.userId) : undefined,
    filter.groupId != null ? idOrNone(roleAssignments.groupId, filter.groupId) : undefined,
    filter.projectId != null ? idOrNone(roleAssignments.projectId, filter.projectId) : undefined,
    filter.domainId != null ? idOrNone(roleAssignments.domainId, filter.domainId) : undefined,
    filter.roleId != null ? idOrNone(roleAssignments.roleId, filter.roleId) : undefined,
  );
  return selectPage(
    ctx.rt.db,
    roleAssignments,
    where,
    {
      column: roleAssignments.createdAt,
      direction: 'ASC',
      tiebreak: roleAssignments.id,
    },
    page,
  );
}

/** Assignments of many users at once (for `User.roleAssignments`). */
export async function loadAssignmentsOfUsers(
  ctx: ServiceContext,
  userIds: readonly string[],
): Promise<RoleAssignmentRow[][]> {
  const rows = await ctx.rt.db
    .select()
    .from(roleAssignments)
    .where(inArray(roleAssignments.userId, [...userIds]));
  return userIds.map((u) => rows.filter((r) => r.userId === u));
}

const assignmentInput = z
  .object({
    roleId: z.string(),
    userId: z.string().nullish(),
    groupId: z.string().nullish(),
    projectId: z.string().nullish(),
    domainId: z.string().nullish(),
    system: z.boolean().nullish(),
  })
  .refine((v) => (v.userId != null) !== (v.groupId != null), {
    message: 'must name exactly one of userId and groupId',
    path: ['userId'],
  })
  .refine(
    (v) =>
      [v.projectId != null, v.domainId != null, v.system === true].filter(Boolean).length === 1,
    {
      message: 'must name exactly one of projectId, domainId and system',
      path: ['projectId'],
    },
  );

type AssignmentInput = z.infer<typeof assignmentInput>;

/** Checks every id the input names, so a bad one is reported by its field, and builds the row. */
async function resolveAssignment(tx: Tx, data: AssignmentInput) {
  const exists = async (
    table: typeof roles | typeof users | typeof groups | typeof projects | typeof domains,
    id: string,
    field: string,
    what: string,
  ) => {
    const [row] = isUuid(id)
      ? await tx.select({ id: table.id }).from(table).where(eq(table.id, id))
      : [];
    if (!row) throw new InvalidInputError(field, `No ${what} with id "${id}"`);
  };
  await exists(roles, data.roleId, 'input.roleId', 'role');
  if (data.userId != null) await exists(users, data.userId, 'input.userId', 'user');
  if (data.groupId != null) await exists(groups, data.groupId, 'input.groupId', 'group');
  if (data.projectId != null) await exists(projects, data.projectId, 'input.projectId', 'project');
  if (data.domainId != null) await exists(domains, data.domainId, 'input.domainId', 'domain');
  return {
    roleId: data.roleId,
    actorType: data.userId != null ? ('user' as const) : ('group' as const),
    userId: data.userId ?? null,
    groupId: data.groupId ?? null,
    targetType:
      data.projectId != null
        ? ('project' as const)
        : data.domainId != null
          ? ('domain' as const)
          : ('system' as const),
    projectId: data.projectId ?? null,
    domainId: data.domainId ?? null,
  };
}

export async function assignRole(ctx: ServiceContext, input: unknown): Promise<RoleAssignmentRow> {
  authorize(ctx, 'identity:assign_role');
  const data = parseInput(assignmentInput, input);
  try {
    return await inTransaction(ctx.rt, async (tx) => {
      const values = await resolveAssignment(tx, data);
      const [row] = await tx.insert(roleAssignments).values(values).returning();
      await assignmentEvent(tx, 'ROLE_ASSIGNMENT_CREATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'role_assignments_unique') {
      throw new ConflictError('This role is already assigned to this actor on this target');
    }
    throw error;
  }
}

/** Removes an assignment; the users who held the role through it have their tokens revoked. */
export async function unassignRole(
  ctx: ServiceContext,
  input: unknown,
): Promise<RoleAssignmentRow> {
  authorize(ctx, 'identity:unassign_role');
  const data = parseInput(assignmentInput, input);
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const v = await resolveAssignment(tx, data);
    const [row] = await tx
      .delete(roleAssignments)
      .where(
        and(
          eq(roleAssignments.roleId, v.roleId),
          v.userId ? eq(roleAssignments.userId, v.userId) : eq(roleAssignments.groupId, v.groupId!),
          eq(roleAssignments.targetType, v.targetType),
          v.projectId
            ? eq(roleAssignments.projectId, v.projectId)
            : isNull(roleAssignments.projectId),
          v.domainId ? eq(roleAssignments.domainId, v.domainId) : isNull(roleAssignments.domainId),
        ),
      )
      .returning();
    if (!row)
      throw new NotFoundError(
        'role assignment',
        `${v.roleId} on ${v.projectId ?? v.domainId ?? 'system'}`,
      );
    const affected = v.userId
      ? [v.userId]
      : (
          await tx
            .select({ userId: groupMembers.userId })
            .from(groupMembers)
            .where(eq(groupMembers.groupId, v.groupId!))
        ).map((m) => m.userId);
    await revokeUsersTokens(
      tx,
      affected,
      ctx.rt.config.tokenTtlSeconds,
      ctx.rt.revocations,
      afterCommit,
    );
    await assignmentEvent(tx, 'ROLE_ASSIGNMENT_DELETED', row);
    return row;
  });
}

/** Role names the user holds on the target, directly or through groups, without implied roles. */
export async function effectiveRoleNames(
  db: DbOrTx,
  userId: string,
  target: AssignmentTarget,
): Promise<string[]> {
  const targetWhere =
    target.kind === 'project'
      ? and(
          eq(roleAssignments.targetType, 'project'),
          eq(roleAssignments.projectId, target.projectId),
        )
      : target.kind === 'domain'
        ? and(
            eq(roleAssignments.targetType, 'domain'),
            eq(roleAssignments.domainId, target.domainId),
          )
        : eq(roleAssignments.targetType, 'system');
  const memberOf = db
    .select({ id: groupMembers.groupId })
    .from(groupMembers)
    .where(eq(groupMembers.userId, userId));
  const rows = await db
    .selectDistinct({ name: roles.name })
    .from(roleAssignments)
    .innerJoin(roles, eq(roles.id, roleAssignments.roleId))
    .where(
      and(
        targetWhere,
        or(eq(roleAssignments.userId, userId), inArray(roleAssignments.groupId, memberOf)),
      ),
    );
  return rows.map((r) => r.name);
}

function assignmentEvent(tx: Tx, kind: string, row: RoleAssignmentRow) {
  return publishEvent(tx, {
    kind,
    projectId: null,
    resourceType: 'RoleAssignment',
    resourceId: row.id,
    payload: {
      roleId: row.roleId,
      userId: row.userId,
      groupId: row.groupId,
      projectId: row.projectId,
      domainId: row.domainId,
      system: row.targetType === 'system',
    },
  });
}
