import {
  type FloatingIpRow,
  loadSubnets,
  type NetworkRow,
  type PortRow,
  type RouterRow,
  type SecurityGroupRow,
  type SecurityGroupRuleRow,
  type SubnetRow,
} from '../../../networks/access';
import { fixedIpsOfPorts, groupIdsOfPorts } from '../../../networks/ports';
import { gatewayPortsOfRouters } from '../../../networks/routers';
import { rulesOfGroups } from '../../../networks/security-groups';
import { subnetsOfNetworks } from '../../../networks/subnets';
import type { ServiceContext } from '../../../runtime';

/** The physical resources as Neutron's API shows them (the `show` attribute and the others). */

export async function networkShow(
  svc: ServiceContext,
  n: NetworkRow,
): Promise<Record<string, unknown>> {
  const [subnetRows] = await subnetsOfNetworks(svc, [n.id]);
  return {
    id: n.id,
    name: n.name,
    status: n.status,
    admin_state_up: n.adminStateUp,
    shared: n.shared,
    'router:external': n.external,
    mtu: n.mtu,
    subnets: subnetRows.map((s) => s.id),
    tenant_id: n.projectId,
    project_id: n.projectId,
    port_security_enabled: true,
    'provider:network_type': 'vlan',
    'provider:segmentation_id': n.segmentationId,
  };
}

export function subnetShow(s: SubnetRow): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    network_id: s.networkId,
    cidr: s.cidr,
    ip_version: s.ipVersion,
    gateway_ip: s.gatewayIp,
    enable_dhcp: s.enableDhcp,
    allocation_pools: s.allocationPools.map((p) => ({ start: p.start, end: p.end })),
    dns_nameservers: [...s.dnsNameservers],
    host_routes: s.hostRoutes.map((r) => ({ destination: r.destination, nexthop: r.nexthop })),
    tenant_id: s.projectId,
    project_id: s.projectId,
  };
}

export async function portShow(svc: ServiceContext, p: PortRow): Promise<Record<string, unknown>> {
  const [[ips], [groups]] = await Promise.all([
    fixedIpsOfPorts(svc, [p.id]),
    groupIdsOfPorts(svc, [p.id]),
  ]);
  return {
    id: p.id,
    name: p.name,
    network_id: p.networkId,
    mac_address: p.macAddress,
    status: p.status,
    admin_state_up: p.adminStateUp,
    device_owner: p.deviceOwner,
    device_id: p.deviceId,
    fixed_ips: ips.map((a) => ({ subnet_id: a.subnetId, ip_address: a.ip })),
    security_groups: groups,
    port_security_enabled: p.portSecurityEnabled,
    allowed_address_pairs: p.allowedAddressPairs.map((a) => ({
      ip_address: a.ipAddress,
      mac_address: a.macAddress ?? p.macAddress,
    })),
    'binding:vnic_type': 'normal',
    'binding:host_id': p.bindingHost ?? '',
    tenant_id: p.projectId,
    project_id: p.projectId,
  };
}

/** The subnets a port has addresses on, as maps (Heat's Port `subnets` attribute). */
export async function portSubnets(
  svc: ServiceContext,
  p: PortRow,
): Promise<Record<string, unknown>[]> {
  const [ips] = await fixedIpsOfPorts(svc, [p.id]);
  const ids = [...new Set(ips.map((a) => a.subnetId))];
  const rows = await loadSubnets(svc, ids);
  return rows.filter((s): s is SubnetRow => s !== null).map(subnetShow);
}

export async function routerShow(
  svc: ServiceContext,
  r: RouterRow,
): Promise<Record<string, unknown>> {
  const [gatewayPort] = await gatewayPortsOfRouters(svc, [r.id]);
  const [gatewayIps] = gatewayPort ? await fixedIpsOfPorts(svc, [gatewayPort.id]) : [[]];
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    admin_state_up: r.adminStateUp,
    external_gateway_info: r.gatewayNetworkId
      ? {
          network_id: r.gatewayNetworkId,
          enable_snat: r.enableSnat,
          external_fixed_ips: gatewayIps.map((a) => ({ subnet_id: a.subnetId, ip_address: a.ip })),
        }
      : null,
    tenant_id: r.projectId,
    project_id: r.projectId,
  };
}

export function floatingIpShow(f: FloatingIpRow): Record<string, unknown> {
  return {
    id: f.id,
    floating_ip_address: f.floatingIpAddress,
    floating_network_id: f.floatingNetworkId,
    fixed_ip_address: f.fixedIpAddress,
    port_id: f.portId,
    router_id: f.routerId,
    status: f.status,
    description: f.description,
    tenant_id: f.projectId,
    project_id: f.projectId,
  };
}

export function ruleShow(r: SecurityGroupRuleRow): Record<string, unknown> {
  return {
    id: r.id,
    security_group_id: r.securityGroupId,
    direction: r.direction,
    ethertype: r.ethertype,
    protocol: r.protocol === null ? null : String(r.protocol),
    port_range_min: r.portRangeMin,
    port_range_max: r.portRangeMax,
    remote_ip_prefix: r.remoteIpPrefix,
    remote_group_id: r.remoteGroupId,
    description: r.description,
    tenant_id: r.projectId,
  };
}

export async function securityGroupShow(
  svc: ServiceContext,
  g: SecurityGroupRow,
): Promise<Record<string, unknown>> {
  const [rules] = await rulesOfGroups(svc.rt.db, [g.id]);
  return {
    id: g.id,
    name: g.name,
    description: g.description,
    security_group_rules: rules.map(ruleShow),
    tenant_id: g.projectId,
    project_id: g.projectId,
  };
}
