import { and, count, eq, ilike, inArray, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { domains, groups, projects, users } from '../../db/tables';
import { authorize } from '../authorize';
import { ConflictError, NameTakenError, NotFoundError } from '../errors';
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

export type DomainRow = typeof domains.$inferSelect;

export interface DomainFilter {
  name?: string | null;
  nameContains?: string | null;
  enabled?: boolean | null;
}
export interface DomainOrder {
  field: 'NAME' | 'CREATED_AT';
  direction: OrderDirection;
}

function domainWhere(filter: DomainFilter): SQL | undefined {
  return and(
    filter.name != null ? eq(domains.name, filter.name) : undefined,
    filter.nameContains != null
      ? ilike(domains.name, containsPattern(filter.nameContains))
      : undefined,
    filter.enabled != null ? eq(domains.enabled, filter.enabled) : undefined,
  );
}

/** Lists domains (admin only), filtered and ordered, one page with the total. */
export async function listDomains(
  ctx: ServiceContext,
  filter: DomainFilter,
  order: DomainOrder,
  page: Page,
): Promise<ListResult<DomainRow>> {
  authorize(ctx, 'identity:list_domains');
  const column = order.field === 'NAME' ? domains.name : domains.createdAt;
  return selectPage(
    ctx.rt.db,
    domains,
    domainWhere(filter),
    { column, direction: order.direction, tiebreak: domains.id },
    page,
  );
}

/**
 * Loads domains by id for relation fields and node(). Admins see every domain; others see
 * the domain of their own user and token scope only.
 */
export async function loadDomains(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<DomainRow | null>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db.select().from(domains).where(inArray(domains.id, valid))
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id) ?? null;
    if (!row || !ctx.auth) return null;
    return isAdmin(ctx.auth) || row.id === ctx.auth.domainId ? row : null;
  });
}

const createDomainInput = z.object({
  name: nameSchema,
  description: descriptionSchema.optional().default(''),
  enabled: z.boolean().optional().default(true),
});

export async function createDomain(ctx: ServiceContext, input: unknown): Promise<DomainRow> {
  authorize(ctx, 'identity:create_domain');
  const data = parseInput(createDomainInput, input);
  try {
    return await inTransaction(ctx.rt, async (tx) => {
      const [row] = await tx.insert(domains).values(data).returning();
      await domainEvent(tx, 'DOMAIN_CREATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'domains_name_key')
      throw new NameTakenError('domain', data.name);
    throw error;
  }
}

const updateDomainInput = z.object({
  id: z.string(),
  name: nameSchema.optional(),
  description: descriptionSchema.optional(),
  enabled: z.boolean().optional(),
});

export async function updateDomain(ctx: ServiceContext, input: unknown): Promise<DomainRow> {
  authorize(ctx, 'identity:update_domain');
  const { id, ...changes } = parseInput(updateDomainInput, input);
  if (!isUuid(id)) throw new NotFoundError('domain', id);
  try {
    return await inTransaction(ctx.rt, async (tx) => {
      const [row] = await tx.update(domains).set(changes).where(eq(domains.id, id)).returning();
      if (!row) throw new NotFoundError('domain', id);
      await domainEvent(tx, 'DOMAIN_UPDATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'domains_name_key') {
      throw new NameTakenError('domain', changes.name ?? '');
    }
    throw error;
  }
}

/** Deletes an empty domain; one that still holds projects, users or groups is refused. */
export async function deleteDomain(ctx: ServiceContext, id: string): Promise<DomainRow> {
  authorize(ctx, 'identity:delete_domain');
  if (!isUuid(id)) throw new NotFoundError('domain', id);
  return inTransaction(ctx.rt, async (tx) => {
    const [row] = await tx.select().from(domains).where(eq(domains.id, id)).for('update');
    if (!row) throw new NotFoundError('domain', id);
    for (const [table, what] of [
      [projects, 'projects'],
      [users, 'users'],
      [groups, 'groups'],
    ] as const) {
      const [c] = await tx.select({ n: count() }).from(table).where(eq(table.domainId, id));
      if (c.n > 0) {
        throw new ConflictError(
          `Domain "${row.name}" still holds ${c.n} ${what}; delete them first`,
        );
      }
    }
    await tx.delete(domains).where(eq(domains.id, id));
    await domainEvent(tx, 'DOMAIN_DELETED', row);
    return row;
  });
}

function domainEvent(tx: Tx, kind: string, row: DomainRow) {
  return publishEvent(tx, {
    kind,
    projectId: null,
    resourceType: 'Domain',
    resourceId: row.id,
    payload: { name: row.name, enabled: row.enabled },
  });
}

/** Finds a domain by name (case-insensitive) or id; null when neither matches. */
export async function findDomain(
  db: ServiceContext['rt']['db'] | Tx,
  ref: { id?: string | null; name?: string | null },
): Promise<DomainRow | null> {
  if (ref.id) {
    if (!isUuid(ref.id)) return null;
    const [row] = await db.select().from(domains).where(eq(domains.id, ref.id));
    return row ?? null;
  }
  if (ref.name) {
    const [row] = await db
      .select()
      .from(domains)
      .where(ilike(domains.name, ref.name.replace(/[\\%_]/g, '\\$&')));
    return row ?? null;
  }
  return null;
}
