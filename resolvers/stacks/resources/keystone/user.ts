import { eq } from 'drizzle-orm';
import { groupMembers } from '../../../../db/tables';
import { NotFoundError } from '../../../errors';
import { addUserToGroup, removeUserFromGroup } from '../../../identity/groups';
import { createUser, deleteUser, loadUsers, updateUser } from '../../../identity/users';
import { asProperties, badProperty, bool, list, type Props, plain, str } from '../cinder/props';
import type { ResourceContext, ResourcePlugin, ResourceState } from '../plugin';
import { domainIdFor, groupIdFor, projectIdFor, requireAction } from './lookup';
import { grant, ROLES_PROPERTY, resolveGrants, updateGrants } from './role-grants';

/**
 * OS::Keystone::User onto createUser, group membership and role assignments (admin only in
 * Stratus's policy). Everything the properties name is resolved before the user is made; a
 * later failure deletes the user again, so a bad property leaves nothing. Stratus users have
 * no description and do not move between domains: both refused by property.
 */

const FIELDS = {
  domainId: 'domain',
  name: 'name',
  email: 'email',
  password: 'password',
  defaultProjectId: 'default_project',
};

async function groupIds(ctx: ResourceContext, p: Props): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, g] of list(p, 'groups').entries())
    ids.push(await groupIdFor(ctx, String(g), `groups[${i}]`));
  return [...new Set(ids)];
}

async function plan(ctx: ResourceContext, p: Props) {
  requireAction(ctx, 'identity:create_user');
  if (str(p, 'description'))
    throw badProperty(ctx, 'description', 'Stratus users hold no description');
  const project = str(p, 'default_project');
  return {
    input: {
      domainId: await domainIdFor(ctx, str(p, 'domain'), 'domain'),
      name: str(p, 'name') ?? ctx.physicalName,
      email: str(p, 'email') ?? null,
      password: str(p, 'password') ?? null,
      enabled: bool(p, 'enabled') ?? true,
      defaultProjectId: project ? await projectIdFor(ctx, project, 'default_project') : null,
    },
    groups: await groupIds(ctx, p),
    grants: await resolveGrants(ctx, p),
  };
}

async function userRow(ctx: ResourceContext, state: ResourceState) {
  if (!state.physicalId) return null;
  const [row] = await loadUsers(ctx.svc, [state.physicalId]);
  return row;
}

export const keystoneUser: ResourcePlugin = {
  type: 'OS::Keystone::User',
  physicalType: 'User',
  properties: {
    name: { type: 'string', updateAllowed: true },
    domain: { type: 'string', default: 'default', updateAllowed: true },
    description: { type: 'string', default: '', updateAllowed: true },
    enabled: { type: 'boolean', default: true, updateAllowed: true },
    email: { type: 'string', updateAllowed: true },
    password: { type: 'string', updateAllowed: true },
    default_project: { type: 'string', updateAllowed: true },
    groups: { type: 'list', updateAllowed: true },
    roles: ROLES_PROPERTY,
  },
  attributes: ['name', 'default_project_id', 'domain_id', 'enabled', 'password_expires_at'],

  async validate(ctx, p) {
    await plan(ctx, p);
  },

  async create(ctx, p) {
    const { input, groups, grants } = await plan(ctx, p);
    const row = await asProperties(ctx, FIELDS, () => createUser(ctx.svc, input));
    try {
      for (const groupId of groups) await addUserToGroup(ctx.svc, { groupId, userId: row.id });
      await grant(ctx, { userId: row.id }, grants);
    } catch (error) {
      await deleteUser(ctx.svc, row.id);
      throw error;
    }
    return { physicalId: row.id };
  },

  async update(ctx, state, p, changed) {
    requireAction(ctx, 'identity:update_user');
    const row = await userRow(ctx, state);
    if (!row) throw new NotFoundError('user', String(state.physicalId));
    if (str(p, 'description'))
      throw badProperty(ctx, 'description', 'Stratus users hold no description');
    if (changed.includes('domain')) {
      if ((await domainIdFor(ctx, str(p, 'domain'), 'domain')) !== row.domainId)
        throw badProperty(ctx, 'domain', 'Stratus cannot move a user to another domain');
    }
    const nextGroups = await groupIds(ctx, p);
    const project = str(p, 'default_project');
    const changes: Record<string, unknown> = { id: row.id };
    if (changed.includes('name')) changes.name = str(p, 'name') ?? ctx.physicalName;
    if (changed.includes('email')) changes.email = str(p, 'email') ?? null;
    if (changed.includes('enabled')) changes.enabled = bool(p, 'enabled') ?? true;
    if (changed.includes('password') && str(p, 'password')) changes.password = str(p, 'password');
    if (changed.includes('default_project'))
      changes.defaultProjectId = project
        ? await projectIdFor(ctx, project, 'default_project')
        : null;
    if (changed.includes('roles')) await resolveGrants(ctx, p);
    await asProperties(ctx, FIELDS, () => updateUser(ctx.svc, changes));
    if (changed.includes('groups')) {
      const current = (
        await ctx.svc.rt.db
          .select({ groupId: groupMembers.groupId })
          .from(groupMembers)
          .where(eq(groupMembers.userId, row.id))
      ).map((m) => m.groupId);
      for (const groupId of nextGroups.filter((g) => !current.includes(g)))
        await addUserToGroup(ctx.svc, { groupId, userId: row.id });
      // Only the groups the template managed are removed (Heat's diff of the property).
      const before = await groupIds(ctx, state.properties).catch(() => [] as string[]);
      for (const groupId of before.filter((g) => !nextGroups.includes(g) && current.includes(g)))
        await removeUserFromGroup(ctx.svc, { groupId, userId: row.id });
    }
    if (changed.includes('roles')) await updateGrants(ctx, { userId: row.id }, state.properties, p);
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    try {
      await deleteUser(ctx.svc, state.physicalId);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  },

  async attribute(ctx, state, name) {
    const row = await userRow(ctx, state);
    if (!row) return null;
    const { passwordHash: _secret, ...visible } = row;
    const all = {
      ...plain(visible as unknown as Record<string, unknown>),
      domain_id: row.domainId,
      default_project_id: row.defaultProjectId,
      password_expires_at: null,
    };
    return name === 'show' ? all : ((all as Record<string, unknown>)[name] ?? null);
  },
};
