import { InvalidInputError } from '../../../errors';
import { isAdmin } from '../../../identity/auth-context';
import { loadFloatingIps } from '../../../networks/access';
import { ExternalGatewayForFloatingIpNotFoundError } from '../../../networks/errors';
import {
  createFloatingIp,
  deleteFloatingIp,
  updateFloatingIp,
} from '../../../networks/floating-ips';
import { canonicalIp } from '../../../networks/ip';
import type { ResourceContext, ResourcePlugin } from '../plugin';
import { findExternalNetwork, findPort, ignoreGone, physical } from './lookup';
import { asHeat, Props } from './props';
import { floatingIpShow } from './show';

/** OS::Neutron::FloatingIP: an address of an external network, optionally on a port at once. */

const RENAMES = { floatingNetworkId: 'floating_network', portId: 'port_id' };

/** How long a floating IP waits for the router its port needs (one the stack is making). */
const ROUTER_WAIT_MS = 180_000;

/** The properties with names resolved; the network is null only while validating one still to make. */
async function fipInput(ctx: ResourceContext, values: Record<string, unknown>, validating = false) {
  const p = new Props(ctx.path, values);
  const networkRef = validating ? p.str('floating_network') : p.need('floating_network');
  const network = networkRef
    ? await findExternalNetwork(ctx.svc, networkRef, p.field('floating_network'))
    : null;
  const portRef = p.str('port_id');
  const portRow = portRef ? await findPort(ctx.svc, portRef, p.field('port_id')) : null;
  for (const key of ['fixed_ip_address', 'floating_ip_address']) {
    const ip = p.str(key);
    if (ip && !canonicalIp(ip))
      throw new InvalidInputError(
        p.field(key),
        `${p.field(key)} is not an IP address (got "${ip}")`,
      );
  }
  return {
    p,
    floatingNetworkId: network?.id ?? '',
    floatingIpAddress: p.str('floating_ip_address'),
    portId: portRow?.id ?? null,
    fixedIpAddress: p.str('fixed_ip_address'),
  };
}

export const floatingIp: ResourcePlugin = {
  type: 'OS::Neutron::FloatingIP',
  physicalType: 'FloatingIp',
  properties: {
    floating_network: { type: 'string', required: true },
    floating_ip_address: { type: 'string' },
    port_id: { type: 'string', updateAllowed: true },
    fixed_ip_address: { type: 'string', updateAllowed: true },
  },
  attributes: [
    'floating_ip_address',
    'floating_network_id',
    'fixed_ip_address',
    'port_id',
    'router_id',
    'tenant_id',
  ],

  async validate(ctx, values) {
    const input = await fipInput(ctx, values, true);
    if (input.floatingIpAddress && !isAdmin(ctx.svc.auth)) {
      throw new InvalidInputError(
        input.p.field('floating_ip_address'),
        `${input.p.field('floating_ip_address')}: only an admin may choose the floating IP address`,
      );
    }
  },

  quota: () => [{ resource: 'floating_ips', amount: 1 }],

  async create(ctx, values) {
    const { p, portId, fixedIpAddress, ...input } = await fipInput(ctx, values);
    try {
      const row = await asHeat(ctx.path, RENAMES, () =>
        createFloatingIp(ctx.svc, { ...input, portId, fixedIpAddress }),
      );
      return { physicalId: row.id };
    } catch (error) {
      if (!(error instanceof ExternalGatewayForFloatingIpNotFoundError)) throw error;
      // The router to the port's subnet may be a resource of this stack still being made
      // (Heat adds that dependency implicitly): take the address now, associate once it exists.
      const row = await asHeat(ctx.path, RENAMES, () => createFloatingIp(ctx.svc, input));
      return { physicalId: row.id, data: { associate: { portId, fixedIpAddress } } };
    }
  },

  async checkCreateComplete(ctx, state) {
    const pending = state.data.associate as { portId: string; fixedIpAddress?: string } | undefined;
    if (!pending) return { done: true };
    const row = await physical(ctx.svc, loadFloatingIps, 'floating IP', state.physicalId);
    if (row.portId === pending.portId) return { done: true };
    try {
      await asHeat(ctx.path, RENAMES, () => updateFloatingIp(ctx.svc, { id: row.id, ...pending }));
      return { done: true };
    } catch (error) {
      if (!(error instanceof ExternalGatewayForFloatingIpNotFoundError)) throw error;
      if (Date.now() - row.createdAt.getTime() > ROUTER_WAIT_MS) throw error;
      return { done: false, reason: `waiting for a router: ${error.message}` };
    }
  },

  async update(ctx, state, values) {
    const input = await fipInput(ctx, values);
    await asHeat(ctx.path, RENAMES, () =>
      updateFloatingIp(ctx.svc, {
        id: state.physicalId,
        portId: input.portId,
        fixedIpAddress: input.portId ? input.fixedIpAddress : undefined,
      }),
    );
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    await ignoreGone(() => deleteFloatingIp(ctx.svc, state.physicalId!));
  },

  async attribute(ctx, state, name) {
    const row = await physical(ctx.svc, loadFloatingIps, 'floating IP', state.physicalId);
    const show = floatingIpShow(row);
    return name === 'show' ? show : show[name];
  },
};
