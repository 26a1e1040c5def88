import { sql } from 'drizzle-orm';
import {
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, lifecycleDates } from './columns';
import { projects } from './identity';

/** Neutron's tables: networks, subnets, ports and their fixed IPs, security groups, routers, floating IPs. */

/** A Neutron network: one VLAN segment on the integration bridge. */
export const networks = pgTable(
  'networks',
  {
    id: idColumn(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull().default(''),
    adminStateUp: boolean('admin_state_up').notNull().default(true),
    shared: boolean('shared').notNull().default(false),
    /** Neutron's router:external. */
    external: boolean('external').notNull().default(false),
    mtu: integer('mtu').notNull().default(1500),
    /** ACTIVE or DOWN. */
    status: text('status').notNull().default('ACTIVE'),
    /** The VLAN tag, allocated by Stratus from the configured range; unique while the network lives. */
    segmentationId: integer('segmentation_id').notNull(),
    ...lifecycleDates,
  },
  (t) => [
    uniqueIndex('networks_segmentation_id_key').on(t.segmentationId),
    index('networks_project_idx').on(t.projectId, t.createdAt),
  ],
);

export interface AllocationPool {
  start: string;
  end: string;
}

export interface HostRouteValue {
  destination: string;
  nexthop: string;
}

export const subnets = pgTable(
  'subnets',
  {
    id: idColumn(),
    networkId: uuid('network_id')
      .notNull()
      .references(() => networks.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull().default(''),
    ipVersion: integer('ip_version').notNull(),
    /** Canonical text (network address / prefix). */
    cidr: text('cidr').notNull(),
    gatewayIp: text('gateway_ip'),
    allocationPools: jsonb('allocation_pools').$type<AllocationPool[]>().notNull(),
    dnsNameservers: jsonb('dns_nameservers').$type<string[]>().notNull().default([]),
    hostRoutes: jsonb('host_routes').$type<HostRouteValue[]>().notNull().default([]),
    enableDhcp: boolean('enable_dhcp').notNull().default(true),
    ...lifecycleDates,
  },
  (t) => [
    index('subnets_network_idx').on(t.networkId),
    index('subnets_project_idx').on(t.projectId),
  ],
);

export interface AddressPairValue {
  ipAddress: string;
  macAddress: string | null;
}

/** Neutron's extra_dhcp_opt: a DHCP option the port's client gets (e.g. bootfile-name for PXE). */
export interface ExtraDhcpOptValue {
  /** A dnsmasq option name or number, optionally behind tags: `tag:ipxe,bootfile-name`. */
  optName: string;
  optValue: string;
  ipVersion: 4 | 6;
}

export const ports = pgTable(
  'ports',
  {
    id: idColumn(),
    networkId: uuid('network_id')
      .notNull()
      .references(() => networks.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull().default(''),
    macAddress: text('mac_address').notNull(),
    /** compute:<az>, network:dhcp, network:router_interface, network:router_gateway, network:floatingip, or ''. */
    deviceOwner: text('device_owner').notNull().default(''),
    deviceId: text('device_id').notNull().default(''),
    adminStateUp: boolean('admin_state_up').notNull().default(true),
    /** DOWN, BUILD or ACTIVE. */
    status: text('status').notNull().default('DOWN'),
    portSecurityEnabled: boolean('port_security_enabled').notNull().default(true),
    allowedAddressPairs: jsonb('allowed_address_pairs')
      .$type<AddressPairValue[]>()
      .notNull()
      .default([]),
    /** DHCP options for this port's client only (Neutron's extra_dhcp_opts). */
    extraDhcpOpts: jsonb('extra_dhcp_opts').$type<ExtraDhcpOptValue[]>().notNull().default([]),
    /** The compute host the port is plugged on (Neutron's binding:host_id), set by compute. */
    bindingHost: text('binding_host'),
    /** Created by createServer (deleted with the server) rather than given to it by the user. */
    createdForServer: boolean('created_for_server').notNull().default(false),
    /** Its place among the server's NICs (eth0 = 0), in createServer's request order. */
    deviceIndex: integer('device_index'),
    ...lifecycleDates,
  },
  (t) => [
    uniqueIndex('ports_network_mac_key').on(t.networkId, t.macAddress),
    index('ports_project_idx').on(t.projectId, t.createdAt),
    index('ports_device_idx').on(t.deviceId),
    index('ports_network_idx').on(t.networkId),
  ],
);

/** One fixed IP of a port. The primary key is what guarantees no address is given twice. */
export const ipAllocations = pgTable(
  'ip_allocations',
  {
    subnetId: uuid('subnet_id')
      .notNull()
      .references(() => subnets.id, { onDelete: 'cascade' }),
    /** Canonical text form. */
    ip: text('ip').notNull(),
    portId: uuid('port_id')
      .notNull()
      .references(() => ports.id, { onDelete: 'cascade' }),
    networkId: uuid('network_id').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.subnetId, t.ip] }),
    index('ip_allocations_port_idx').on(t.portId),
  ],
);

export const securityGroups = pgTable(
  'security_groups',
  {
    id: idColumn(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    /** The project's `default` group: made on first need, never deleted by users. */
    isDefault: boolean('is_default').notNull().default(false),
    ...lifecycleDates,
  },
  (t) => [
    index('security_groups_project_idx').on(t.projectId),
    uniqueIndex('security_groups_default_key')
      .on(t.projectId, t.isDefault)
      .where(sql`${t.isDefault}`),
  ],
);

export const securityGroupRules = pgTable(
  'security_group_rules',
  {
    id: idColumn(),
    securityGroupId: uuid('security_group_id')
      .notNull()
      .references(() => securityGroups.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id').notNull(),
    direction: text('direction').notNull(),
    ethertype: text('ethertype').notNull(),
    /** IANA protocol number; null: any. */
    protocol: integer('protocol'),
    portRangeMin: integer('port_range_min'),
    portRangeMax: integer('port_range_max'),
    remoteIpPrefix: text('remote_ip_prefix'),
    remoteGroupId: uuid('remote_group_id').references(() => securityGroups.id, {
      onDelete: 'cascade',
    }),
    description: text('description').notNull().default(''),
    ...lifecycleDates,
  },
  (t) => [
    index('security_group_rules_group_idx').on(t.securityGroupId),
    index('security_group_rules_remote_idx').on(t.remoteGroupId),
  ],
);

export const portSecurityGroups = pgTable(
  'port_security_groups',
  {
    portId: uuid('port_id')
      .notNull()
      .references(() => ports.id, { onDelete: 'cascade' }),
    securityGroupId: uuid('security_group_id')
      .notNull()
      .references(() => securityGroups.id),
  },
  (t) => [
    primaryKey({ columns: [t.portId, t.securityGroupId] }),
    index('port_security_groups_group_idx').on(t.securityGroupId),
  ],
);

export const routers = pgTable(
  'routers',
  {
    id: idColumn(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull().default(''),
    adminStateUp: boolean('admin_state_up').notNull().default(true),
    status: text('status').notNull().default('ACTIVE'),
    /** The external network of the gateway; its port is a network:router_gateway port. */
    gatewayNetworkId: uuid('gateway_network_id').references(() => networks.id),
    enableSnat: boolean('enable_snat').notNull().default(true),
    ...lifecycleDates,
  },
  (t) => [index('routers_project_idx').on(t.projectId, t.createdAt)],
);

export const floatingIps = pgTable(
  'floating_ips',
  {
    id: idColumn(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    floatingNetworkId: uuid('floating_network_id')
      .notNull()
      .references(() => networks.id),
    /** The network:floatingip port that holds the address's allocation. */
    floatingPortId: uuid('floating_port_id')
      .notNull()
      .references(() => ports.id),
    floatingIpAddress: text('floating_ip_address').notNull(),
    portId: uuid('port_id').references(() => ports.id, { onDelete: 'set null' }),
    fixedIpAddress: text('fixed_ip_address'),
    routerId: uuid('router_id').references(() => routers.id, { onDelete: 'set null' }),
    /** ACTIVE when associated, DOWN otherwise. */
    status: text('status').notNull().default('DOWN'),
    description: text('description').notNull().default(''),
    ...lifecycleDates,
  },
  (t) => [
    index('floating_ips_project_idx').on(t.projectId, t.createdAt),
    index('floating_ips_port_idx').on(t.portId),
    index('floating_ips_router_idx').on(t.routerId),
  ],
);
