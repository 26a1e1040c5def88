import { loadRouters } from '../../../networks/access';
import { createRouter, deleteRouter, updateRouter } from '../../../networks/routers';
import type { ResourceContext, ResourcePlugin } from '../plugin';
import { deleteOrWait, retryDelete } from './in-use';
import { findExternalNetwork, findSubnet, physical } from './lookup';
import { asHeat, asMap, Props } from './props';
import { routerShow } from './show';

/** OS::Neutron::Router: a router, optionally with a gateway on an external network (SNAT). */

const RENAMES = {
  externalGatewayInfo: 'external_gateway_info',
  networkId: 'network',
  externalFixedIps: 'external_fixed_ips',
  subnetId: 'subnet',
};

/** external_gateway_info {network, enable_snat, external_fixed_ips} as updateRouter's gateway input. */
async function gatewayInput(ctx: ResourceContext, values: Record<string, unknown>) {
  const field = `${ctx.path}.external_gateway_info`;
  const info = asMap(values.external_gateway_info, field);
  if (!info) return null;
  const g = new Props(field, info);
  const network = await findExternalNetwork(ctx.svc, g.need('network'), g.field('network'));
  const fixed = g.maps('external_fixed_ips');
  return {
    networkId: network.id,
    enableSnat: g.bool('enable_snat') ?? true,
    externalFixedIps: fixed
      ? await Promise.all(
          fixed.map(async (f) => ({
            subnetId: f.has('subnet')
              ? (await findSubnet(ctx.svc, f.need('subnet'), f.field('subnet'))).id
              : undefined,
            ipAddress: f.str('ip_address'),
          })),
        )
      : undefined,
  };
}

export const router: ResourcePlugin = {
  type: 'OS::Neutron::Router',
  physicalType: 'Router',
  properties: {
    name: { type: 'string', updateAllowed: true },
    external_gateway_info: { type: 'map', updateAllowed: true },
    admin_state_up: { type: 'boolean', default: true, updateAllowed: true },
  },
  attributes: ['admin_state_up', 'external_gateway_info', 'name', 'status', 'tenant_id'],

  async validate(ctx, values) {
    const p = new Props(ctx.path, values);
    p.str('name');
    p.bool('admin_state_up');
    await gatewayInput(ctx, values);
  },

  quota: () => [{ resource: 'routers', amount: 1 }],

  async create(ctx, values) {
    const p = new Props(ctx.path, values);
    const externalGatewayInfo = await gatewayInput(ctx, values);
    const row = await asHeat(ctx.path, RENAMES, () =>
      createRouter(ctx.svc, {
        name: p.str('name') || ctx.physicalName,
        adminStateUp: p.bool('admin_state_up') ?? true,
        externalGatewayInfo,
      }),
    );
    return { physicalId: row.id };
  },

  async update(ctx, state, values, changed) {
    const p = new Props(ctx.path, values);
    const gateway = changed.includes('external_gateway_info')
      ? await gatewayInput(ctx, values)
      : undefined;
    await asHeat(ctx.path, RENAMES, () =>
      updateRouter(ctx.svc, {
        id: state.physicalId,
        name: p.str('name') || ctx.physicalName,
        adminStateUp: p.bool('admin_state_up') ?? true,
        externalGatewayInfo: gateway,
      }),
    );
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    await deleteOrWait(state, () => deleteRouter(ctx.svc, state.physicalId!));
  },

  checkDeleteComplete: (ctx, state) =>
    retryDelete(state, () => deleteRouter(ctx.svc, state.physicalId!)),

  async attribute(ctx, state, name) {
    const row = await physical(ctx.svc, loadRouters, 'router', state.physicalId);
    const show = await routerShow(ctx.svc, row);
    return name === 'show' ? show : show[name];
  },
};
