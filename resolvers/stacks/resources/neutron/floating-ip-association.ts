import { InvalidInputError } from '../../../errors';
import { loadFloatingIps } from '../../../networks/access';
import { updateFloatingIp } from '../../../networks/floating-ips';
import type { ResourceContext, ResourcePlugin, ResourceState } from '../plugin';
import { findPort, ignoreGone, physical } from './lookup';
import { asHeat, Props } from './props';
import { floatingIpShow } from './show';

/**
 * OS::Neutron::FloatingIPAssociation: puts an existing floating IP on a port. Its physical id
 * is the floating IP's; deleting takes the floating IP off the port (the address stays).
 * floatingip_id may change in place (Heat's update_allowed): `data.floatingIpId` then names
 * the floating IP it holds, while the physical id stays the first one's.
 */

const RENAMES = { id: 'floatingip_id', portId: 'port_id', fixedIpAddress: 'fixed_ip_address' };

async function association(ctx: ResourceContext, values: Record<string, unknown>) {
  const p = new Props(ctx.path, values);
  const id = p.need('floatingip_id');
  const [row] = await loadFloatingIps(ctx.svc, [id]);
  if (!row) {
    throw new InvalidInputError(
      p.field('floatingip_id'),
      `${p.field('floatingip_id')}: no floating IP "${id}" that you may see`,
    );
  }
  const portRow = await findPort(ctx.svc, p.need('port_id'), p.field('port_id'));
  return { id: row.id, portId: portRow.id, fixedIpAddress: p.str('fixed_ip_address') };
}

/** Takes the floating IP off the port, if it is still on the port this resource put it on. */
const heldId = (state: ResourceState): string | null =>
  typeof state.data.floatingIpId === 'string' ? state.data.floatingIpId : state.physicalId;

async function disassociate(ctx: ResourceContext, state: ResourceState): Promise<void> {
  const id = heldId(state);
  if (!id) return;
  const [row] = await loadFloatingIps(ctx.svc, [id]);
  if (!row || row.portId !== state.data.portId) return;
  await ignoreGone(() => updateFloatingIp(ctx.svc, { id: row.id, portId: null }));
}

export const floatingIpAssociation: ResourcePlugin = {
  type: 'OS::Neutron::FloatingIPAssociation',
  physicalType: 'FloatingIp',
  properties: {
    floatingip_id: { type: 'string', required: true, updateAllowed: true },
    port_id: { type: 'string', required: true, updateAllowed: true },
    fixed_ip_address: { type: 'string', updateAllowed: true },
  },
  attributes: [],

  /** What is known already: the floating IP and port are often made by the same stack. */
  async validate(ctx, values) {
    const p = new Props(ctx.path, values);
    const id = p.str('floatingip_id');
    if (id && !(await loadFloatingIps(ctx.svc, [id]))[0]) {
      throw new InvalidInputError(
        p.field('floatingip_id'),
        `${p.field('floatingip_id')}: no floating IP "${id}" that you may see`,
      );
    }
    const portRef = p.str('port_id');
    if (portRef) await findPort(ctx.svc, portRef, p.field('port_id'));
  },

  async create(ctx, values) {
    const input = await association(ctx, values);
    await asHeat(ctx.path, RENAMES, () => updateFloatingIp(ctx.svc, input));
    return { physicalId: input.id, data: { floatingIpId: input.id, portId: input.portId } };
  },

  async update(ctx, state, values) {
    const input = await association(ctx, values);
    if (input.id !== heldId(state)) await disassociate(ctx, state);
    await asHeat(ctx.path, RENAMES, () => updateFloatingIp(ctx.svc, input));
    return { kind: 'updated', data: { floatingIpId: input.id, portId: input.portId } };
  },

  async delete(ctx, state) {
    await disassociate(ctx, state);
  },

  async attribute(ctx, state, name) {
    if (name !== 'show') return null;
    return floatingIpShow(await physical(ctx.svc, loadFloatingIps, 'floating IP', heldId(state)));
  },
};
