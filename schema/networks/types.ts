import type { AllocationPool, HostRouteValue } from '../../db/tables';
import {
  type FloatingIpRow,
  loadFloatingIps,
  loadNetworks,
  loadPorts,
  loadRouters,
  loadSecurityGroupRules,
  loadSecurityGroups,
  loadSubnets,
  type NetworkRow,
  type PortRow,
  type RouterRow,
  type SecurityGroupRow,
  type SecurityGroupRuleRow,
  type SubnetRow,
} from '../../resolvers/networks/access';
import {
  ExternalGatewayForFloatingIpNotFoundError,
  IpAddressGenerationFailureError,
  IpAddressInUseError,
  NetworkInUseError,
  NetworkNotFoundError,
  PortNotFoundError,
  PortOwnedError,
  SecurityGroupInUseError,
  SecurityGroupRuleExistsError,
  SubnetInUseError,
} from '../../resolvers/networks/errors';
import { floatingIpsOfPorts } from '../../resolvers/networks/floating-ips';
import { fixedIpsOfPorts, groupIdsOfPorts } from '../../resolvers/networks/ports';
import { gatewayPortsOfRouters, interfacesOfRouters } from '../../resolvers/networks/routers';
import { rulesOfGroups } from '../../resolvers/networks/security-groups';
import { subnetsOfNetworks } from '../../resolvers/networks/subnets';
import { builder } from '../builder';
import { ErrorInterface } from '../errors';
import { Project } from '../identity/types';

/** Network types of the schema (Neutron): networks, subnets, ports, security groups, routers, floating IPs. */

builder.objectType(IpAddressInUseError, {
  interfaces: [ErrorInterface],
  name: 'IpAddressInUseError',
  description: 'A requested fixed IP is held by another port (Neutron IpAddressInUse)',
  fields: (t) => ({ field: t.exposeString('field'), ip: t.exposeString('ip') }),
});
builder.objectType(IpAddressGenerationFailureError, {
  interfaces: [ErrorInterface],
  name: 'IpAddressGenerationFailureError',
  description:
    "No free address is left in the subnet's allocation pools (Neutron IpAddressGenerationFailure)",
  fields: (t) => ({ field: t.exposeString('field') }),
});
builder.objectType(NetworkInUseError, {
  interfaces: [ErrorInterface],
  name: 'NetworkInUseError',
  description: 'The network still has ports (Neutron NetworkInUse)',
  fields: (t) => ({ portCount: t.exposeInt('portCount') }),
});
builder.objectType(SubnetInUseError, {
  interfaces: [ErrorInterface],
  name: 'SubnetInUseError',
  description: 'Ports still hold addresses of the subnet (Neutron SubnetInUse)',
  fields: (t) => ({ allocationCount: t.exposeInt('allocationCount') }),
});
builder.objectType(SecurityGroupRuleExistsError, {
  interfaces: [ErrorInterface],
  name: 'SecurityGroupRuleExistsError',
  description: 'The same rule is already in the group (Neutron SecurityGroupRuleExists)',
  fields: (t) => ({ ruleId: t.exposeString('ruleId') }),
});
builder.objectType(SecurityGroupInUseError, {
  interfaces: [ErrorInterface],
  name: 'SecurityGroupInUseError',
  description: 'Ports still use the security group (Neutron SecurityGroupInUse)',
  fields: (t) => ({ portCount: t.exposeInt('portCount') }),
});
builder.objectType(ExternalGatewayForFloatingIpNotFoundError, {
  interfaces: [ErrorInterface],
  name: 'ExternalGatewayForFloatingIpNotFoundError',
  description:
    "No router has a gateway on the floating IP's network and an interface on the port's subnet",
});
builder.objectType(NetworkNotFoundError, {
  interfaces: [ErrorInterface],
  name: 'NetworkNotFoundError',
  description: 'A network request of createServer names no network the caller may use',
  fields: (t) => ({ field: t.exposeString('field'), networkId: t.exposeString('networkId') }),
});
builder.objectType(PortNotFoundError, {
  interfaces: [ErrorInterface],
  name: 'PortNotFoundError',
  description: 'A port request of createServer names no port the caller may use',
  fields: (t) => ({ field: t.exposeString('field'), portId: t.exposeString('portId') }),
});
builder.objectType(PortOwnedError, {
  interfaces: [ErrorInterface],
  name: 'PortOwnedError',
  description: 'The port belongs to a router, DHCP or a floating IP: change it through their API',
  fields: (t) => ({ deviceOwner: t.exposeString('deviceOwner') }),
});

export const Network = builder.loadableNodeRef<NetworkRow, string>('Network', {
  id: { resolve: (n) => n.id },
  load: async (ids, ctx) => (await loadNetworks(ctx, ids)) as unknown as Array<NetworkRow | Error>,
});
export const Subnet = builder.loadableNodeRef<SubnetRow, string>('Subnet', {
  id: { resolve: (s) => s.id },
  load: async (ids, ctx) => (await loadSubnets(ctx, ids)) as unknown as Array<SubnetRow | Error>,
});
export const Port = builder.loadableNodeRef<PortRow, string>('Port', {
  id: { resolve: (p) => p.id },
  load: async (ids, ctx) => (await loadPorts(ctx, ids)) as unknown as Array<PortRow | Error>,
});
export const SecurityGroup = builder.loadableNodeRef<SecurityGroupRow, string>('SecurityGroup', {
  id: { resolve: (g) => g.id },
  load: async (ids, ctx) =>
    (await loadSecurityGroups(ctx, ids)) as unknown as Array<SecurityGroupRow | Error>,
});
export const SecurityGroupRule = builder.loadableNodeRef<SecurityGroupRuleRow, string>(
  'SecurityGroupRule',
  {
    id: { resolve: (r) => r.id },
    load: async (ids, ctx) =>
      (await loadSecurityGroupRules(ctx, ids)) as unknown as Array<SecurityGroupRuleRow | Error>,
  },
);
export const Router = builder.loadableNodeRef<RouterRow, string>('Router', {
  id: { resolve: (r) => r.id },
  load: async (ids, ctx) => (await loadRouters(ctx, ids)) as unknown as Array<RouterRow | Error>,
});
export const FloatingIp = builder.loadableNodeRef<FloatingIpRow, string>('FloatingIp', {
  id: { resolve: (f) => f.id },
  load: async (ids, ctx) =>
    (await loadFloatingIps(ctx, ids)) as unknown as Array<FloatingIpRow | Error>,
});

export const Direction = builder.enumType('SecurityGroupRuleDirection', {
  values: { INGRESS: { value: 'ingress' }, EGRESS: { value: 'egress' } } as const,
});
export const Ethertype = builder.enumType('Ethertype', {
  values: { IPv4: { value: 'IPv4' }, IPv6: { value: 'IPv6' } } as const,
});

const AllocationPoolType = builder.objectRef<AllocationPool>('AllocationPool').implement({
  fields: (t) => ({ start: t.exposeString('start'), end: t.exposeString('end') }),
});
const HostRouteType = builder.objectRef<HostRouteValue>('HostRoute').implement({
  fields: (t) => ({
    destination: t.exposeString('destination'),
    nexthop: t.exposeString('nexthop'),
  }),
});
const FixedIpType = builder.objectRef<{ subnetId: string; ip: string }>('FixedIp').implement({
  description: 'An address of a port, on one subnet',
  fields: (t) => ({
    ipAddress: t.exposeString('ip'),
    subnet: t.field({ type: Subnet, nullable: true, resolve: (f) => f.subnetId }),
  }),
});
const AddressPairType = builder
  .objectRef<{ ipAddress: string; macAddress: string | null }>('AllowedAddressPair')
  .implement({
    fields: (t) => ({
      ipAddress: t.exposeString('ipAddress', { description: 'An address or a CIDR' }),
      macAddress: t.exposeString('macAddress', {
        nullable: true,
        description: "null: the port's own",
      }),
    }),
  });

const ExtraDhcpOptType = builder
  .objectRef<{ optName: string; optValue: string; ipVersion: number }>('ExtraDhcpOpt')
  .implement({
    description: "A DHCP option for this port's client only (Neutron's extra_dhcp_opt)",
    fields: (t) => ({
      optName: t.exposeString('optName'),
      optValue: t.exposeString('optValue'),
      ipVersion: t.exposeInt('ipVersion'),
    }),
  });

Network.implement({
  description: 'A tenant or provider network (Neutron network): one VLAN segment',
  fields: (t) => ({
    name: t.exposeString('name'),
    adminStateUp: t.exposeBoolean('adminStateUp'),
    status: t.exposeString('status', { description: 'ACTIVE or DOWN' }),
    shared: t.exposeBoolean('shared'),
    external: t.exposeBoolean('external', { description: "Neutron's router:external" }),
    mtu: t.exposeInt('mtu'),
    segmentationId: t.exposeInt('segmentationId', {
      nullable: true,
      description: 'The VLAN tag (admins only: provider:segmentation_id)',
      authScopes: { policy: 'network:get_binding' },
    }),
    project: t.field({ type: Project, nullable: true, resolve: (n) => n.projectId }),
    subnets: t.loadableList({
      type: Subnet,
      load: (ids: string[], ctx) => subnetsOfNetworks(ctx, ids),
      resolve: (n) => n.id,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

Subnet.implement({
  description: 'An IPv4 or IPv6 range of a network with its gateway, pools and DHCP options',
  fields: (t) => ({
    name: t.exposeString('name'),
    network: t.field({ type: Network, nullable: true, resolve: (s) => s.networkId }),
    ipVersion: t.exposeInt('ipVersion'),
    cidr: t.exposeString('cidr'),
    gatewayIp: t.exposeString('gatewayIp', { nullable: true }),
    allocationPools: t.field({ type: [AllocationPoolType], resolve: (s) => s.allocationPools }),
    dnsNameservers: t.exposeStringList('dnsNameservers'),
    hostRoutes: t.field({ type: [HostRouteType], resolve: (s) => s.hostRoutes }),
    enableDhcp: t.exposeBoolean('enableDhcp'),
    project: t.field({ type: Project, nullable: true, resolve: (s) => s.projectId }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

Port.implement({
  description: 'A virtual NIC on a network (Neutron port): MAC, fixed IPs, security groups',
  fields: (t) => ({
    name: t.exposeString('name'),
    network: t.field({ type: Network, nullable: true, resolve: (p) => p.networkId }),
    macAddress: t.exposeString('macAddress'),
    fixedIps: t.loadableList({
      type: FixedIpType,
      load: (ids: string[], ctx) => fixedIpsOfPorts(ctx, ids),
      resolve: (p) => p.id,
    }),
    deviceOwner: t.exposeString('deviceOwner', {
      description: 'compute:<az>, network:dhcp, network:router_interface, … or empty',
    }),
    deviceId: t.exposeString('deviceId'),
    adminStateUp: t.exposeBoolean('adminStateUp'),
    status: t.exposeString('status', { description: 'DOWN, BUILD or ACTIVE' }),
    portSecurityEnabled: t.exposeBoolean('portSecurityEnabled'),
    securityGroups: t.loadableList({
      type: SecurityGroup,
      load: (ids: string[], ctx) => groupIdsOfPorts(ctx, ids),
      resolve: (p) => p.id,
    }),
    allowedAddressPairs: t.field({
      type: [AddressPairType],
      resolve: (p) => p.allowedAddressPairs,
    }),
    extraDhcpOpts: t.field({
      type: [ExtraDhcpOptType],
      resolve: (p) => p.extraDhcpOpts,
    }),
    floatingIps: t.loadableList({
      type: FloatingIp,
      load: (ids: string[], ctx) => floatingIpsOfPorts(ctx, ids),
      resolve: (p) => p.id,
    }),
    bindingHost: t.exposeString('bindingHost', {
      nullable: true,
      description: 'The compute host it is plugged on (admins only: binding:host_id)',
      authScopes: { policy: 'network:get_binding' },
    }),
    project: t.field({ type: Project, nullable: true, resolve: (p) => p.projectId }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

SecurityGroup.implement({
  description: "Stateful firewall rules for ports; each project has a 'default' group",
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    isDefault: t.exposeBoolean('isDefault'),
    rules: t.loadableList({
      type: SecurityGroupRule,
      load: (ids: string[], ctx) => rulesOfGroups(ctx.rt.db, ids),
      resolve: (g) => g.id,
    }),
    project: t.field({ type: Project, nullable: true, resolve: (g) => g.projectId }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

SecurityGroupRule.implement({
  description: 'One allowed flow: direction, ethertype, protocol, ports, remote CIDR or group',
  fields: (t) => ({
    securityGroup: t.field({
      type: SecurityGroup,
      nullable: true,
      resolve: (r) => r.securityGroupId,
    }),
    direction: t.field({ type: Direction, resolve: (r) => r.direction as 'ingress' | 'egress' }),
    ethertype: t.field({ type: Ethertype, resolve: (r) => r.ethertype as 'IPv4' | 'IPv6' }),
    protocol: t.exposeInt('protocol', { nullable: true, description: 'IANA number; null: any' }),
    portRangeMin: t.exposeInt('portRangeMin', { nullable: true, description: 'ICMP: the type' }),
    portRangeMax: t.exposeInt('portRangeMax', { nullable: true, description: 'ICMP: the code' }),
    remoteIpPrefix: t.exposeString('remoteIpPrefix', { nullable: true }),
    remoteGroup: t.field({ type: SecurityGroup, nullable: true, resolve: (r) => r.remoteGroupId }),
    description: t.exposeString('description'),
  }),
});

const GatewayInfo = builder
  .objectRef<{ router: RouterRow; port: PortRow | null }>('ExternalGatewayInfo')
  .implement({
    fields: (t) => ({
      network: t.field({
        type: Network,
        nullable: true,
        resolve: (g) => g.router.gatewayNetworkId,
      }),
      enableSnat: t.boolean({ resolve: (g) => g.router.enableSnat }),
      externalFixedIps: t.loadableList({
        type: FixedIpType,
        load: (ids: string[], ctx) => fixedIpsOfPorts(ctx, ids),
        resolve: (g) => g.port?.id ?? '',
      }),
    }),
  });

Router.implement({
  description: 'Routes between its subnets and, through an external gateway with SNAT, outside',
  fields: (t) => ({
    name: t.exposeString('name'),
    adminStateUp: t.exposeBoolean('adminStateUp'),
    status: t.exposeString('status'),
    externalGatewayInfo: t.loadable({
      type: GatewayInfo,
      nullable: true,
      load: async (ids: string[], ctx) => {
        const rows = await loadRouters(ctx, ids);
        const gateways = await gatewayPortsOfRouters(ctx, ids);
        return rows.map((r, i) => (r?.gatewayNetworkId ? { router: r, port: gateways[i] } : null));
      },
      resolve: (r) => r.id,
    }),
    interfaces: t.loadableList({
      type: Port,
      description: 'Its ports on subnets (device_owner network:router_interface)',
      load: (ids: string[], ctx) => interfacesOfRouters(ctx, ids),
      resolve: (r) => r.id,
    }),
    project: t.field({ type: Project, nullable: true, resolve: (r) => r.projectId }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

FloatingIp.implement({
  description: 'An address of an external network, forwarded (DNAT) to a fixed IP of a port',
  fields: (t) => ({
    floatingIpAddress: t.exposeString('floatingIpAddress'),
    floatingNetwork: t.field({
      type: Network,
      nullable: true,
      resolve: (f) => f.floatingNetworkId,
    }),
    port: t.field({ type: Port, nullable: true, resolve: (f) => f.portId }),
    fixedIpAddress: t.exposeString('fixedIpAddress', { nullable: true }),
    router: t.field({ type: Router, nullable: true, resolve: (f) => f.routerId }),
    status: t.exposeString('status', { description: 'ACTIVE when associated, DOWN otherwise' }),
    description: t.exposeString('description'),
    project: t.field({ type: Project, nullable: true, resolve: (f) => f.projectId }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});
