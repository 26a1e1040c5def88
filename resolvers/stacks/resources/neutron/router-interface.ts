import { InvalidInputError } from '../../../errors';
import { loadRouters } from '../../../networks/access';
import { fixedIpsOfPorts } from '../../../networks/ports';
import {
  addRouterInterface,
  interfacesOfRouters,
  removeRouterInterface,
} from '../../../networks/routers';
import type { ResourceContext, ResourcePlugin } from '../plugin';
import { deleteOrWait, retryDelete } from './in-use';
import { findPort, findRouter, findSubnet } from './lookup';
import { asHeat, Props } from './props';
import { routerShow } from './show';

/**
 * OS::Neutron::RouterInterface: a router's leg on a subnet (or an existing port). Its physical
 * id is Heat's `<router id>:subnet_id=<subnet id>` (or `:port_id=`); deleting removes the leg.
 */

const RENAMES = { routerId: 'router', subnetId: 'subnet', portId: 'port' };

/** Checks what is known: while validating, the router, subnet or port may still be to make. */
async function known(ctx: ResourceContext, values: Record<string, unknown>) {
  const p = new Props(ctx.path, values);
  const routerRef = p.str('router');
  const subnet = p.str('subnet');
  const portRef = p.str('port');
  if (subnet && portRef) {
    throw new InvalidInputError(
      p.field('subnet'),
      `${p.field('subnet')}: give exactly one of subnet and port`,
    );
  }
  if (routerRef) await findRouter(ctx.svc, routerRef, p.field('router'));
  if (subnet) await findSubnet(ctx.svc, subnet, p.field('subnet'));
  if (portRef) await findPort(ctx.svc, portRef, p.field('port'));
}

async function request(ctx: ResourceContext, values: Record<string, unknown>) {
  const p = new Props(ctx.path, values);
  const routerRow = await findRouter(ctx.svc, p.need('router'), p.field('router'));
  const subnet = p.str('subnet');
  const portRef = p.str('port');
  if (!subnet === !portRef) {
    throw new InvalidInputError(
      p.field('subnet'),
      `${p.field('subnet')}: give exactly one of subnet and port`,
    );
  }
  if (subnet) {
    const row = await findSubnet(ctx.svc, subnet, p.field('subnet'));
    return { routerId: routerRow.id, subnetId: row.id };
  }
  const row = await findPort(ctx.svc, portRef!, p.field('port'));
  return { routerId: routerRow.id, portId: row.id };
}

/** `<router>:subnet_id=<id>` -> its parts; null for an id this plugin did not make. */
export function parseInterfaceId(
  id: string | null,
): { routerId: string; subnetId?: string; portId?: string } | null {
  const m = id?.match(/^([^:]+):(subnet_id|port_id)=(.+)$/);
  if (!m) return null;
  return m[2] === 'subnet_id'
    ? { routerId: m[1], subnetId: m[3] }
    : { routerId: m[1], portId: m[3] };
}

/** Whether the router still has the interface (by subnet, or by its port). */
async function present(ctx: ResourceContext, id: string | null): Promise<boolean> {
  const parsed = parseInterfaceId(id);
  if (!parsed) return false;
  const [routerRow] = await loadRouters(ctx.svc, [parsed.routerId]);
  if (!routerRow) return false;
  const [legs] = await interfacesOfRouters(ctx.svc, [parsed.routerId]);
  if (parsed.portId) return legs.some((l) => l.id === parsed.portId);
  const ips = await fixedIpsOfPorts(
    ctx.svc,
    legs.map((l) => l.id),
  );
  return ips.some((held) => held.some((a) => a.subnetId === parsed.subnetId));
}

/** Removes the interface if the router still has it. */
async function remove(ctx: ResourceContext, id: string | null): Promise<void> {
  if (!(await present(ctx, id))) return;
  await removeRouterInterface(ctx.svc, parseInterfaceId(id)!);
}

export const routerInterface: ResourcePlugin = {
  type: 'OS::Neutron::RouterInterface',
  properties: {
    router: { type: 'string', required: true },
    subnet: { type: 'string' },
    port: { type: 'string' },
  },
  attributes: [],

  async validate(ctx, values) {
    await known(ctx, values);
  },

  async create(ctx, values) {
    const input = await request(ctx, values);
    const made = await asHeat(ctx.path, RENAMES, () => addRouterInterface(ctx.svc, input));
    const physicalId = input.subnetId
      ? `${made.router.id}:subnet_id=${made.subnetId}`
      : `${made.router.id}:port_id=${made.port.id}`;
    return { physicalId };
  },

  async delete(ctx, state) {
    await deleteOrWait(state, () => remove(ctx, state.physicalId));
  },

  checkDeleteComplete: (ctx, state) => retryDelete(state, () => remove(ctx, state.physicalId)),

  async attribute(ctx, state, name) {
    const parsed = parseInterfaceId(state.physicalId);
    const [routerRow] = parsed ? await loadRouters(ctx.svc, [parsed.routerId]) : [null];
    if (name !== 'show' || !parsed || !routerRow) return null;
    return { ...parsed, router: await routerShow(ctx.svc, routerRow) };
  },
};
