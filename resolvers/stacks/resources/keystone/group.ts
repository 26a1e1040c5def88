import { NotFoundError } from '../../../errors';
import { createGroup, deleteGroup, loadGroups, updateGroup } from '../../../identity/groups';
import { asProperties, badProperty, plain, str } from '../cinder/props';
import type { ResourcePlugin } from '../plugin';
import { domainIdFor, requireAction } from './lookup';
import { grant, ROLES_PROPERTY, resolveGrants, updateGrants } from './role-grants';

/**
 * OS::Keystone::Group onto createGroup and role assignments (admin only in Stratus's policy).
 * Roles are resolved before the group is made; a failing grant deletes it again.
 */

const FIELDS = { domainId: 'domain', name: 'name', description: 'description' };

export const keystoneGroup: ResourcePlugin = {
  type: 'OS::Keystone::Group',
  physicalType: 'Group',
  properties: {
    name: { type: 'string', updateAllowed: true },
    domain: { type: 'string', default: 'default', updateAllowed: true },
    description: { type: 'string', default: '', updateAllowed: true },
    roles: ROLES_PROPERTY,
  },
  attributes: [],

  async validate(ctx, p) {
    requireAction(ctx, 'identity:create_group');
    await domainIdFor(ctx, str(p, 'domain'), 'domain');
    await resolveGrants(ctx, p);
  },

  async create(ctx, p) {
    requireAction(ctx, 'identity:create_group');
    const domainId = await domainIdFor(ctx, str(p, 'domain'), 'domain');
    const grants = await resolveGrants(ctx, p);
    const input = {
      domainId,
      name: str(p, 'name') ?? ctx.physicalName,
      description: str(p, 'description') ?? '',
    };
    const row = await asProperties(ctx, FIELDS, () => createGroup(ctx.svc, input));
    try {
      await grant(ctx, { groupId: row.id }, grants);
    } catch (error) {
      await deleteGroup(ctx.svc, row.id);
      throw error;
    }
    return { physicalId: row.id };
  },

  async update(ctx, state, p, changed) {
    requireAction(ctx, 'identity:update_group');
    const [row] = await loadGroups(ctx.svc, [String(state.physicalId)]);
    if (!row) throw new NotFoundError('group', String(state.physicalId));
    if (
      changed.includes('domain') &&
      (await domainIdFor(ctx, str(p, 'domain'), 'domain')) !== row.domainId
    )
      throw badProperty(ctx, 'domain', 'Stratus cannot move a group to another domain');
    if (changed.includes('roles')) await resolveGrants(ctx, p);
    await asProperties(ctx, FIELDS, () =>
      updateGroup(ctx.svc, {
        id: row.id,
        name: str(p, 'name') ?? ctx.physicalName,
        description: str(p, 'description') ?? '',
      }),
    );
    if (changed.includes('roles'))
      await updateGrants(ctx, { groupId: row.id }, state.properties, p);
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    try {
      await deleteGroup(ctx.svc, state.physicalId);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  },

  async attribute(ctx, state, name) {
    if (name !== 'show' || !state.physicalId) return null;
    const [row] = await loadGroups(ctx.svc, [state.physicalId]);
    return row
      ? { ...plain(row as unknown as Record<string, unknown>), domain_id: row.domainId }
      : null;
  },
};
