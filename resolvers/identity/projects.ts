import { and, eq, ilike, inArray, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { domains, projects } from '../../db/tables';
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
import { canSeeProject, isAdmin, scopedProjectId } from './auth-context';
import { recordRevocation } from './revocations';

export type ProjectRow = typeof projects.$inferSelect;

export interface ProjectFilter {
  domainId?: string | null;
  name?: string | null;
  nameContains?: string | null;
  enabled?: boolean | null;
}
export interface ProjectOrder {
  field: 'NAME' | 'CREATED_AT';
  direction: OrderDirection;
}

/** Admins list every project; anyone else sees only the project their token is scoped to. */
export async function listProjects(
  ctx: ServiceContext,
  filter: ProjectFilter,
  order: ProjectOrder,
  page: Page,
): Promise<ListResult<ProjectRow>> {
  authorize(ctx, 'identity:list_projects');
  const own = scopedProjectId(ctx.auth);
  if (!isAdmin(ctx.auth) && own === null) return { rows: [], totalCount: 0 };
  const where: SQL | undefined = and(
    isAdmin(ctx.auth) ? undefined : eq(projects.id, own!),
    filter.domainId != null
      ? isUuid(filter.domainId)
        ? eq(projects.domainId, filter.domainId)
        : sql`false`
      : undefined,
    filter.name != null ? eq(projects.name, filter.name) : undefined,
    filter.nameContains != null
      ? ilike(projects.name, containsPattern(filter.nameContains))
      : undefined,
    filter.enabled != null ? eq(projects.enabled, filter.enabled) : undefined,
  );
  const column = order.field === 'NAME' ? projects.name : projects.createdAt;
  return selectPage(
    ctx.rt.db,
    projects,
    where,
    { column, direction: order.direction, tiebreak: projects.id },
    page,
  );
}

/** Loads projects by id, returning null for any the caller may not see. */
export async function loadProjects(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<ProjectRow | null>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db.select().from(projects).where(inArray(projects.id, valid))
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id) ?? null;
    return row && canSeeProject(ctx.auth, row.id) ? row : null;
  });
}

const createProjectInput = z.object({
  domainId: z.string(),
  name: nameSchema,
  description: descriptionSchema.optional().default(''),
  enabled: z.boolean().optional().default(true),
});

export async function createProject(ctx: ServiceContext, input: unknown): Promise<ProjectRow> {
  authorize(ctx, 'identity:create_project');
  const data = parseInput(createProjectInput, input);
  try {
    return await inTransaction(ctx.rt, async (tx) => {
      const [domain] = isUuid(data.domainId)
        ? await tx.select().from(domains).where(eq(domains.id, data.domainId))
        : [];
      if (!domain)
        throw new InvalidInputError('input.domainId', `No domain with id "${data.domainId}"`);
      const [row] = await tx.insert(projects).values(data).returning();
      await projectEvent(tx, 'PROJECT_CREATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'projects_domain_name_key') {
      throw new NameTakenError('project', data.name, ' in this domain');
    }
    throw error;
  }
}

const updateProjectInput = z.object({
  id: z.string(),
  name: nameSchema.optional(),
  description: descriptionSchema.optional(),
  enabled: z.boolean().optional(),
});

/** Updates a project; disabling it revokes every token scoped to it, as Keystone does. */
export async function updateProject(ctx: ServiceContext, input: unknown): Promise<ProjectRow> {
  authorize(ctx, 'identity:update_project');
  const { id, ...changes } = parseInput(updateProjectInput, input);
  if (!isUuid(id)) throw new NotFoundError('project', id);
  try {
    return await inTransaction(ctx.rt, async (tx, afterCommit) => {
      const [row] = await tx.update(projects).set(changes).where(eq(projects.id, id)).returning();
      if (!row) throw new NotFoundError('project', id);
      if (changes.enabled === false) {
        const record = await recordRevocation(tx, 'project', id, ctx.rt.config.tokenTtlSeconds);
        afterCommit(() => ctx.rt.revocations.apply(record));
      }
      await projectEvent(tx, 'PROJECT_UPDATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'projects_domain_name_key') {
      throw new NameTakenError('project', changes.name ?? '', ' in this domain');
    }
    throw error;
  }
}

/** Deletes a project with its role assignments and quotas; its tokens are revoked. */
export async function deleteProject(ctx: ServiceContext, id: string): Promise<ProjectRow> {
  authorize(ctx, 'identity:delete_project');
  if (!isUuid(id)) throw new NotFoundError('project', id);
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const [row] = await tx.delete(projects).where(eq(projects.id, id)).returning();
    if (!row) throw new NotFoundError('project', id);
    const record = await recordRevocation(tx, 'project', id, ctx.rt.config.tokenTtlSeconds);
    afterCommit(() => ctx.rt.revocations.apply(record));
    await projectEvent(tx, 'PROJECT_DELETED', row);
    return row;
  });
}

function projectEvent(tx: Tx, kind: string, row: ProjectRow) {
  return publishEvent(tx, {
    kind,
    projectId: null,
    resourceType: 'Project',
    resourceId: row.id,
    payload: { name: row.name, domainId: row.domainId, enabled: row.enabled },
  });
}
