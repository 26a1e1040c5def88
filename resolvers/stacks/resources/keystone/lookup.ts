import { eq, sql } from 'drizzle-orm';
import { groups, projects, roles, users } from '../../../../db/tables';
import { authorize } from '../../../authorize';
import { findDomain } from '../../../identity/domains';
import type { Action } from '../../../policy';
import { isUuid } from '../../../validation';
import { badProperty } from '../cinder/props';
import type { ResourceContext } from '../plugin';

/**
 * Heat takes names or ids for Keystone domains, projects, users, groups and roles. Every
 * Keystone type needs admin rights in Stratus's policy, checked first (the domain's
 * ForbiddenError), so names are resolved across the whole identity store as an admin sees it.
 */

/** The domain's own policy check, without writing: ForbiddenError for a non-admin owner. */
export function requireAction(ctx: ResourceContext, action: Action): void {
  authorize(ctx.svc, action);
}

export async function domainIdFor(
  ctx: ResourceContext,
  ref: string | undefined,
  prop: string,
): Promise<string> {
  const value = ref ?? 'default';
  const row =
    (isUuid(value) ? await findDomain(ctx.svc.rt.db, { id: value }) : null) ??
    (await findDomain(ctx.svc.rt.db, { name: value }));
  if (!row) throw badProperty(ctx, prop, `no domain "${value}" (name or id)`);
  return row.id;
}

type Named = typeof projects | typeof users | typeof groups | typeof roles;

async function idFor(
  ctx: ResourceContext,
  table: Named,
  what: string,
  ref: string,
  prop: string,
): Promise<string> {
  const db = ctx.svc.rt.db;
  if (isUuid(ref)) {
    const [row] = await db.select({ id: table.id }).from(table).where(eq(table.id, ref));
    if (row) return row.id;
  }
  const named = await db
    .select({ id: table.id })
    .from(table)
    .where(sql`lower(${table.name}) = lower(${ref})`);
  if (named.length === 1) return named[0].id;
  if (named.length > 1)
    throw badProperty(
      ctx,
      prop,
      `several ${what}s are named "${ref}" (in other domains); give its id`,
    );
  throw badProperty(ctx, prop, `no ${what} "${ref}" (name or id)`);
}

export const projectIdFor = (ctx: ResourceContext, ref: string, prop: string) =>
  idFor(ctx, projects, 'project', ref, prop);
export const userIdFor = (ctx: ResourceContext, ref: string, prop: string) =>
  idFor(ctx, users, 'user', ref, prop);
export const groupIdFor = (ctx: ResourceContext, ref: string, prop: string) =>
  idFor(ctx, groups, 'group', ref, prop);
export const roleIdFor = (ctx: ResourceContext, ref: string, prop: string) =>
  idFor(ctx, roles, 'role', ref, prop);
