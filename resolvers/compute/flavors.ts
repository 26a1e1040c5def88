import { and, eq, exists, inArray, or, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { flavorAccess, flavors, projects } from '../../db/tables';
import { authorize } from '../authorize';
import { InvalidInputError, NameTakenError, NotFoundError } from '../errors';
import { publishEvent } from '../events';
import { isAdmin, scopedProjectId } from '../identity/auth-context';
import { type ListResult, type Page, selectPage } from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { descriptionSchema, isUuid, nameSchema, parseInput, uniqueViolation } from '../validation';

export type FlavorRow = typeof flavors.$inferSelect;

/** Public flavors, plus private ones the caller's project was given; admins see all. */
function visibleWhere(ctx: ServiceContext): SQL | undefined {
  if (isAdmin(ctx.auth)) return undefined;
  const own = scopedProjectId(ctx.auth);
  const granted = own
    ? exists(
        ctx.rt.db
          .select({ one: sql`1` })
          .from(flavorAccess)
          .where(and(eq(flavorAccess.flavorId, flavors.id), eq(flavorAccess.projectId, own))),
      )
    : sql`false`;
  return or(eq(flavors.isPublic, true), granted);
}

export async function listFlavors(
  ctx: ServiceContext,
  filter: { minVcpus?: number | null; minRamMib?: number | null; minDiskGib?: number | null },
  page: Page,
): Promise<ListResult<FlavorRow>> {
  authorize(ctx, 'compute:list_flavors');
  const where = and(
    visibleWhere(ctx),
    filter.minVcpus != null ? sql`${flavors.vcpus} >= ${filter.minVcpus}` : undefined,
    filter.minRamMib != null ? sql`${flavors.ramMib} >= ${filter.minRamMib}` : undefined,
    filter.minDiskGib != null ? sql`${flavors.rootDiskGib} >= ${filter.minDiskGib}` : undefined,
  );
  return selectPage(
    ctx.rt.db,
    flavors,
    where,
    { column: flavors.ramMib, direction: 'ASC', tiebreak: flavors.id },
    page,
  );
}

export async function loadFlavors(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<FlavorRow | null>> {
  const valid = ids.filter(isUuid);
  if (!ctx.auth || valid.length === 0) return ids.map(() => null);
  const rows = await ctx.rt.db
    .select()
    .from(flavors)
    .where(and(inArray(flavors.id, valid), visibleWhere(ctx)));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** Projects given access to each private flavor (admin view). */
export async function loadFlavorProjects(
  ctx: ServiceContext,
  flavorIds: readonly string[],
): Promise<string[][]> {
  const rows = await ctx.rt.db
    .select()
    .from(flavorAccess)
    .where(inArray(flavorAccess.flavorId, [...flavorIds]));
  return flavorIds.map((f) => rows.filter((r) => r.flavorId === f).map((r) => r.projectId));
}

const extraSpecsSchema = z
  .record(z.string().max(255), z.string().max(255))
  .refine((o) => Object.keys(o).length <= 100, 'may hold at most 100 keys');
const createInput = z.object({
  name: nameSchema,
  description: descriptionSchema.optional().default(''),
  vcpus: z.number().int().min(1, 'must be at least 1').max(256, 'must be at most 256'),
  ramMib: z
    .number()
    .int()
    .min(64, 'must be at least 64')
    .max(4 * 1024 * 1024),
  rootDiskGib: z.number().int().min(0, 'must not be negative').max(65536),
  ephemeralGib: z.number().int().min(0).max(65536).optional().default(0),
  swapMib: z
    .number()
    .int()
    .min(0)
    .max(1024 * 1024)
    .optional()
    .default(0),
  extraSpecs: extraSpecsSchema.optional().default({}),
  isPublic: z.boolean().optional().default(true),
  projectIds: z.array(z.string()).max(1000).optional().default([]),
});

async function grantAccess(
  tx: Tx,
  flavorId: string,
  projectIds: string[],
  field: string,
): Promise<void> {
  for (const [i, projectId] of projectIds.entries()) {
    const [p] = isUuid(projectId)
      ? await tx.select({ id: projects.id }).from(projects).where(eq(projects.id, projectId))
      : [];
    if (!p) throw new InvalidInputError(`${field}.${i}`, `No project with id "${projectId}"`);
    await tx.insert(flavorAccess).values({ flavorId, projectId }).onConflictDoNothing();
  }
}

/** Creates a flavor (admin); a private one is usable by the listed projects only. */
export async function createFlavor(ctx: ServiceContext, input: unknown): Promise<FlavorRow> {
  authorize(ctx, 'compute:manage_flavors');
  const { projectIds, ...data } = parseInput(createInput, input);
  try {
    return await inTransaction(ctx.rt, async (tx) => {
      const [row] = await tx.insert(flavors).values(data).returning();
      await grantAccess(tx, row.id, projectIds, 'input.projectIds');
      await publishEvent(tx, {
        kind: 'FLAVOR_CREATED',
        projectId: null,
        resourceType: 'Flavor',
        resourceId: row.id,
        payload: { name: row.name },
      });
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'flavors_name_key')
      throw new NameTakenError('flavor', data.name);
    throw error;
  }
}

const accessInput = z.object({
  flavorId: z.string(),
  projectIds: z.array(z.string()).min(1, 'must name at least one project'),
});

/** Gives projects access to a private flavor (Nova's add_tenant_access). */
export async function addFlavorAccess(ctx: ServiceContext, input: unknown): Promise<FlavorRow> {
  authorize(ctx, 'compute:manage_flavors');
  const data = parseInput(accessInput, input);
  return inTransaction(ctx.rt, async (tx) => {
    const [row] = isUuid(data.flavorId)
      ? await tx.select().from(flavors).where(eq(flavors.id, data.flavorId))
      : [];
    if (!row) throw new NotFoundError('flavor', data.flavorId);
    await grantAccess(tx, row.id, data.projectIds, 'input.projectIds');
    return row;
  });
}

/** Deletes a flavor. Servers keep the values they copied from it, as in Nova. */
export async function deleteFlavor(ctx: ServiceContext, id: string): Promise<FlavorRow> {
  authorize(ctx, 'compute:manage_flavors');
  if (!isUuid(id)) throw new NotFoundError('flavor', id);
  return inTransaction(ctx.rt, async (tx) => {
    const [row] = await tx.delete(flavors).where(eq(flavors.id, id)).returning();
    if (!row) throw new NotFoundError('flavor', id);
    await publishEvent(tx, {
      kind: 'FLAVOR_DELETED',
      projectId: null,
      resourceType: 'Flavor',
      resourceId: row.id,
      payload: { name: row.name },
    });
    return row;
  });
}
