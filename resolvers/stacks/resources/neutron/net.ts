import { InvalidInputError } from '../../../errors';
import { isAdmin } from '../../../identity/auth-context';
import { loadNetworks } from '../../../networks/access';
import { createNetwork, deleteNetwork, updateNetwork } from '../../../networks/networks';
import type { ResourceContext, ResourcePlugin } from '../plugin';
import { deleteOrWait, retryDelete } from './in-use';
import { physical } from './lookup';
import { asBool, asHeat, asInt, Props } from './props';
import { networkShow } from './show';

/** OS::Neutron::Net: a tenant network (one VLAN segment). */

const RENAMES = { projectId: 'tenant_id', adminStateUp: 'admin_state_up' };
const VALUE_SPECS = ['mtu', 'router:external'];

interface NetInput {
  name: string;
  adminStateUp: boolean;
  shared: boolean;
  external: boolean;
  mtu?: number;
  projectId?: string;
}

/** Heat's properties as createNetwork's input; what Stratus networks cannot hold is refused here. */
function netInput(ctx: ResourceContext, values: Record<string, unknown>): NetInput {
  const p = new Props(ctx.path, values);
  if (p.bool('port_security_enabled') === false) {
    throw new InvalidInputError(
      p.field('port_security_enabled'),
      `${p.field('port_security_enabled')}: Stratus networks have no port security default; set port_security_enabled on each port`,
    );
  }
  const dns = p.str('dns_domain');
  if (dns) {
    throw new InvalidInputError(
      p.field('dns_domain'),
      `${p.field('dns_domain')}: Stratus networks have no DNS domain (no DNS integration)`,
    );
  }
  const specs = p.map('value_specs') ?? {};
  for (const key of Object.keys(specs)) {
    if (!VALUE_SPECS.includes(key)) {
      throw new InvalidInputError(
        `${p.field('value_specs')}.${key}`,
        `${p.field('value_specs')}.${key}: unknown key; Stratus accepts ${VALUE_SPECS.join(', ')}`,
      );
    }
  }
  return {
    name: p.str('name') || ctx.physicalName,
    adminStateUp: p.bool('admin_state_up') ?? true,
    shared: p.bool('shared') ?? false,
    external:
      asBool(specs['router:external'], `${p.field('value_specs')}.router:external`) ?? false,
    mtu: asInt(specs.mtu, `${p.field('value_specs')}.mtu`),
    projectId: p.str('tenant_id'),
  };
}

/** value_specs router:external, as the plan compares it (no path: the values were checked). */
function externalOf(values: Record<string, unknown>): boolean {
  const specs = values.value_specs;
  if (!specs || typeof specs !== 'object') return false;
  const v = (specs as Record<string, unknown>)['router:external'];
  return v === true || v === 'true' || v === 'True';
}

export const net: ResourcePlugin = {
  type: 'OS::Neutron::Net',
  physicalType: 'Network',
  properties: {
    name: { type: 'string', updateAllowed: true },
    admin_state_up: { type: 'boolean', default: true, updateAllowed: true },
    shared: { type: 'boolean', default: false, updateAllowed: true },
    port_security_enabled: { type: 'boolean', updateAllowed: true },
    value_specs: { type: 'map', default: {}, updateAllowed: true },
    dns_domain: { type: 'string', updateAllowed: true },
    tenant_id: { type: 'string' },
  },
  attributes: ['name', 'status', 'subnets', 'admin_state_up', 'mtu', 'tenant_id'],

  async validate(ctx, values) {
    const input = netInput(ctx, values);
    if ((input.shared || input.external || input.projectId) && !isAdmin(ctx.svc.auth)) {
      const key = input.projectId ? 'tenant_id' : input.shared ? 'shared' : 'value_specs';
      throw new InvalidInputError(
        `${ctx.path}.${key}`,
        `${ctx.path}.${key}: only an admin may create ${input.projectId ? 'networks for another project' : `${input.shared ? 'shared' : 'external'} networks`}`,
      );
    }
    if (input.mtu !== undefined && (input.mtu < 68 || input.mtu > 9000)) {
      throw new InvalidInputError(
        `${ctx.path}.value_specs.mtu`,
        `${ctx.path}.value_specs.mtu must be from 68 to 9000`,
      );
    }
  },

  quota: () => [{ resource: 'networks', amount: 1 }],

  async create(ctx, values) {
    const input = netInput(ctx, values);
    const row = await asHeat(ctx.path, { ...RENAMES, mtu: 'value_specs.mtu' }, () =>
      createNetwork(ctx.svc, input),
    );
    return { physicalId: row.id };
  },

  updateReplaces: (state, values, changed) =>
    changed.includes('tenant_id') || externalOf(state.properties) !== externalOf(values),

  async update(ctx, state, values, changed) {
    const before = netInput(ctx, state.properties);
    const after = netInput(ctx, values);
    if (before.external !== after.external || changed.includes('tenant_id'))
      return { kind: 'replace' };
    await asHeat(ctx.path, { ...RENAMES, mtu: 'value_specs.mtu' }, () =>
      updateNetwork(ctx.svc, {
        id: state.physicalId,
        name: after.name,
        adminStateUp: after.adminStateUp,
        shared: after.shared !== before.shared ? after.shared : undefined,
        mtu: after.mtu ?? (before.mtu !== undefined ? 1500 : undefined),
      }),
    );
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    await deleteOrWait(state, () => deleteNetwork(ctx.svc, state.physicalId!));
  },

  checkDeleteComplete: (ctx, state) =>
    retryDelete(state, () => deleteNetwork(ctx.svc, state.physicalId!)),

  async attribute(ctx, state, name) {
    const row = await physical(ctx.svc, loadNetworks, 'network', state.physicalId);
    const show = await networkShow(ctx.svc, row);
    return name === 'show' ? show : show[name];
  },
};
