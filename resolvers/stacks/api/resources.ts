import { and, asc, eq, getTableColumns, gt, inArray, isNull, type SQL } from 'drizzle-orm';
import { stackEvents, stackResources, stacks } from '../../../db/stacks';
import { canSeeProject } from '../../identity/auth-context';
import type { ListResult, Page } from '../../pagination';
import { selectPage } from '../../pagination';
import type { ServiceContext } from '../../runtime';
import type { StackResourceRow, StackRow } from '../engine/types';

/** A stack's resources and events, and the reverse edge from a physical resource to its stack. */

export type StackEventRow = typeof stackEvents.$inferSelect;
export type { StackResourceRow };

/** The stack's resources (not those an update replaced), by name. */
export async function listStackResources(
  ctx: ServiceContext,
  stack: StackRow,
  filter: { name?: string | null },
  page: Page,
): Promise<ListResult<StackResourceRow>> {
  const where = and(
    eq(stackResources.stackId, stack.id),
    isNull(stackResources.replacedBy),
    filter.name != null ? eq(stackResources.name, filter.name) : undefined,
  );
  return selectPage(
    ctx.rt.db,
    stackResources,
    where,
    { column: stackResources.name, direction: 'ASC', tiebreak: stackResources.id },
    page,
  );
}

/** One resource of the stack by its template name (the live one, not a replaced one). */
export async function stackResourceByName(
  ctx: ServiceContext,
  stack: StackRow,
  name: string,
): Promise<StackResourceRow | null> {
  const [row] = await ctx.rt.db
    .select()
    .from(stackResources)
    .where(
      and(
        eq(stackResources.stackId, stack.id),
        eq(stackResources.name, name),
        isNull(stackResources.replacedBy),
      ),
    )
    .orderBy(asc(stackResources.createdAt))
    .limit(1);
  return row ?? null;
}

/**
 * The stack's events, oldest first (newest last, as Heat lists them); with `stackIds` (the
 * stack and its nested stacks) those of the whole tree.
 */
export async function listStackEvents(
  ctx: ServiceContext,
  stack: StackRow,
  filter: { resourceName?: string | null; stackIds?: readonly string[] },
  page: Page,
): Promise<ListResult<StackEventRow>> {
  const where = and(
    filter.stackIds
      ? inArray(stackEvents.stackId, [...filter.stackIds])
      : eq(stackEvents.stackId, stack.id),
    filter.resourceName != null ? eq(stackEvents.resourceName, filter.resourceName) : undefined,
  );
  return selectPage(
    ctx.rt.db,
    stackEvents,
    where,
    { column: stackEvents.id, direction: 'ASC', tiebreak: stackEvents.id },
    page,
  );
}

/** Events of these stacks after the cursor (an event id), oldest first, at most `limit`. */
export async function stackEventsAfter(
  ctx: ServiceContext,
  stackIds: readonly string[],
  after: number,
  limit = 500,
): Promise<StackEventRow[]> {
  if (stackIds.length === 0) return [];
  const where: SQL | undefined = and(
    inArray(stackEvents.stackId, [...stackIds]),
    gt(stackEvents.id, after),
  );
  const rows = await ctx.rt.db
    .select()
    .from(stackEvents)
    .where(where)
    .orderBy(asc(stackEvents.id))
    .limit(limit);
  return rows.filter((r) => canSeeProject(ctx.auth, r.projectId));
}

/**
 * For each physical resource id of `physicalType`: the stack (visible to the caller) whose
 * resource it is, or null. One statement for the whole batch.
 */
export async function stacksOfPhysical(
  ctx: ServiceContext,
  physicalType: string,
  ids: readonly string[],
): Promise<Array<StackRow | null>> {
  if (ids.length === 0) return [];
  const rows = await ctx.rt.db
    .select({ physicalId: stackResources.physicalId, stack: getTableColumns(stacks) })
    .from(stackResources)
    .innerJoin(stacks, eq(stacks.id, stackResources.stackId))
    .where(
      and(
        eq(stackResources.physicalType, physicalType),
        inArray(stackResources.physicalId, [...ids]),
      ),
    );
  const byId = new Map<string, StackRow>();
  for (const r of rows) {
    if (r.physicalId && canSeeProject(ctx.auth, r.stack.projectId)) byId.set(r.physicalId, r.stack);
  }
  return ids.map((id) => byId.get(id) ?? null);
}
