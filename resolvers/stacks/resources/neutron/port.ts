import { ForbiddenError, InvalidInputError } from '../../../errors';
import { isAdmin } from '../../../identity/auth-context';
import { canWriteProject, loadPorts } from '../../../networks/access';
import { checkAddressPairs, checkMac } from '../../../networks/port-core';
import { createPort, deletePort, updatePort } from '../../../networks/ports';
import type { ResourceContext, ResourcePlugin } from '../plugin';
import { deleteOrWait, retryDelete } from './in-use';
import { findNetwork, findSecurityGroup, findSubnet, physical } from './lookup';
import { asHeat, asString, Props } from './props';
import { portShow, portSubnets } from './show';

/** OS::Neutron::Port: a port on a network with fixed IPs, security groups and address pairs. */

const RENAMES = {
  networkId: 'network',
  fixedIps: 'fixed_ips',
  subnetId: 'subnet',
  securityGroupIds: 'security_groups',
};

/** Heat's properties, checked for shape; names are resolved by `resolve`. */
function portProps(ctx: ResourceContext, values: Record<string, unknown>) {
  const p = new Props(ctx.path, values);
  const vnic = p.str('binding:vnic_type') ?? 'normal';
  if (vnic !== 'normal') {
    throw new InvalidInputError(
      p.field('binding:vnic_type'),
      `${p.field('binding:vnic_type')}: Stratus ports are all "normal" (got "${vnic}")`,
    );
  }
  const networkKey = p.has('network') || !p.has('network_id') ? 'network' : 'network_id';
  return {
    p,
    network: { value: p.str(networkKey), field: p.field(networkKey) },
    name: p.str('name') || ctx.physicalName,
    macAddress: p.str('mac_address'),
    adminStateUp: p.bool('admin_state_up') ?? true,
    portSecurityEnabled: p.bool('port_security_enabled'),
    deviceOwner: p.str('device_owner'),
    deviceId: p.str('device_id'),
    fixedIps: p.maps('fixed_ips')?.map((f) => {
      const key = f.has('subnet') || !f.has('subnet_id') ? 'subnet' : 'subnet_id';
      return { subnet: f.str(key), subnetField: f.field(key), ipAddress: f.str('ip_address') };
    }),
    securityGroups: p
      .list('security_groups')
      ?.map((g, i) => asString(g, `${p.field('security_groups')}.${i}`) ?? ''),
    allowedAddressPairs: p.maps('allowed_address_pairs')?.map((a) => ({
      ipAddress: a.need('ip_address'),
      macAddress: a.str('mac_address'),
    })),
  };
}

/**
 * The names in the properties as ids the owner may use: what createPort/updatePort take.
 * The network is null only while validating one the stack has still to make.
 */
async function resolve(ctx: ResourceContext, values: Record<string, unknown>, validating = false) {
  const props = portProps(ctx, values);
  const { value, field } = props.network;
  if (!value && !validating) throw new InvalidInputError(field, `${field} is required`);
  const network = value ? await findNetwork(ctx.svc, value, field) : null;
  const fixedIps = props.fixedIps
    ? await Promise.all(
        props.fixedIps.map(async (f) => ({
          subnetId: f.subnet ? (await findSubnet(ctx.svc, f.subnet, f.subnetField)).id : undefined,
          ipAddress: f.ipAddress,
        })),
      )
    : undefined;
  const securityGroupIds = props.securityGroups
    ? await Promise.all(
        props.securityGroups.map(
          async (g, i) =>
            (await findSecurityGroup(ctx.svc, g, `${props.p.field('security_groups')}.${i}`)).id,
        ),
      )
    : undefined;
  return { props, network, fixedIps, securityGroupIds };
}

export const port: ResourcePlugin = {
  type: 'OS::Neutron::Port',
  physicalType: 'Port',
  properties: {
    network: { type: 'string' },
    network_id: { type: 'string', description: 'Deprecated: use network' },
    name: { type: 'string', updateAllowed: true },
    fixed_ips: { type: 'list', updateAllowed: true },
    security_groups: { type: 'list', updateAllowed: true },
    mac_address: { type: 'string' },
    admin_state_up: { type: 'boolean', default: true, updateAllowed: true },
    allowed_address_pairs: { type: 'list', updateAllowed: true },
    'binding:vnic_type': { type: 'string', default: 'normal', updateAllowed: true },
    device_owner: { type: 'string' },
    device_id: { type: 'string' },
    port_security_enabled: { type: 'boolean', updateAllowed: true },
  },
  attributes: [
    'admin_state_up',
    'allowed_address_pairs',
    'device_id',
    'device_owner',
    'fixed_ips',
    'mac_address',
    'name',
    'network_id',
    'security_groups',
    'status',
    'subnets',
    'tenant_id',
  ],

  async validate(ctx, values) {
    const { props, network, fixedIps } = await resolve(ctx, values, true);
    const usable = network && (network.shared || canWriteProject(ctx.svc, network.projectId));
    if (network && (network.external ? !isAdmin(ctx.svc.auth) : !usable)) {
      throw new InvalidInputError(
        props.network.field,
        `${props.network.field}: network "${props.network.value}" is not one you may put ports on`,
      );
    }
    fixedIps?.forEach((f, i) => {
      if (f.subnetId === undefined && !f.ipAddress) {
        throw new InvalidInputError(
          `${ctx.path}.fixed_ips.${i}`,
          `${ctx.path}.fixed_ips.${i}: give subnet or ip_address`,
        );
      }
    });
    if (props.macAddress) checkMac(props.p.field('mac_address'), props.macAddress);
    await asHeat(ctx.path, { ipAddress: 'ip_address', macAddress: 'mac_address' }, () =>
      checkAddressPairs('input.allowedAddressPairs', props.allowedAddressPairs ?? []),
    );
    if (props.deviceOwner?.startsWith('network:') && !isAdmin(ctx.svc.auth)) {
      throw new ForbiddenError(
        `${props.p.field('device_owner')}: ports owned by network:* are made by Stratus`,
      );
    }
  },

  quota: () => [{ resource: 'ports', amount: 1 }],

  async create(ctx, values) {
    const { props, network, fixedIps, securityGroupIds } = await resolve(ctx, values);
    if (!network)
      throw new InvalidInputError(props.network.field, `${props.network.field} is required`);
    const row = await asHeat(ctx.path, RENAMES, () =>
      createPort(ctx.svc, {
        networkId: network.id,
        name: props.name,
        macAddress: props.macAddress,
        fixedIps,
        deviceOwner: props.deviceOwner,
        deviceId: props.deviceId,
        adminStateUp: props.adminStateUp,
        securityGroupIds,
        portSecurityEnabled: props.portSecurityEnabled,
        allowedAddressPairs: props.allowedAddressPairs,
      }),
    );
    return { physicalId: row.id };
  },

  async update(ctx, state, values, changed) {
    const { props, fixedIps, securityGroupIds } = await resolve(ctx, values);
    const has = (k: string) => changed.includes(k);
    // Heat: security_groups removed from the template puts the port back in the default group.
    const groups =
      securityGroupIds ??
      (has('security_groups')
        ? [(await findSecurityGroup(ctx.svc, 'default', `${ctx.path}.security_groups`)).id]
        : undefined);
    await asHeat(ctx.path, RENAMES, () =>
      updatePort(ctx.svc, {
        id: state.physicalId,
        name: has('name') ? props.name : undefined,
        adminStateUp: has('admin_state_up') ? props.adminStateUp : undefined,
        // Heat: fixed_ips removed from the template means "let Neutron choose one again".
        fixedIps: has('fixed_ips') ? (fixedIps ?? [{}]) : undefined,
        securityGroupIds: has('security_groups') ? groups : undefined,
        portSecurityEnabled: has('port_security_enabled') ? props.portSecurityEnabled : undefined,
        allowedAddressPairs: has('allowed_address_pairs')
          ? (props.allowedAddressPairs ?? [])
          : undefined,
      }),
    );
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    await deleteOrWait(state, () => deletePort(ctx.svc, state.physicalId!));
  },

  checkDeleteComplete: (ctx, state) =>
    retryDelete(state, () => deletePort(ctx.svc, state.physicalId!)),

  async attribute(ctx, state, name) {
    const row = await physical(ctx.svc, loadPorts, 'port', state.physicalId);
    if (name === 'subnets') return portSubnets(ctx.svc, row);
    const show = await portShow(ctx.svc, row);
    return name === 'show' ? show : show[name];
  },
};
