import { NotFoundError } from '../../../errors';
import { createRole, deleteRole, loadRoles, updateRole } from '../../../identity/roles';
import { asProperties, badProperty, plain, str } from '../cinder/props';
import type { ResourcePlugin } from '../plugin';
import { requireAction } from './lookup';

/**
 * OS::Keystone::Role onto createRole (admin only in Stratus's policy). Stratus roles are
 * global: a domain-specific role (`domain`) is refused by property.
 */

const FIELDS = { name: 'name' };

function checkDomain(ctx: Parameters<ResourcePlugin['create']>[0], p: Record<string, unknown>) {
  if (str(p, 'domain'))
    throw badProperty(ctx, 'domain', 'Stratus roles are global: no domain-specific roles');
}

export const keystoneRole: ResourcePlugin = {
  type: 'OS::Keystone::Role',
  physicalType: 'Role',
  properties: {
    name: { type: 'string', updateAllowed: true },
    domain: { type: 'string' },
  },
  attributes: [],

  async validate(ctx, p) {
    requireAction(ctx, 'identity:create_role');
    checkDomain(ctx, p);
  },

  async create(ctx, p) {
    requireAction(ctx, 'identity:create_role');
    checkDomain(ctx, p);
    const input = { name: str(p, 'name') ?? ctx.physicalName };
    const row = await asProperties(ctx, FIELDS, () => createRole(ctx.svc, input));
    return { physicalId: row.id };
  },

  async update(ctx, state, p) {
    const input = { id: String(state.physicalId), name: str(p, 'name') ?? ctx.physicalName };
    await asProperties(ctx, FIELDS, () => updateRole(ctx.svc, input));
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    try {
      await deleteRole(ctx.svc, state.physicalId);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  },

  async attribute(ctx, state, name) {
    if (name !== 'show' || !state.physicalId) return null;
    const [row] = await loadRoles(ctx.svc, [state.physicalId]);
    return row ? plain(row as unknown as Record<string, unknown>) : null;
  },
};
