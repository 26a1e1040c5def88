import { and, eq, inArray, ne } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { serverGroups, servers } from '../../db/tables';
import { authorize } from '../authorize';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors';
import { publishEvent } from '../events';
import { canSeeProject, isAdmin, scopedProjectId } from '../identity/auth-context';
import { type ListResult, type Page, selectPage } from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, nameSchema, parseInput } from '../validation';

export type ServerGroupRow = typeof serverGroups.$inferSelect;

/** Server groups of the caller's project (admins: all), by name. */
export async function listServerGroups(
  ctx: ServiceContext,
  page: Page,
): Promise<ListResult<ServerGroupRow>> {
  authorize(ctx, 'compute:list_server_groups');
  const own = scopedProjectId(ctx.auth);
  if (!isAdmin(ctx.auth) && !own) return { rows: [], totalCount: 0 };
  return selectPage(
    ctx.rt.db,
    serverGroups,
    isAdmin(ctx.auth) ? undefined : eq(serverGroups.projectId, own!),
    { column: serverGroups.name, direction: 'ASC', tiebreak: serverGroups.id },
    page,
  );
}

export async function loadServerGroups(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<ServerGroupRow | null>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db.select().from(serverGroups).where(inArray(serverGroups.id, valid))
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id) ?? null;
    return row && canSeeProject(ctx.auth, row.projectId) ? row : null;
  });
}

/** Ids of the live servers in each group. */
export async function loadGroupMembers(
  ctx: ServiceContext,
  groupIds: readonly string[],
): Promise<string[][]> {
  const rows = groupIds.length
    ? await ctx.rt.db
        .select({ id: servers.id, groupId: servers.serverGroupId })
        .from(servers)
        .where(and(inArray(servers.serverGroupId, [...groupIds]), ne(servers.vmState, 'deleted')))
    : [];
  return groupIds.map((g) => rows.filter((r) => r.groupId === g).map((r) => r.id));
}

const createInput = z.object({
  name: nameSchema,
  policy: z.enum(['affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity']),
});

export async function createServerGroup(
  ctx: ServiceContext,
  input: unknown,
): Promise<ServerGroupRow> {
  authorize(ctx, 'compute:manage_server_groups');
  const data = parseInput(createInput, input);
  const projectId = scopedProjectId(ctx.auth);
  if (!projectId) throw new InvalidInputError('input', 'A token scoped to a project is required');
  return inTransaction(ctx.rt, async (tx) => {
    const [row] = await tx
      .insert(serverGroups)
      .values({ ...data, projectId, userId: ctx.auth!.userId })
      .returning();
    await groupEvent(tx, 'SERVER_GROUP_CREATED', row);
    return row;
  });
}

/** Deletes a group with no live members (Nova deletes it anyway; refusing keeps policies honest). */
export async function deleteServerGroup(ctx: ServiceContext, id: string): Promise<ServerGroupRow> {
  authorize(ctx, 'compute:manage_server_groups');
  return inTransaction(ctx.rt, async (tx) => {
    const [row] = isUuid(id)
      ? await tx.select().from(serverGroups).where(eq(serverGroups.id, id)).for('update')
      : [];
    if (!row || !canSeeProject(ctx.auth, row.projectId))
      throw new NotFoundError('server group', id);
    const members = await tx
      .select({ id: servers.id })
      .from(servers)
      .where(and(eq(servers.serverGroupId, id), ne(servers.vmState, 'deleted')));
    if (members.length > 0) {
      throw new ConflictError(
        `Server group "${row.name}" still has ${members.length} server(s); delete them first`,
      );
    }
    await tx.delete(serverGroups).where(eq(serverGroups.id, id));
    await groupEvent(tx, 'SERVER_GROUP_DELETED', row);
    return row;
  });
}

function groupEvent(tx: Tx, kind: string, row: ServerGroupRow) {
  return publishEvent(tx, {
    kind,
    projectId: row.projectId,
    resourceType: 'ServerGroup',
    resourceId: row.id,
    payload: { name: row.name, policy: row.policy },
  });
}
