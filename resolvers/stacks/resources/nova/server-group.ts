import {
  createServerGroup,
  deleteServerGroup,
  loadGroupMembers,
  loadServerGroups,
} from '../../../compute/server-groups';
import { NotFoundError } from '../../../errors';
import type { PropertySpec, ResourceContext, ResourcePlugin } from '../plugin';
import { asProperties, badProperty, optMap, optString, optStringList, type Props } from './props';

/**
 * OS::Nova::ServerGroup: one policy per group (Nova API 2.64+ takes exactly one; Heat's
 * `policies` list must then hold one). `rules` (max_server_per_host) is not supported.
 */

const POLICIES = ['affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity'];

const properties: Record<string, PropertySpec> = {
  name: { type: 'string' },
  policies: { type: 'list', default: ['anti-affinity'] },
  rules: { type: 'map' },
};

function input(ctx: ResourceContext, props: Props) {
  const policies = optStringList(ctx, props, 'policies') ?? ['anti-affinity'];
  if (policies.length !== 1) {
    throw badProperty(ctx, 'policies', `must hold exactly one policy (got ${policies.length})`);
  }
  if (!POLICIES.includes(policies[0])) {
    throw badProperty(ctx, 'policies.0', `"${policies[0]}" is not one of ${POLICIES.join(', ')}`);
  }
  if (Object.keys(optMap(ctx, props, 'rules') ?? {}).length > 0) {
    throw badProperty(ctx, 'rules', 'server group rules are not supported by Stratus');
  }
  return { name: optString(ctx, props, 'name') || ctx.physicalName, policy: policies[0] };
}

export const serverGroupPlugin: ResourcePlugin = {
  type: 'OS::Nova::ServerGroup',
  properties,
  attributes: [],
  physicalType: 'ServerGroup',
  async validate(ctx, props) {
    input(ctx, props);
  },
  async create(ctx, props) {
    const data = input(ctx, props);
    const row = await asProperties(ctx, { name: 'name', policy: 'policies.0' }, () =>
      createServerGroup(ctx.svc, data),
    );
    return { physicalId: row.id };
  },
  async delete(ctx, state) {
    if (!state.physicalId) return;
    await deleteServerGroup(ctx.svc, state.physicalId).catch((error: unknown) => {
      if (!(error instanceof NotFoundError)) throw error;
    });
  },
  async attribute(ctx, state, name) {
    if (name !== 'show' || !state.physicalId) return null;
    const [row] = await loadServerGroups(ctx.svc, [state.physicalId]);
    if (!row) return null;
    const [members] = await loadGroupMembers(ctx.svc, [row.id]);
    return {
      id: row.id,
      name: row.name,
      policies: [row.policy],
      policy: row.policy,
      members,
      project_id: row.projectId,
      user_id: row.userId,
    };
  },
};
