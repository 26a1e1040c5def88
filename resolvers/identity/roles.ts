import { eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { groupMembers, roleAssignments, roles } from '../../db/tables';
import { authorize } from '../authorize';
import { ConflictError, NameTakenError, NotFoundError } from '../errors';
import { publishEvent } from '../events';
import { type ListResult, type OrderDirection, type Page, selectPage } from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { descriptionSchema, isUuid, nameSchema, parseInput, uniqueViolation } from '../validation';
import { revokeUsersTokens } from './revocations';

export type RoleRow = typeof roles.$inferSelect;

/** Role names are not secret: any reader may list them, to know what can be asked for. */
export async function listRoles(
  ctx: ServiceContext,
  direction: OrderDirection,
  page: Page,
): Promise<ListResult<RoleRow>> {
  authorize(ctx, 'identity:list_roles');
  return selectPage(
    ctx.rt.db,
    roles,
    undefined,
    { column: roles.name, direction, tiebreak: roles.id },
    page,
  );
}

export async function loadRoles(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<RoleRow | null>> {
  if (!ctx.auth) return ids.map(() => null);
  const valid = ids.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db.select().from(roles).where(inArray(roles.id, valid))
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id) ?? null);
}

const createRoleInput = z.object({
  name: nameSchema,
  description: descriptionSchema.optional().default(''),
});

export async function createRole(ctx: ServiceContext, input: unknown): Promise<RoleRow> {
  authorize(ctx, 'identity:create_role');
  const data = parseInput(createRoleInput, input);
  try {
    return await inTransaction(ctx.rt, async (tx) => {
      const [row] = await tx.insert(roles).values(data).returning();
      await roleEvent(tx, 'ROLE_CREATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'roles_name_key') throw new NameTakenError('role', data.name);
    throw error;
  }
}

const updateRoleInput = z.object({
  id: z.string(),
  name: nameSchema.optional(),
  description: descriptionSchema.optional(),
});

/** Renames or describes a custom role; built-in roles keep their names (tokens and policy use them). */
export async function updateRole(ctx: ServiceContext, input: unknown): Promise<RoleRow> {
  authorize(ctx, 'identity:update_role');
  const { id, ...changes } = parseInput(updateRoleInput, input);
  if (!isUuid(id)) throw new NotFoundError('role', id);
  try {
    return await inTransaction(ctx.rt, async (tx, afterCommit) => {
      const [current] = await tx.select().from(roles).where(eq(roles.id, id)).for('update');
      if (!current) throw new NotFoundError('role', id);
      if (current.builtIn && changes.name !== undefined && changes.name !== current.name) {
        throw new ConflictError(`Role "${current.name}" is built in and cannot be renamed`);
      }
      const [row] = await tx.update(roles).set(changes).where(eq(roles.id, id)).returning();
      // Tokens carry role names: a rename would leave old names in live tokens.
      if (changes.name !== undefined && changes.name !== current.name) {
        await revokeUsersTokens(
          tx,
          await holdersOf(tx, id),
          ctx.rt.config.tokenTtlSeconds,
          ctx.rt.revocations,
          afterCommit,
        );
      }
      await roleEvent(tx, 'ROLE_UPDATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'roles_name_key')
      throw new NameTakenError('role', changes.name ?? '');
    throw error;
  }
}

/** Deletes a custom role and its assignments; everyone who held it gets their tokens revoked. */
export async function deleteRole(ctx: ServiceContext, id: string): Promise<RoleRow> {
  authorize(ctx, 'identity:delete_role');
  if (!isUuid(id)) throw new NotFoundError('role', id);
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const [current] = await tx.select().from(roles).where(eq(roles.id, id)).for('update');
    if (!current) throw new NotFoundError('role', id);
    if (current.builtIn)
      throw new ConflictError(`Role "${current.name}" is built in and cannot be deleted`);
    const holders = await holdersOf(tx, id);
    await tx.delete(roles).where(eq(roles.id, id));
    await revokeUsersTokens(
      tx,
      holders,
      ctx.rt.config.tokenTtlSeconds,
      ctx.rt.revocations,
      afterCommit,
    );
    await roleEvent(tx, 'ROLE_DELETED', current);
    return current;
  });
}

/** Users holding the role directly or through a group. */
export async function holdersOf(tx: Tx, roleId: string): Promise<string[]> {
  const rows = await tx
    .selectDistinct({ userId: groupMembers.userId, direct: roleAssignments.userId })
    .from(roleAssignments)
    .leftJoin(groupMembers, eq(groupMembers.groupId, roleAssignments.groupId))
    .where(eq(roleAssignments.roleId, roleId));
  return rows.flatMap((r) => [r.userId, r.direct]).filter((u): u is string => u !== null);
}

function roleEvent(tx: Tx, kind: string, row: RoleRow) {
  return publishEvent(tx, {
    kind,
    projectId: null,
    resourceType: 'Role',
    resourceId: row.id,
    payload: { name: row.name },
  });
}
