import { and, asc, eq, ilike, inArray, type SQL, sql } from 'drizzle-orm';
import { stacks } from '../../../db/stacks';
import { authorize } from '../../authorize';
import { NotFoundError } from '../../errors';
import { canSeeProject, isAdmin, scopedProjectId } from '../../identity/auth-context';
import { containsPattern, type ListResult, type Page, selectPage } from '../../pagination';
import type { ServiceContext } from '../../runtime';
import { isUuid } from '../../validation';
import type { StackRow } from '../engine/types';

/** Reads of stacks for the API: listing, loading by id or name, with tenant visibility. */

export type { StackRow };

export interface StackFilter {
  name?: string | null;
  /** Heat's `<ACTION>_<STATUS>`, e.g. CREATE_COMPLETE. */
  status?: string | null;
  /** Admins: this project's stacks. */
  projectId?: string | null;
  /** Admins: every project's stacks. */
  allProjects?: boolean | null;
  /** Nested stacks too (Heat's show_nested); default: top-level stacks only. */
  showNested?: boolean | null;
}

/** Splits `CREATE_IN_PROGRESS` into its action and status. */
export function splitState(state: string): { action: string; status: string } | null {
  const m =
    /^(INIT|CREATE|UPDATE|DELETE|ROLLBACK|SUSPEND|RESUME|CHECK)_(IN_PROGRESS|COMPLETE|FAILED)$/.exec(
      state,
    );
  return m ? { action: m[1], status: m[2] } : null;
}

/** Stacks of the caller's project (admins: a project, or all), newest first. */
export async function listStacks(
  ctx: ServiceContext,
  filter: StackFilter,
  page: Page,
): Promise<ListResult<StackRow>> {
  authorize(ctx, 'stack:list');
  const admin = isAdmin(ctx.auth);
  const own = scopedProjectId(ctx.auth);
  let projectWhere: SQL | undefined;
  if (filter.projectId && !isUuid(filter.projectId)) return { rows: [], totalCount: 0 };
  if (admin && filter.projectId) projectWhere = eq(stacks.projectId, filter.projectId);
  else if (admin && filter.allProjects) projectWhere = undefined;
  else if (own) projectWhere = eq(stacks.projectId, own);
  else return { rows: [], totalCount: 0 };
  const state = filter.status ? splitState(filter.status) : null;
  if (filter.status && !state) return { rows: [], totalCount: 0 };
  const where = and(
    projectWhere,
    filter.showNested ? undefined : sql`${stacks.parentStackId} is null`,
    filter.name != null ? ilike(stacks.name, containsPattern(filter.name)) : undefined,
    state ? eq(stacks.action, state.action as StackRow['action']) : undefined,
    state ? eq(stacks.status, state.status as StackRow['status']) : undefined,
  );
  return selectPage(
    ctx.rt.db,
    stacks,
    where,
    { column: stacks.createdAt, direction: 'DESC', tiebreak: stacks.id },
    page,
  );
}

/** Stacks by id, null where the caller may not see one (another project's, or gone). */
export async function loadStacks(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<StackRow | null>> {
  const valid = ids.filter(isUuid);
  if (!ctx.auth || valid.length === 0) return ids.map(() => null);
  const rows = await ctx.rt.db.select().from(stacks).where(inArray(stacks.id, valid));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id) ?? null;
    return row && canSeeProject(ctx.auth, row.projectId) ? row : null;
  });
}

/** One visible stack, or NotFoundError (another project's stack is not told apart from none). */
export async function requireStack(ctx: ServiceContext, id: string): Promise<StackRow> {
  const [row] = await loadStacks(ctx, [id]);
  if (!row) throw new NotFoundError('stack', id);
  return row;
}

/** A stack of the caller's project by name (admins: of `projectId`); null when none. */
export async function stackByName(
  ctx: ServiceContext,
  name: string,
  projectId?: string | null,
): Promise<StackRow | null> {
  authorize(ctx, 'stack:list');
  const project =
    projectId && isAdmin(ctx.auth) ? projectId : (scopedProjectId(ctx.auth) ?? projectId ?? null);
  if (!project || !isUuid(project)) return null;
  const [row] = await ctx.rt.db
    .select()
    .from(stacks)
    .where(and(eq(stacks.projectId, project), eq(stacks.name, name)));
  return row && canSeeProject(ctx.auth, row.projectId) ? row : null;
}

/** The child stacks of each stack (nested stacks), oldest first. */
export async function nestedStacksOf(
  ctx: ServiceContext,
  parentIds: readonly string[],
): Promise<StackRow[][]> {
  const valid = parentIds.filter(isUuid);
  const rows =
    valid.length === 0
      ? []
      : await ctx.rt.db
          .select()
          .from(stacks)
          .where(inArray(stacks.parentStackId, valid))
          .orderBy(asc(stacks.createdAt), asc(stacks.id));
  return parentIds.map((id) =>
    rows.filter((r) => r.parentStackId === id && canSeeProject(ctx.auth, r.projectId)),
  );
}

/** The stack and every stack nested under it, at any depth (ids). */
export async function stackTreeIds(ctx: ServiceContext, rootId: string): Promise<string[]> {
  const { rows } = await ctx.rt.db.execute<{ id: string }>(sql`
    with recursive tree(id) as (
      select ${stacks.id} from ${stacks} where ${stacks.id} = ${rootId}
      union all
      select s.id from ${stacks} s join tree on s.parent_stack_id = tree.id
    )
    select id from tree`);
  return rows.map((r) => r.id);
}
