import { eq } from 'drizzle-orm';
import { subnets } from '../../../../db/tables';
import { InvalidInputError } from '../../../errors';
import { canWriteProject, loadSubnets } from '../../../networks/access';
import { checkSubnet } from '../../../networks/subnet-checks';
import { createSubnet, deleteSubnet, updateSubnet } from '../../../networks/subnets';
import type { ResourceContext, ResourcePlugin } from '../plugin';
import { deleteOrWait, retryDelete } from './in-use';
import { findNetwork, physical } from './lookup';
import { asHeat, asString, Props } from './props';
import { subnetShow } from './show';

/** OS::Neutron::Subnet: a CIDR on a network, with gateway, pools, DHCP, name servers, routes. */

const RENAMES = { networkId: 'network', ipVersion: 'ip_version', gatewayIp: 'gateway_ip' };

/** The network named by `network` (or the deprecated `network_id`); undefined while unknown. */
function networkRef(p: Props): { value: string; field: string } | undefined {
  const key = p.has('network') ? 'network' : p.has('network_id') ? 'network_id' : null;
  return key ? { value: p.need(key), field: p.field(key) } : undefined;
}

/** The network is required to create; validate runs before a referenced one exists. */
function required<T>(ref: T | undefined, path: string): T {
  if (ref === undefined)
    throw new InvalidInputError(`${path}.network`, `${path}.network is required`);
  return ref;
}

/** Heat's properties as createSubnet's input (the network still by name or id). */
function subnetInput(ctx: ResourceContext, values: Record<string, unknown>) {
  const p = new Props(ctx.path, values);
  if (p.str('subnetpool')) {
    throw new InvalidInputError(
      p.field('subnetpool'),
      `${p.field('subnetpool')}: Stratus has no subnet pools; give cidr`,
    );
  }
  const cidr = p.need('cidr');
  // Heat: null, ~ or "" is no gateway; absent is the first address.
  const gatewayIp = 'gateway_ip' in values ? p.str('gateway_ip') || null : undefined;
  return {
    network: networkRef(p),
    name: p.str('name') || ctx.physicalName,
    cidr,
    ipVersion: p.int('ip_version'),
    gatewayIp,
    enableDhcp: p.bool('enable_dhcp') ?? true,
    dnsNameservers: (p.list('dns_nameservers') ?? []).map((d, i) =>
      asString(d, `${p.field('dns_nameservers')}.${i}`),
    ) as string[],
    allocationPools: p.maps('allocation_pools')?.map((pool) => ({
      start: pool.need('start'),
      end: pool.need('end'),
    })),
    hostRoutes: (p.maps('host_routes') ?? []).map((r) => ({
      destination: r.need('destination'),
      nexthop: r.need('nexthop'),
    })),
  };
}

export const subnet: ResourcePlugin = {
  type: 'OS::Neutron::Subnet',
  physicalType: 'Subnet',
  properties: {
    network: { type: 'string' },
    network_id: { type: 'string', description: 'Deprecated: use network' },
    cidr: { type: 'string' },
    ip_version: { type: 'integer', default: 4 },
    gateway_ip: { type: 'string', nullable: true },
    enable_dhcp: { type: 'boolean', default: true, updateAllowed: true },
    dns_nameservers: { type: 'list', default: [], updateAllowed: true },
    allocation_pools: { type: 'list' },
    host_routes: { type: 'list', updateAllowed: true },
    name: { type: 'string', updateAllowed: true },
    subnetpool: { type: 'string' },
  },
  attributes: [
    'name',
    'network_id',
    'cidr',
    'gateway_ip',
    'allocation_pools',
    'ip_version',
    'dns_nameservers',
    'host_routes',
    'enable_dhcp',
    'tenant_id',
  ],

  /**
   * The domain's own CIDR/gateway/pool checks against the network's subnets, writing nothing.
   * A network still to be made by the stack (left out by the engine) has no subnets yet.
   */
  async validate(ctx, values) {
    const input = subnetInput(ctx, values);
    if (!input.network) {
      await asHeat(ctx.path, RENAMES, () => checkSubnet(input, []));
      return;
    }
    const network = await findNetwork(ctx.svc, input.network.value, input.network.field);
    if (!canWriteProject(ctx.svc, network.projectId)) {
      throw new InvalidInputError(
        input.network.field,
        `${input.network.field}: network "${input.network.value}" belongs to another project`,
      );
    }
    const siblings = await ctx.svc.rt.db
      .select({ id: subnets.id, cidr: subnets.cidr })
      .from(subnets)
      .where(eq(subnets.networkId, network.id));
    await asHeat(ctx.path, RENAMES, () => checkSubnet(input, siblings));
  },

  quota: () => [{ resource: 'subnets', amount: 1 }],

  async create(ctx, values) {
    const { network: given, ...input } = subnetInput(ctx, values);
    const ref = required(given, ctx.path);
    const network = await findNetwork(ctx.svc, ref.value, ref.field);
    const row = await asHeat(ctx.path, RENAMES, () =>
      createSubnet(ctx.svc, { ...input, networkId: network.id }),
    );
    return { physicalId: row.id };
  },

  async update(ctx, state, values) {
    const input = subnetInput(ctx, values);
    await asHeat(ctx.path, RENAMES, () =>
      updateSubnet(ctx.svc, {
        id: state.physicalId,
        name: input.name,
        dnsNameservers: input.dnsNameservers,
        hostRoutes: input.hostRoutes,
        enableDhcp: input.enableDhcp,
      }),
    );
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    await deleteOrWait(state, () => deleteSubnet(ctx.svc, state.physicalId!));
  },

  checkDeleteComplete: (ctx, state) =>
    retryDelete(state, () => deleteSubnet(ctx.svc, state.physicalId!)),

  async attribute(ctx, state, name) {
    const show = subnetShow(await physical(ctx.svc, loadSubnets, 'subnet', state.physicalId));
    return name === 'show' ? show : show[name];
  },
};
