import { ConflictError, NotFoundError } from '../../../errors';
import { assignRole, unassignRole } from '../../../identity/role-assignments';
import { badProperty, list, type Props, str } from '../cinder/props';
import type { PropertySpec, ResourceContext } from '../plugin';
import { domainIdFor, projectIdFor, roleIdFor } from './lookup';

/**
 * Heat's KeystoneRoleAssignmentMixin: a `roles` list of `{role, project | domain}` granted to
 * a user or group on create, diffed on update (removed ones revoked, new ones granted),
 * revoked on delete. Names or ids everywhere.
 */

export const ROLES_PROPERTY: PropertySpec = {
  type: 'list',
  updateAllowed: true,
  description: 'List of {role, project} or {role, domain} maps',
};

export interface Grant {
  roleId: string;
  projectId?: string;
  domainId?: string;
}

export type Actor = { userId: string } | { groupId: string };

const keyOf = (g: Grant) => `${g.roleId}/${g.projectId ?? ''}/${g.domainId ?? ''}`;

/** Resolves and checks every entry; errors name `roles[i].<key>`. No writes. */
export async function resolveGrants(
  ctx: ResourceContext,
  p: Props,
  prop = 'roles',
): Promise<Grant[]> {
  const out: Grant[] = [];
  for (const [i, raw] of list(p, prop).entries()) {
    const at = `${prop}[${i}]`;
    const entry = (raw && typeof raw === 'object' ? raw : {}) as Props;
    const role = str(entry, 'role');
    const project = str(entry, 'project');
    const domain = str(entry, 'domain');
    if (!role) throw badProperty(ctx, `${at}.role`, 'a role (name or id) is required');
    if (!project === !domain)
      throw badProperty(
        ctx,
        at,
        'give either project or domain for the role, not both and not neither',
      );
    out.push({
      roleId: await roleIdFor(ctx, role, `${at}.role`),
      ...(project
        ? { projectId: await projectIdFor(ctx, project, `${at}.project`) }
        : { domainId: await domainIdFor(ctx, domain, `${at}.domain`) }),
    });
  }
  return out;
}

/** Grants each; one already held is fine (a retry). */
export async function grant(ctx: ResourceContext, actor: Actor, grants: Grant[]): Promise<void> {
  for (const g of grants) {
    try {
      await assignRole(ctx.svc, { ...actor, ...g });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
  }
}

/** Revokes each; one already gone is fine. */
export async function revoke(ctx: ResourceContext, actor: Actor, grants: Grant[]): Promise<void> {
  for (const g of grants) {
    try {
      await unassignRole(ctx.svc, { ...actor, ...g });
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  }
}

/** Heat's update_assignment: revoke what the new list dropped, then grant what it added. */
export async function updateGrants(
  ctx: ResourceContext,
  actor: Actor,
  before: Props,
  after: Props,
  prop = 'roles',
): Promise<void> {
  const next = await resolveGrants(ctx, after, prop);
  // The old entries' names may no longer resolve (a role deleted since): skip those.
  const old = await resolveGrants(ctx, before, prop).catch(() => [] as Grant[]);
  const nextKeys = new Set(next.map(keyOf));
  const oldKeys = new Set(old.map(keyOf));
  await revoke(
    ctx,
    actor,
    old.filter((g) => !nextKeys.has(keyOf(g))),
  );
  await grant(
    ctx,
    actor,
    next.filter((g) => !oldKeys.has(keyOf(g))),
  );
}
