import { badProperty, str } from '../cinder/props';
import type { ResourcePlugin } from '../plugin';
import { requireAction, userIdFor } from './lookup';
import { grant, ROLES_PROPERTY, resolveGrants, revoke, updateGrants } from './role-grants';

/**
 * OS::Keystone::UserRoleAssignment: grants `roles` to an existing user (admin only in
 * Stratus's policy); revoked on delete. The physical id is the user's id, as in Heat.
 */

async function userOf(ctx: Parameters<ResourcePlugin['create']>[0], p: Record<string, unknown>) {
  requireAction(ctx, 'identity:assign_role');
  const user = str(p, 'user');
  if (!user) throw badProperty(ctx, 'user', 'a user (name or id) is required');
  return userIdFor(ctx, user, 'user');
}

export const keystoneUserRoleAssignment: ResourcePlugin = {
  type: 'OS::Keystone::UserRoleAssignment',
  properties: {
    user: { type: 'string', required: true },
    roles: { ...ROLES_PROPERTY, required: true },
  },
  attributes: [],

  async validate(ctx, p) {
    requireAction(ctx, 'identity:assign_role');
    // A user made by the same stack is left out of validate until it exists.
    if (str(p, 'user')) await userOf(ctx, p);
    await resolveGrants(ctx, p);
  },

  async create(ctx, p) {
    const userId = await userOf(ctx, p);
    const grants = await resolveGrants(ctx, p);
    try {
      await grant(ctx, { userId }, grants);
    } catch (error) {
      await revoke(ctx, { userId }, grants);
      throw error;
    }
    return { physicalId: userId, data: { userId } };
  },

  async update(ctx, state, p) {
    const userId = await userOf(ctx, p);
    if (userId !== state.data.userId) return { kind: 'replace' };
    await updateGrants(ctx, { userId }, state.properties, p);
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    const userId = state.data.userId as string | undefined;
    if (!userId) return;
    const grants = await resolveGrants(ctx, state.properties).catch(() => []);
    await revoke(ctx, { userId }, grants);
  },

  async attribute(_ctx, state, name) {
    if (name !== 'show') return null;
    return { user_id: state.data.userId ?? null, roles: state.properties.roles ?? [] };
  },
};
