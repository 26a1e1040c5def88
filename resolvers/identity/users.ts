import { and, eq, ilike, inArray, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { domains, projects, users } from '../../db/tables';
import { authorize } from '../authorize';
import {
  AuthenticationFailedError,
  InvalidInputError,
  NameTakenError,
  NotFoundError,
} from '../errors';
import { publishEvent } from '../events';
import {
  containsPattern,
  type ListResult,
  type OrderDirection,
  type Page,
  selectPage,
} from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, nameSchema, parseInput, uniqueViolation } from '../validation';
import { isAdmin } from './auth-context';
import { checkPasswordPolicy, hashSecret, verifySecret } from './passwords';
import { revokeUsersTokens } from './revocations';

export type UserRow = typeof users.$inferSelect;

export interface UserFilter {
  domainId?: string | null;
  name?: string | null;
  nameContains?: string | null;
  enabled?: boolean | null;
}
export interface UserOrder {
  field: 'NAME' | 'CREATED_AT';
  direction: OrderDirection;
}

export async function listUsers(
  ctx: ServiceContext,
  filter: UserFilter,
  order: UserOrder,
  page: Page,
): Promise<ListResult<UserRow>> {
  authorize(ctx, 'identity:list_users');
  const where: SQL | undefined = and(
    filter.domainId != null
      ? isUuid(filter.domainId)
        ? eq(users.domainId, filter.domainId)
        : sql`false`
      : undefined,
    filter.name != null ? eq(users.name, filter.name) : undefined,
    filter.nameContains != null
      ? ilike(users.name, containsPattern(filter.nameContains))
      : undefined,
    filter.enabled != null ? eq(users.enabled, filter.enabled) : undefined,
  );
  const column = order.field === 'NAME' ? users.name : users.createdAt;
  return selectPage(
    ctx.rt.db,
    users,
    where,
    { column, direction: order.direction, tiebreak: users.id },
    page,
  );
}

/** Loads users by id: admins see all, anyone else only themselves. */
export async function loadUsers(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<UserRow | null>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db.select().from(users).where(inArray(users.id, valid))
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id) ?? null;
    if (!row || !ctx.auth) return null;
    return isAdmin(ctx.auth) || row.id === ctx.auth.userId ? row : null;
  });
}

const emailSchema = z.email('must be an email address').max(255).nullable().optional();

const createUserInput = z.object({
  domainId: z.string(),
  name: nameSchema,
  email: emailSchema,
  password: z.string().optional().nullable(),
  enabled: z.boolean().optional().default(true),
  defaultProjectId: z.string().optional().nullable(),
});

export async function createUser(ctx: ServiceContext, input: unknown): Promise<UserRow> {
  authorize(ctx, 'identity:create_user');
  const data = parseInput(createUserInput, input);
  if (data.password != null)
    checkPasswordPolicy(data.password, ctx.rt.config.security, 'input.password');
  const passwordHash = data.password != null ? await hashSecret(data.password) : null;
  try {
    return await inTransaction(ctx.rt, async (tx) => {
      await requireDomain(tx, data.domainId);
      if (data.defaultProjectId != null)
        await requireProject(tx, data.defaultProjectId, 'input.defaultProjectId');
      const [row] = await tx
        .insert(users)
        .values({
          domainId: data.domainId,
          name: data.name,
          email: data.email ?? null,
          passwordHash,
          enabled: data.enabled,
          defaultProjectId: data.defaultProjectId ?? null,
          passwordChangedAt: passwordHash ? new Date() : null,
        })
        .returning();
      await userEvent(tx, 'USER_CREATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'users_domain_name_key')
      throw new NameTakenError('user', data.name, ' in this domain');
    throw error;
  }
}

const updateUserInput = z.object({
  id: z.string(),
  name: nameSchema.optional(),
  email: emailSchema,
  password: z.string().optional(),
  enabled: z.boolean().optional(),
  defaultProjectId: z.string().optional().nullable(),
});

/** Updates a user; disabling one or resetting the password revokes all the user's tokens. */
export async function updateUser(ctx: ServiceContext, input: unknown): Promise<UserRow> {
  authorize(ctx, 'identity:update_user');
  const { id, password, ...changes } = parseInput(updateUserInput, input);
  if (!isUuid(id)) throw new NotFoundError('user', id);
  if (password !== undefined)
    checkPasswordPolicy(password, ctx.rt.config.security, 'input.password');
  const passwordHash = password !== undefined ? await hashSecret(password) : undefined;
  try {
    return await inTransaction(ctx.rt, async (tx, afterCommit) => {
      if (changes.defaultProjectId != null)
        await requireProject(tx, changes.defaultProjectId, 'input.defaultProjectId');
      const [row] = await tx
        .update(users)
        .set({
          ...changes,
          ...(passwordHash
            ? { passwordHash, passwordChangedAt: new Date(), failedAuthCount: 0, lockedUntil: null }
            : {}),
        })
        .where(eq(users.id, id))
        .returning();
      if (!row) throw new NotFoundError('user', id);
      if (changes.enabled === false || passwordHash) {
        await revokeUsersTokens(
          tx,
          [id],
          ctx.rt.config.tokenTtlSeconds,
          ctx.rt.revocations,
          afterCommit,
        );
      }
      await userEvent(tx, 'USER_UPDATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'users_domain_name_key')
      throw new NameTakenError('user', changes.name ?? '', ' in this domain');
    throw error;
  }
}

/** Deletes a user with their assignments, memberships and application credentials; tokens revoked. */
export async function deleteUser(ctx: ServiceContext, id: string): Promise<UserRow> {
  authorize(ctx, 'identity:delete_user');
  if (!isUuid(id)) throw new NotFoundError('user', id);
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const [row] = await tx.delete(users).where(eq(users.id, id)).returning();
    if (!row) throw new NotFoundError('user', id);
    await revokeUsersTokens(
      tx,
      [id],
      ctx.rt.config.tokenTtlSeconds,
      ctx.rt.revocations,
      afterCommit,
    );
    await userEvent(tx, 'USER_DELETED', row);
    return row;
  });
}

const changePasswordInput = z.object({ originalPassword: z.string(), newPassword: z.string() });

/** The caller changes their own password; all their tokens are revoked, as in Keystone. */
export async function changePassword(ctx: ServiceContext, input: unknown): Promise<UserRow> {
  authorize(ctx, 'identity:change_password');
  const data = parseInput(changePasswordInput, input);
  const userId = ctx.auth!.userId;
  const [user] = await ctx.rt.db.select().from(users).where(eq(users.id, userId));
  if (!user?.passwordHash || !(await verifySecret(user.passwordHash, data.originalPassword))) {
    throw new AuthenticationFailedError();
  }
  checkPasswordPolicy(data.newPassword, ctx.rt.config.security, 'input.newPassword');
  if (await verifySecret(user.passwordHash, data.newPassword)) {
    throw new InvalidInputError(
      'input.newPassword',
      'input.newPassword must differ from the current password',
    );
  }
  const passwordHash = await hashSecret(data.newPassword);
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const [row] = await tx
      .update(users)
      .set({ passwordHash, passwordChangedAt: new Date() })
      .where(eq(users.id, userId))
      .returning();
    await revokeUsersTokens(
      tx,
      [userId],
      ctx.rt.config.tokenTtlSeconds,
      ctx.rt.revocations,
      afterCommit,
    );
    await userEvent(tx, 'USER_UPDATED', row);
    return row;
  });
}

async function requireDomain(tx: Tx, domainId: string): Promise<void> {
  const [d] = isUuid(domainId)
    ? await tx.select({ id: domains.id }).from(domains).where(eq(domains.id, domainId))
    : [];
  if (!d) throw new InvalidInputError('input.domainId', `No domain with id "${domainId}"`);
}

async function requireProject(tx: Tx, projectId: string, field: string): Promise<void> {
  const [p] = isUuid(projectId)
    ? await tx.select({ id: projects.id }).from(projects).where(eq(projects.id, projectId))
    : [];
  if (!p) throw new InvalidInputError(field, `No project with id "${projectId}"`);
}

function userEvent(tx: Tx, kind: string, row: UserRow) {
  return publishEvent(tx, {
    kind,
    projectId: null,
    resourceType: 'User',
    resourceId: row.id,
    payload: { name: row.name, domainId: row.domainId, enabled: row.enabled },
  });
}
