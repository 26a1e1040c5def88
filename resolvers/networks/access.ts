import { eq, inArray, or, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import {
  floatingIps,
  networks,
  ports,
  routers,
  securityGroupRules,
  securityGroups,
  subnets,
} from '../../db/tables';
import { ForbiddenError, NotFoundError } from '../errors';
import { canSeeProject, isAdmin, scopedProjectId } from '../identity/auth-context';
import type { ServiceContext } from '../runtime';
import { isUuid } from '../validation';

/** Row types of the networks domain and who may see and change each row. */

export type NetworkRow = typeof networks.$inferSelect;
export type SubnetRow = typeof subnets.$inferSelect;
export type PortRow = typeof ports.$inferSelect;
export type SecurityGroupRow = typeof securityGroups.$inferSelect;
export type SecurityGroupRuleRow = typeof securityGroupRules.$inferSelect;
export type RouterRow = typeof routers.$inferSelect;
export type FloatingIpRow = typeof floatingIps.$inferSelect;

/** Filters every list shares: admins may ask for one project or all of them. */
export interface ProjectFilter {
  allProjects?: boolean | null;
  projectId?: string | null;
}

/**
 * Which rows of a project-owned table a list shows: the caller's project (admins: the project
 * asked for, or all with allProjects); `also` adds rows everyone may read (shared networks).
 * Undefined: everything; null: nothing.
 */
export function listScope(
  ctx: ServiceContext,
  projectColumn: AnyPgColumn,
  filter: ProjectFilter,
  also?: SQL,
): SQL | undefined | null {
  const admin = isAdmin(ctx.auth);
  if (filter.projectId && !isUuid(filter.projectId)) return null;
  if (admin && filter.projectId) return eq(projectColumn, filter.projectId);
  if (admin && filter.allProjects) return undefined;
  const own = scopedProjectId(ctx.auth);
  if (!own) return admin ? undefined : null;
  return also ? or(eq(projectColumn, own), also) : eq(projectColumn, own);
}

/** Whether the caller may read a network: its project's, or shared, or external (read-only). */
export function canSeeNetwork(ctx: ServiceContext, n: NetworkRow): boolean {
  return canSeeProject(ctx.auth, n.projectId) || (ctx.auth !== null && (n.shared || n.external));
}

/** Whether the caller may change a row of `projectId` (its members, or an admin). */
export function canWriteProject(ctx: ServiceContext, projectId: string): boolean {
  return (
    isAdmin(ctx.auth) ||
    (scopedProjectId(ctx.auth) === projectId && canSeeProject(ctx.auth, projectId))
  );
}

async function byIds<T extends { id: string }>(
  ids: readonly string[],
  fetch: (valid: string[]) => Promise<T[]>,
  visible: (row: T) => boolean,
): Promise<Array<T | null>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length ? await fetch(valid) : [];
  const map = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = map.get(id) ?? null;
    return row && visible(row) ? row : null;
  });
}

export async function loadNetworks(ctx: ServiceContext, ids: readonly string[]) {
  return byIds(
    ids,
    (v) => ctx.rt.db.select().from(networks).where(inArray(networks.id, v)),
    (n) => canSeeNetwork(ctx, n),
  );
}

/** Subnets are visible with their network (a shared network's subnets to everyone). */
export async function loadSubnets(ctx: ServiceContext, ids: readonly string[]) {
  const rows = await byIds(
    ids,
    (v) =>
      ctx.rt.db
        .select({ subnet: subnets, network: networks })
        .from(subnets)
        .innerJoin(networks, eq(networks.id, subnets.networkId))
        .where(inArray(subnets.id, v))
        .then((r) => r.map((x) => ({ ...x, id: x.subnet.id }))),
    (x) => canSeeNetwork(ctx, x.network),
  );
  return rows.map((r) => r?.subnet ?? null);
}

const ownedLoader =
  <T extends { id: string; projectId: string }>(
    fetch: (ctx: ServiceContext, valid: string[]) => Promise<T[]>,
  ) =>
  (ctx: ServiceContext, ids: readonly string[]) =>
    byIds(
      ids,
      (v) => fetch(ctx, v),
      (row) => canSeeProject(ctx.auth, row.projectId),
    );

export const loadPorts = ownedLoader((ctx, v) =>
  ctx.rt.db.select().from(ports).where(inArray(ports.id, v)),
);
export const loadSecurityGroups = ownedLoader((ctx, v) =>
  ctx.rt.db.select().from(securityGroups).where(inArray(securityGroups.id, v)),
);
export const loadSecurityGroupRules = ownedLoader((ctx, v) =>
  ctx.rt.db.select().from(securityGroupRules).where(inArray(securityGroupRules.id, v)),
);
export const loadRouters = ownedLoader((ctx, v) =>
  ctx.rt.db.select().from(routers).where(inArray(routers.id, v)),
);
export const loadFloatingIps = ownedLoader((ctx, v) =>
  ctx.rt.db.select().from(floatingIps).where(inArray(floatingIps.id, v)),
);

/** One row the caller may see, or NotFoundError naming the resource. */
export async function visible<T>(
  load: (ctx: ServiceContext, ids: readonly string[]) => Promise<Array<T | null>>,
  ctx: ServiceContext,
  resource: string,
  id: string,
): Promise<T> {
  const [row] = await load(ctx, [id]);
  if (!row) throw new NotFoundError(resource, id);
  return row;
}

/** A row the caller may change: in its project (or admin). Visible but not its own: forbidden. */
export async function writable<T extends { projectId: string }>(
  load: (ctx: ServiceContext, ids: readonly string[]) => Promise<Array<T | null>>,
  ctx: ServiceContext,
  resource: string,
  id: string,
): Promise<T> {
  const row = await visible(load, ctx, resource, id);
  if (!canWriteProject(ctx, row.projectId)) {
    throw new ForbiddenError(
      `This ${resource} belongs to another project: you may use it, not change it`,
    );
  }
  return row;
}
