import { and, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../db/connection';
import { projects, quotaLimits, quotaUsage } from '../db/tables';
import { authorize } from './authorize';
import { InvalidInputError, NotFoundError, QuotaExceededError } from './errors';
import { canSeeProject } from './identity/auth-context';
import { inTransaction, type ServiceContext } from './runtime';
import { isUuid, parseInput } from './validation';

export interface QuotaEntry {
  resource: string;
  /** -1 means unlimited. */
  limit: number;
  inUse: number;
  /** True when the limit is the configured default rather than set for this project. */
  isDefault: boolean;
}

/** Limits and usage of one project, every known resource listed. */
export async function getProjectQuota(
  ctx: ServiceContext,
  projectId: string,
): Promise<QuotaEntry[] | null> {
  authorize(ctx, 'quota:get');
  if (!canSeeProject(ctx.auth, projectId) || !isUuid(projectId)) return null;
  return (await loadProjectQuotas(ctx, [projectId]))[0];
}

/** Quota of many projects in two statements (for `Project.quota` on a list). */
export async function loadProjectQuotas(
  ctx: ServiceContext,
  projectIds: readonly string[],
): Promise<QuotaEntry[][]> {
  const ids = [...projectIds];
  const [limits, usage] = await Promise.all([
    ctx.rt.db.select().from(quotaLimits).where(inArray(quotaLimits.projectId, ids)),
    ctx.rt.db.select().from(quotaUsage).where(inArray(quotaUsage.projectId, ids)),
  ]);
  return ids.map((projectId) =>
    Object.entries(ctx.rt.config.quotaDefaults).map(([resource, fallback]) => {
      const set = limits.find((l) => l.projectId === projectId && l.resource === resource);
      const used = usage.find((u) => u.projectId === projectId && u.resource === resource);
      return {
        resource,
        limit: set?.hardLimit ?? fallback,
        inUse: used?.inUse ?? 0,
        isDefault: !set,
      };
    }),
  );
}

const setQuotaInput = z.object({
  projectId: z.string(),
  limits: z
    .array(
      z.object({
        resource: z.string(),
        limit: z.number().int().min(-1, 'must be -1 (unlimited) or more'),
      }),
    )
    .min(1, 'must name at least one resource'),
});

/** Sets limits of a project (admin). A limit below current usage is allowed, as in Nova: new requests fail. */
export async function setProjectQuota(ctx: ServiceContext, input: unknown): Promise<QuotaEntry[]> {
  authorize(ctx, 'quota:set');
  const data = parseInput(setQuotaInput, input);
  data.limits.forEach((l, i) => {
    if (!(l.resource in ctx.rt.config.quotaDefaults)) {
      throw new InvalidInputError(
        `input.limits.${i}.resource`,
        `Unknown quota resource "${l.resource}"; known: ${Object.keys(ctx.rt.config.quotaDefaults).join(', ')}`,
      );
    }
  });
  await inTransaction(ctx.rt, async (tx) => {
    const [project] = isUuid(data.projectId)
      ? await tx.select({ id: projects.id }).from(projects).where(eq(projects.id, data.projectId))
      : [];
    if (!project) throw new NotFoundError('project', data.projectId);
    for (const l of data.limits) {
      await tx
        .insert(quotaLimits)
        .values({ projectId: data.projectId, resource: l.resource, hardLimit: l.limit })
        .onConflictDoUpdate({
          target: [quotaLimits.projectId, quotaLimits.resource],
          set: { hardLimit: l.limit },
        });
    }
  });
  return (await loadProjectQuotas(ctx, [data.projectId]))[0];
}

/**
 * Reserves `amounts` for a project inside the caller's transaction. Usage rows are locked in
 * a fixed order, so concurrent reservations queue instead of both passing the check: the
 * limit holds under any concurrency. Throws QuotaExceededError naming the first resource over.
 */
export async function reserveQuota(
  tx: Tx,
  defaults: Record<string, number>,
  projectId: string,
  amounts: Record<string, number>,
): Promise<void> {
  const resources = Object.keys(amounts).sort();
  for (const resource of resources) {
    if (!(resource in defaults)) throw new Error(`reserveQuota: unknown resource "${resource}"`);
    await tx.insert(quotaUsage).values({ projectId, resource, inUse: 0 }).onConflictDoNothing();
  }
  for (const resource of resources) {
    const [usage] = await tx
      .select()
      .from(quotaUsage)
      .where(and(eq(quotaUsage.projectId, projectId), eq(quotaUsage.resource, resource)))
      .for('update');
    const [set] = await tx
      .select()
      .from(quotaLimits)
      .where(and(eq(quotaLimits.projectId, projectId), eq(quotaLimits.resource, resource)));
    const limit = set?.hardLimit ?? defaults[resource];
    const requested = amounts[resource];
    if (limit >= 0 && usage.inUse + requested > limit) {
      throw new QuotaExceededError(resource, limit, usage.inUse, requested);
    }
    await tx
      .update(quotaUsage)
      .set({ inUse: sql`${quotaUsage.inUse} + ${requested}` })
      .where(and(eq(quotaUsage.projectId, projectId), eq(quotaUsage.resource, resource)));
  }
}

/** Gives back what `reserveQuota` took (on delete, or when a build fails). Never below zero. */
export async function releaseQuota(
  tx: Tx,
  projectId: string,
  amounts: Record<string, number>,
): Promise<void> {
  // The same row order as reserveQuota, or a release and a reservation deadlock each other.
  for (const resource of Object.keys(amounts).sort()) {
    const amount = amounts[resource];
    await tx
      .update(quotaUsage)
      .set({ inUse: sql`greatest(${quotaUsage.inUse} - ${amount}, 0)` })
      .where(and(eq(quotaUsage.projectId, projectId), eq(quotaUsage.resource, resource)));
  }
}
