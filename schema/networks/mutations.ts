import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  QuotaExceededError,
} from '../../resolvers/errors';
import {
  ExternalGatewayForFloatingIpNotFoundError,
  IpAddressGenerationFailureError,
  IpAddressInUseError,
  NetworkInUseError,
  PortOwnedError,
  SecurityGroupInUseError,
  SecurityGroupRuleExistsError,
  SubnetInUseError,
} from '../../resolvers/networks/errors';
import {
  createFloatingIp,
  deleteFloatingIp,
  updateFloatingIp,
} from '../../resolvers/networks/floating-ips';
import { createNetwork, deleteNetwork, updateNetwork } from '../../resolvers/networks/networks';
import { createPort, deletePort, updatePort } from '../../resolvers/networks/ports';
import {
  addRouterInterface,
  createRouter,
  deleteRouter,
  type RouterInterface,
  removeRouterInterface,
  updateRouter,
} from '../../resolvers/networks/routers';
import {
  createSecurityGroup,
  createSecurityGroupRule,
  deleteSecurityGroup,
  deleteSecurityGroupRule,
  updateSecurityGroup,
} from '../../resolvers/networks/security-groups';
import { createSubnet, deleteSubnet, updateSubnet } from '../../resolvers/networks/subnets';
import { builder } from '../builder';
import { Project } from '../identity/types';
import {
  Direction,
  Ethertype,
  FloatingIp,
  Network,
  Port,
  Router,
  SecurityGroup,
  SecurityGroupRule,
  Subnet,
} from './types';

/** Network mutations: create/update/delete of each type, router interfaces, floating IP association. */

/** Errors every network mutation may return, plus the specific ones listed with each. */
const COMMON = [InvalidInputError, NotFoundError, ConflictError, ForbiddenError];
const IPAM = [IpAddressInUseError, IpAddressGenerationFailureError, QuotaExceededError];

/** Drops absent and null fields, except those where null means something (`keepNull`). */
function defined(input: Record<string, unknown>, keepNull: string[] = []): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(input).filter(
      ([k, v]) => v !== undefined && (v !== null || keepNull.includes(k)),
    ),
  );
}
const rawId = (g: { id: string } | null | undefined) => g?.id;

const FixedIpInput = builder.inputType('FixedIpInput', {
  fields: (t) => ({
    subnetId: t.globalID({ for: Subnet }),
    ipAddress: t.string({
      description: 'A specific address; omitted: the next free one of the subnet',
    }),
  }),
});
const AllocationPoolInput = builder.inputType('AllocationPoolInput', {
  fields: (t) => ({ start: t.string({ required: true }), end: t.string({ required: true }) }),
});
const HostRouteInput = builder.inputType('HostRouteInput', {
  fields: (t) => ({
    destination: t.string({ required: true }),
    nexthop: t.string({ required: true }),
  }),
});
const AddressPairInput = builder.inputType('AllowedAddressPairInput', {
  fields: (t) => ({ ipAddress: t.string({ required: true }), macAddress: t.string() }),
});
const ExtraDhcpOptInput = builder.inputType('ExtraDhcpOptInput', {
  description: "A DHCP option for this port's client only (Neutron's extra_dhcp_opt)",
  fields: (t) => ({
    optName: t.string({
      required: true,
      description:
        "dnsmasq's option name or number, optionally behind tags: bootfile-name, tftp-server, server-ip-address, tag:ipxe,bootfile-name",
    }),
    optValue: t.string({ required: true }),
    ipVersion: t.int({ description: 'Default 4' }),
  }),
});
const GatewayInput = builder.inputType('ExternalGatewayInfoInput', {
  fields: (t) => ({
    networkId: t.globalID({ for: Network, required: true }),
    enableSnat: t.boolean({ description: 'Default true' }),
    externalFixedIps: t.field({ type: [FixedIpInput] }),
  }),
});

const fixedIps = (
  list: Array<{ subnetId?: { id: string } | null; ipAddress?: string | null }> | null | undefined,
) => list?.map((f) => ({ subnetId: rawId(f.subnetId), ipAddress: f.ipAddress }));
const gateway = (
  g:
    | {
        networkId: { id: string };
        enableSnat?: boolean | null;
        externalFixedIps?: Parameters<typeof fixedIps>[0];
      }
    | null
    | undefined,
) =>
  g
    ? {
        networkId: g.networkId.id,
        enableSnat: g.enableSnat,
        externalFixedIps: fixedIps(g.externalFixedIps),
      }
    : g;

type NodeRef =
  | typeof Network
  | typeof Subnet
  | typeof Port
  | typeof SecurityGroup
  | typeof SecurityGroupRule
  | typeof Router
  | typeof FloatingIp;
const idInput = (name: string, ref: NodeRef) =>
  builder.inputType(name, { fields: (t) => ({ id: t.globalID({ for: ref, required: true }) }) });

const CreateNetworkInput = builder.inputType('CreateNetworkInput', {
  fields: (t) => ({
    name: t.string(),
    adminStateUp: t.boolean(),
    shared: t.boolean({ description: 'Admins only' }),
    external: t.boolean({ description: "Admins only (Neutron's router:external)" }),
    mtu: t.int({ description: 'Default 1500' }),
    projectId: t.globalID({ for: Project, description: 'Admins: create for this project' }),
  }),
});
const UpdateNetworkInput = builder.inputType('UpdateNetworkInput', {
  fields: (t) => ({
    id: t.globalID({ for: Network, required: true }),
    name: t.string(),
    adminStateUp: t.boolean(),
    shared: t.boolean({ description: 'Admins only' }),
    mtu: t.int(),
  }),
});
const CreateSubnetInput = builder.inputType('CreateSubnetInput', {
  fields: (t) => ({
    networkId: t.globalID({ for: Network, required: true }),
    name: t.string(),
    cidr: t.string({
      required: true,
      description: 'e.g. 10.0.0.0/24 or fd00::/64 (host bits zero)',
    }),
    ipVersion: t.int({ description: '4 or 6; taken from the CIDR when omitted' }),
    gatewayIp: t.string({ description: 'Omitted: the first address; null: no gateway' }),
    allocationPools: t.field({
      type: [AllocationPoolInput],
      description: 'Default: the CIDR minus network, broadcast and gateway',
    }),
    dnsNameservers: t.stringList(),
    hostRoutes: t.field({ type: [HostRouteInput] }),
    enableDhcp: t.boolean({ description: 'Default true' }),
  }),
});
const UpdateSubnetInput = builder.inputType('UpdateSubnetInput', {
  fields: (t) => ({
    id: t.globalID({ for: Subnet, required: true }),
    name: t.string(),
    dnsNameservers: t.stringList(),
    hostRoutes: t.field({ type: [HostRouteInput] }),
    enableDhcp: t.boolean(),
  }),
});
const CreatePortInput = builder.inputType('CreatePortInput', {
  fields: (t) => ({
    networkId: t.globalID({ for: Network, required: true }),
    name: t.string(),
    macAddress: t.string({ description: 'Default: fa:16:3e plus three random octets' }),
    fixedIps: t.field({ type: [FixedIpInput], description: 'Default: one address per IP version' }),
    deviceOwner: t.string(),
    deviceId: t.string(),
    adminStateUp: t.boolean(),
    securityGroupIds: t.globalIDList({
      for: SecurityGroup,
      description: "Default: the project's default group",
    }),
    portSecurityEnabled: t.boolean({ description: 'Default true; false needs no security groups' }),
    allowedAddressPairs: t.field({ type: [AddressPairInput] }),
    extraDhcpOpts: t.field({ type: [ExtraDhcpOptInput] }),
    projectId: t.globalID({ for: Project, description: 'Admins: create for this project' }),
  }),
});
const UpdatePortInput = builder.inputType('UpdatePortInput', {
  fields: (t) => ({
    id: t.globalID({ for: Port, required: true }),
    name: t.string(),
    fixedIps: t.field({
      type: [FixedIpInput],
      description: 'Replaces the fixed IPs (kept ones stay)',
    }),
    adminStateUp: t.boolean(),
    securityGroupIds: t.globalIDList({ for: SecurityGroup }),
    portSecurityEnabled: t.boolean(),
    allowedAddressPairs: t.field({ type: [AddressPairInput] }),
    extraDhcpOpts: t.field({
      type: [ExtraDhcpOptInput],
      description: 'Replaces the extra DHCP options ([] removes them)',
    }),
  }),
});
const CreateSecurityGroupInput = builder.inputType('CreateSecurityGroupInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    projectId: t.globalID({ for: Project, description: 'Admins: create for this project' }),
  }),
});
const UpdateSecurityGroupInput = builder.inputType('UpdateSecurityGroupInput', {
  fields: (t) => ({
    id: t.globalID({ for: SecurityGroup, required: true }),
    name: t.string(),
    description: t.string(),
  }),
});
const CreateSecurityGroupRuleInput = builder.inputType('CreateSecurityGroupRuleInput', {
  fields: (t) => ({
    securityGroupId: t.globalID({ for: SecurityGroup, required: true }),
    direction: t.field({ type: Direction, required: true }),
    ethertype: t.field({ type: Ethertype, description: 'Default IPv4' }),
    protocol: t.string({
      description: 'tcp, udp, icmp, icmpv6, … or a number 0-255; omitted: any',
    }),
    portRangeMin: t.int({ description: 'tcp/udp: first port; icmp: type' }),
    portRangeMax: t.int({ description: 'tcp/udp: last port; icmp: code' }),
    remoteIpPrefix: t.string({ description: 'A CIDR of the ethertype' }),
    remoteGroupId: t.globalID({
      for: SecurityGroup,
      description: "Members of this group (the same project's)",
    }),
    description: t.string(),
  }),
});
const CreateRouterInput = builder.inputType('CreateRouterInput', {
  fields: (t) => ({
    name: t.string(),
    adminStateUp: t.boolean(),
    externalGatewayInfo: t.field({ type: GatewayInput }),
    projectId: t.globalID({ for: Project, description: 'Admins: create for this project' }),
  }),
});
const UpdateRouterInput = builder.inputType('UpdateRouterInput', {
  fields: (t) => ({
    id: t.globalID({ for: Router, required: true }),
    name: t.string(),
    adminStateUp: t.boolean(),
    externalGatewayInfo: t.field({ type: GatewayInput, description: 'null removes the gateway' }),
  }),
});
const RouterInterfaceInput = builder.inputType('RouterInterfaceInput', {
  fields: (t) => ({
    routerId: t.globalID({ for: Router, required: true }),
    subnetId: t.globalID({ for: Subnet, description: "The router takes the subnet's gateway IP" }),
    portId: t.globalID({ for: Port, description: 'Or an unused port with one fixed IP' }),
  }),
});
const CreateFloatingIpInput = builder.inputType('CreateFloatingIpInput', {
  fields: (t) => ({
    floatingNetworkId: t.globalID({
      for: Network,
      required: true,
      description: 'An external network',
    }),
    floatingIpAddress: t.string({ description: 'Admins only: a specific address' }),
    portId: t.globalID({ for: Port, description: 'Associate at once' }),
    fixedIpAddress: t.string({
      description: "Which of the port's fixed IPs (default: its first IPv4)",
    }),
    description: t.string(),
    projectId: t.globalID({ for: Project, description: 'Admins: create for this project' }),
  }),
});
const UpdateFloatingIpInput = builder.inputType('UpdateFloatingIpInput', {
  fields: (t) => ({
    id: t.globalID({ for: FloatingIp, required: true }),
    portId: t.globalID({
      for: Port,
      description: 'null disassociates; absent keeps the association',
    }),
    fixedIpAddress: t.string(),
    description: t.string(),
  }),
});

const RouterInterfaceType = builder.objectRef<RouterInterface>('RouterInterface').implement({
  fields: (t) => ({
    router: t.field({ type: Router, resolve: (r) => r.router }),
    port: t.field({
      type: Port,
      description: 'The interface port (gone after a removal)',
      resolve: (r) => r.port,
    }),
    subnet: t.field({ type: Subnet, nullable: true, resolve: (r) => r.subnetId }),
  }),
});

const DeleteNetworkInput = idInput('DeleteNetworkInput', Network);
const DeleteSubnetInput = idInput('DeleteSubnetInput', Subnet);
const DeletePortInput = idInput('DeletePortInput', Port);
const DeleteSecurityGroupInput = idInput('DeleteSecurityGroupInput', SecurityGroup);
const DeleteSecurityGroupRuleInput = idInput('DeleteSecurityGroupRuleInput', SecurityGroupRule);
const DeleteRouterInput = idInput('DeleteRouterInput', Router);
const DeleteFloatingIpInput = idInput('DeleteFloatingIpInput', FloatingIp);

builder.mutationFields((t) => ({
  createNetwork: t.field({
    type: Network,
    description: 'A network with a VLAN segment allocated by Stratus',
    authScopes: { policy: 'network:manage_networks' },
    args: { input: t.arg({ type: CreateNetworkInput, required: true }) },
    errors: { types: [...COMMON, QuotaExceededError], dataField: { name: 'network' } },
    resolve: (_r, { input }, ctx) =>
      createNetwork(ctx, defined({ ...input, projectId: rawId(input.projectId) })),
  }),
  updateNetwork: t.field({
    type: Network,
    authScopes: { policy: 'network:manage_networks' },
    args: { input: t.arg({ type: UpdateNetworkInput, required: true }) },
    errors: { types: COMMON, dataField: { name: 'network' } },
    resolve: (_r, { input }, ctx) => updateNetwork(ctx, defined({ ...input, id: input.id.id })),
  }),
  deleteNetwork: t.field({
    type: Network,
    description: 'Refused (NetworkInUseError) while ports other than DHCP are on it',
    authScopes: { policy: 'network:manage_networks' },
    args: { input: t.arg({ type: DeleteNetworkInput, required: true }) },
    errors: { types: [...COMMON, NetworkInUseError], dataField: { name: 'network' } },
    resolve: (_r, { input }, ctx) => deleteNetwork(ctx, input.id.id),
  }),
  createSubnet: t.field({
    type: Subnet,
    authScopes: { policy: 'network:manage_subnets' },
    args: { input: t.arg({ type: CreateSubnetInput, required: true }) },
    errors: { types: [...COMMON, ...IPAM], dataField: { name: 'subnet' } },
    resolve: (_r, { input }, ctx) =>
      createSubnet(ctx, defined({ ...input, networkId: input.networkId.id }, ['gatewayIp'])),
  }),
  updateSubnet: t.field({
    type: Subnet,
    authScopes: { policy: 'network:manage_subnets' },
    args: { input: t.arg({ type: UpdateSubnetInput, required: true }) },
    errors: { types: [...COMMON, ...IPAM], dataField: { name: 'subnet' } },
    resolve: (_r, { input }, ctx) => updateSubnet(ctx, defined({ ...input, id: input.id.id })),
  }),
  deleteSubnet: t.field({
    type: Subnet,
    description: 'Refused (SubnetInUseError) while ports other than DHCP hold its addresses',
    authScopes: { policy: 'network:manage_subnets' },
    args: { input: t.arg({ type: DeleteSubnetInput, required: true }) },
    errors: { types: [...COMMON, SubnetInUseError], dataField: { name: 'subnet' } },
    resolve: (_r, { input }, ctx) => deleteSubnet(ctx, input.id.id),
  }),
  createPort: t.field({
    type: Port,
    authScopes: { policy: 'network:manage_ports' },
    args: { input: t.arg({ type: CreatePortInput, required: true }) },
    errors: { types: [...COMMON, ...IPAM], dataField: { name: 'port' } },
    resolve: (_r, { input }, ctx) =>
      createPort(
        ctx,
        defined({
          ...input,
          networkId: input.networkId.id,
          projectId: rawId(input.projectId),
          fixedIps: fixedIps(input.fixedIps),
          securityGroupIds: input.securityGroupIds?.map((g) => g.id),
        }),
      ),
  }),
  updatePort: t.field({
    type: Port,
    authScopes: { policy: 'network:manage_ports' },
    args: { input: t.arg({ type: UpdatePortInput, required: true }) },
    errors: { types: [...COMMON, ...IPAM], dataField: { name: 'port' } },
    resolve: (_r, { input }, ctx) =>
      updatePort(
        ctx,
        defined({
          ...input,
          id: input.id.id,
          fixedIps: fixedIps(input.fixedIps),
          securityGroupIds: input.securityGroupIds?.map((g) => g.id),
        }),
      ),
  }),
  deletePort: t.field({
    type: Port,
    description: 'Router, DHCP and floating IP ports are refused (PortOwnedError)',
    authScopes: { policy: 'network:manage_ports' },
    args: { input: t.arg({ type: DeletePortInput, required: true }) },
    errors: { types: [...COMMON, PortOwnedError], dataField: { name: 'port' } },
    resolve: (_r, { input }, ctx) => deletePort(ctx, input.id.id),
  }),
  createSecurityGroup: t.field({
    type: SecurityGroup,
    authScopes: { policy: 'network:manage_security_groups' },
    args: { input: t.arg({ type: CreateSecurityGroupInput, required: true }) },
    errors: { types: [...COMMON, QuotaExceededError], dataField: { name: 'securityGroup' } },
    resolve: (_r, { input }, ctx) =>
      createSecurityGroup(ctx, defined({ ...input, projectId: rawId(input.projectId) })),
  }),
  updateSecurityGroup: t.field({
    type: SecurityGroup,
    authScopes: { policy: 'network:manage_security_groups' },
    args: { input: t.arg({ type: UpdateSecurityGroupInput, required: true }) },
    errors: { types: COMMON, dataField: { name: 'securityGroup' } },
    resolve: (_r, { input }, ctx) =>
      updateSecurityGroup(ctx, defined({ ...input, id: input.id.id })),
  }),
  deleteSecurityGroup: t.field({
    type: SecurityGroup,
    description: 'Never the default group; refused while ports use it',
    authScopes: { policy: 'network:manage_security_groups' },
    args: { input: t.arg({ type: DeleteSecurityGroupInput, required: true }) },
    errors: { types: [...COMMON, SecurityGroupInUseError], dataField: { name: 'securityGroup' } },
    resolve: (_r, { input }, ctx) => deleteSecurityGroup(ctx, input.id.id),
  }),
  createSecurityGroupRule: t.field({
    type: SecurityGroupRule,
    authScopes: { policy: 'network:manage_security_groups' },
    args: { input: t.arg({ type: CreateSecurityGroupRuleInput, required: true }) },
    errors: {
      types: [...COMMON, SecurityGroupRuleExistsError, QuotaExceededError],
      dataField: { name: 'securityGroupRule' },
    },
    resolve: (_r, { input }, ctx) =>
      createSecurityGroupRule(
        ctx,
        defined({
          ...input,
          securityGroupId: input.securityGroupId.id,
          remoteGroupId: rawId(input.remoteGroupId),
        }),
      ),
  }),
  deleteSecurityGroupRule: t.field({
    type: SecurityGroupRule,
    authScopes: { policy: 'network:manage_security_groups' },
    args: { input: t.arg({ type: DeleteSecurityGroupRuleInput, required: true }) },
    errors: { types: COMMON, dataField: { name: 'securityGroupRule' } },
    resolve: (_r, { input }, ctx) => deleteSecurityGroupRule(ctx, input.id.id),
  }),
  createRouter: t.field({
    type: Router,
    authScopes: { policy: 'network:manage_routers' },
    args: { input: t.arg({ type: CreateRouterInput, required: true }) },
    errors: { types: [...COMMON, ...IPAM], dataField: { name: 'router' } },
    resolve: (_r, { input }, ctx) =>
      createRouter(
        ctx,
        defined({
          ...input,
          projectId: rawId(input.projectId),
          externalGatewayInfo: gateway(input.externalGatewayInfo),
        }),
      ),
  }),
  updateRouter: t.field({
    type: Router,
    authScopes: { policy: 'network:manage_routers' },
    args: { input: t.arg({ type: UpdateRouterInput, required: true }) },
    errors: { types: [...COMMON, ...IPAM], dataField: { name: 'router' } },
    resolve: (_r, { input }, ctx) =>
      updateRouter(
        ctx,
        defined(
          { ...input, id: input.id.id, externalGatewayInfo: gateway(input.externalGatewayInfo) },
          ['externalGatewayInfo'],
        ),
      ),
  }),
  deleteRouter: t.field({
    type: Router,
    description: 'Refused while it has interfaces',
    authScopes: { policy: 'network:manage_routers' },
    args: { input: t.arg({ type: DeleteRouterInput, required: true }) },
    errors: { types: COMMON, dataField: { name: 'router' } },
    resolve: (_r, { input }, ctx) => deleteRouter(ctx, input.id.id),
  }),
  addRouterInterface: t.field({
    type: RouterInterfaceType,
    authScopes: { policy: 'network:manage_routers' },
    args: { input: t.arg({ type: RouterInterfaceInput, required: true }) },
    errors: { types: [...COMMON, ...IPAM], dataField: { name: 'routerInterface' } },
    resolve: (_r, { input }, ctx) =>
      addRouterInterface(ctx, {
        routerId: input.routerId.id,
        subnetId: rawId(input.subnetId),
        portId: rawId(input.portId),
      }),
  }),
  removeRouterInterface: t.field({
    type: RouterInterfaceType,
    authScopes: { policy: 'network:manage_routers' },
    args: { input: t.arg({ type: RouterInterfaceInput, required: true }) },
    errors: { types: COMMON, dataField: { name: 'routerInterface' } },
    resolve: (_r, { input }, ctx) =>
      removeRouterInterface(ctx, {
        routerId: input.routerId.id,
        subnetId: rawId(input.subnetId),
        portId: rawId(input.portId),
      }),
  }),
  createFloatingIp: t.field({
    type: FloatingIp,
    authScopes: { policy: 'network:manage_floating_ips' },
    args: { input: t.arg({ type: CreateFloatingIpInput, required: true }) },
    errors: {
      types: [...COMMON, ...IPAM, ExternalGatewayForFloatingIpNotFoundError],
      dataField: { name: 'floatingIp' },
    },
    resolve: (_r, { input }, ctx) =>
      createFloatingIp(
        ctx,
        defined({
          ...input,
          floatingNetworkId: input.floatingNetworkId.id,
          portId: rawId(input.portId),
          projectId: rawId(input.projectId),
        }),
      ),
  }),
  updateFloatingIp: t.field({
    type: FloatingIp,
    description: 'Associates with a port (portId), or disassociates (portId null)',
    authScopes: { policy: 'network:manage_floating_ips' },
    args: { input: t.arg({ type: UpdateFloatingIpInput, required: true }) },
    errors: {
      types: [...COMMON, ExternalGatewayForFloatingIpNotFoundError],
      dataField: { name: 'floatingIp' },
    },
    resolve: (_r, { input }, ctx) =>
      updateFloatingIp(ctx, {
        ...defined({ ...input, id: input.id.id }),
        // Absent: unchanged; null: disassociate.
        portId: input.portId === undefined ? undefined : (rawId(input.portId) ?? null),
      }),
  }),
  deleteFloatingIp: t.field({
    type: FloatingIp,
    authScopes: { policy: 'network:manage_floating_ips' },
    args: { input: t.arg({ type: DeleteFloatingIpInput, required: true }) },
    errors: { types: COMMON, dataField: { name: 'floatingIp' } },
    resolve: (_r, { input }, ctx) => deleteFloatingIp(ctx, input.id.id),
  }),
}));
