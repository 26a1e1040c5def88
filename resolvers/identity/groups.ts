import { and, eq, ilike, inArray, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { domains, groupMembers, groups, users } from '../../db/tables';
import { authorize } from '../authorize';
import { InvalidInputError, NameTakenError, NotFoundError } from '../errors';
import { publishEvent } from '../events';
import {
  containsPattern,
  type ListResult,
  type OrderDirection,
  type Page,
  selectPage,
} from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { descriptionSchema, isUuid, nameSchema, parseInput, uniqueViolation } from '../validation';
import { isAdmin } from './auth-context';
import { revokeUsersTokens } from './revocations';

export type GroupRow = typeof groups.$inferSelect;

export interface GroupFilter {
  domainId?: string | null;
  nameContains?: string | null;
}

export async function listGroups(
  ctx: ServiceContext,
  filter: GroupFilter,
  direction: OrderDirection,
  page: Page,
): Promise<ListResult<GroupRow>> {
  authorize(ctx, 'identity:list_groups');
  const where: SQL | undefined = and(
    filter.domainId != null
      ? isUuid(filter.domainId)
        ? eq(groups.domainId, filter.domainId)
        : sql`false`
      : undefined,
    filter.nameContains != null
      ? ilike(groups.name, containsPattern(filter.nameContains))
      : undefined,
  );
  return selectPage(
    ctx.rt.db,
    groups,
    where,
    { column: groups.name, direction, tiebreak: groups.id },
    page,
  );
}

export async function loadGroups(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<GroupRow | null>> {
  if (!isAdmin(ctx.auth)) return ids.map(() => null);
  const valid = ids.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db.select().from(groups).where(inArray(groups.id, valid))
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** Member user ids of each group, in one statement for many groups. */
export async function loadGroupMemberIds(
  ctx: ServiceContext,
  groupIds: readonly string[],
): Promise<string[][]> {
  const rows = await ctx.rt.db
    .select({ groupId: groupMembers.groupId, userId: groupMembers.userId })
    .from(groupMembers)
    .where(inArray(groupMembers.groupId, [...groupIds]));
  return groupIds.map((g) => rows.filter((r) => r.groupId === g).map((r) => r.userId));
}

/** Group ids of each user, in one statement for many users. */
export async function loadUserGroupIds(
  ctx: ServiceContext,
  userIds: readonly string[],
): Promise<string[][]> {
  const rows = await ctx.rt.db
    .select({ groupId: groupMembers.groupId, userId: groupMembers.userId })
    .from(groupMembers)
    .where(inArray(groupMembers.userId, [...userIds]));
  return userIds.map((u) => rows.filter((r) => r.userId === u).map((r) => r.groupId));
}

const createGroupInput = z.object({
  domainId: z.string(),
  name: nameSchema,
  description: descriptionSchema.optional().default(''),
});

export async function createGroup(ctx: ServiceContext, input: unknown): Promise<GroupRow> {
  authorize(ctx, 'identity:create_group');
  const data = parseInput(createGroupInput, input);
  try {
    return await inTransaction(ctx.rt, async (tx) => {
      const [d] = isUuid(data.domainId)
        ? await tx.select().from(domains).where(eq(domains.id, data.domainId))
        : [];
      if (!d) throw new InvalidInputError('input.domainId', `No domain with id "${data.domainId}"`);
      const [row] = await tx.insert(groups).values(data).returning();
      await groupEvent(tx, 'GROUP_CREATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'groups_domain_name_key')
      throw new NameTakenError('group', data.name, ' in this domain');
    throw error;
  }
}

const updateGroupInput = z.object({
  id: z.string(),
  name: nameSchema.optional(),
  description: descriptionSchema.optional(),
});

export async function updateGroup(ctx: ServiceContext, input: unknown): Promise<GroupRow> {
  authorize(ctx, 'identity:update_group');
  const { id, ...changes } = parseInput(updateGroupInput, input);
  if (!isUuid(id)) throw new NotFoundError('group', id);
  try {
    return await inTransaction(ctx.rt, async (tx) => {
      const [row] = await tx.update(groups).set(changes).where(eq(groups.id, id)).returning();
      if (!row) throw new NotFoundError('group', id);
      await groupEvent(tx, 'GROUP_UPDATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'groups_domain_name_key')
      throw new NameTakenError('group', changes.name ?? '', ' in this domain');
    throw error;
  }
}

/** Deletes a group; its members lose whatever roles it gave them, so their tokens are revoked. */
export async function deleteGroup(ctx: ServiceContext, id: string): Promise<GroupRow> {
  authorize(ctx, 'identity:delete_group');
  if (!isUuid(id)) throw new NotFoundError('group', id);
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const members = await tx
      .select({ userId: groupMembers.userId })
      .from(groupMembers)
      .where(eq(groupMembers.groupId, id));
    const [row] = await tx.delete(groups).where(eq(groups.id, id)).returning();
    if (!row) throw new NotFoundError('group', id);
    await revokeUsersTokens(
      tx,
      members.map((m) => m.userId),
      ctx.rt.config.tokenTtlSeconds,
      ctx.rt.revocations,
      afterCommit,
    );
    await groupEvent(tx, 'GROUP_DELETED', row);
    return row;
  });
}

const membershipInput = z.object({ groupId: z.string(), userId: z.string() });

/** Adds a user to a group; adding one already there is a no-op. */
export async function addUserToGroup(ctx: ServiceContext, input: unknown): Promise<GroupRow> {
  authorize(ctx, 'identity:manage_group_members');
  const data = parseInput(membershipInput, input);
  return inTransaction(ctx.rt, async (tx) => {
    const group = await requireGroupAndUser(tx, data.groupId, data.userId);
    await tx.insert(groupMembers).values(data).onConflictDoNothing();
    await groupEvent(tx, 'GROUP_MEMBER_ADDED', group, { userId: data.userId });
    return group;
  });
}

/** Removes a user from a group and revokes their tokens (the group's roles may be gone). */
export async function removeUserFromGroup(ctx: ServiceContext, input: unknown): Promise<GroupRow> {
  authorize(ctx, 'identity:manage_group_members');
  const data = parseInput(membershipInput, input);
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const group = await requireGroupAndUser(tx, data.groupId, data.userId);
    const removed = await tx
      .delete(groupMembers)
      .where(and(eq(groupMembers.groupId, data.groupId), eq(groupMembers.userId, data.userId)))
      .returning();
    if (removed.length === 0) {
      throw new InvalidInputError(
        'input.userId',
        `User "${data.userId}" is not a member of group "${group.name}"`,
      );
    }
    await revokeUsersTokens(
      tx,
      [data.userId],
      ctx.rt.config.tokenTtlSeconds,
      ctx.rt.revocations,
      afterCommit,
    );
    await groupEvent(tx, 'GROUP_MEMBER_REMOVED', group, { userId: data.userId });
    return group;
  });
}

async function requireGroupAndUser(tx: Tx, groupId: string, userId: string): Promise<GroupRow> {
  const [group] = isUuid(groupId)
    ? await tx.select().from(groups).where(eq(groups.id, groupId))
    : [];
  if (!group) throw new InvalidInputError('input.groupId', `No group with id "${groupId}"`);
  const [user] = isUuid(userId)
    ? await tx.select({ id: users.id }).from(users).where(eq(users.id, userId))
    : [];
  if (!user) throw new InvalidInputError('input.userId', `No user with id "${userId}"`);
  return group;
}

function groupEvent(tx: Tx, kind: string, row: GroupRow, extra: Record<string, unknown> = {}) {
  return publishEvent(tx, {
    kind,
    projectId: null,
    resourceType: 'Group',
    resourceId: row.id,
    payload: { name: row.name, domainId: row.domainId, ...extra },
  });
}
