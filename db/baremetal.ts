import { sql } from 'drizzle-orm';
import {
  boolean,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, lifecycleDates } from './columns';
import { networks, ports } from './networks';

/** Ironic's provision states, spelled as Ironic spells them. */
export const nodeProvisionStateEnum = pgEnum('node_provision_state', [
  'enroll',
  'verifying',
  'manageable',
  'inspecting',
  'inspect failed',
  'available',
  'deploying',
  'wait call-back',
  'active',
  'deploy failed',
  'deleting',
  'cleaning',
  'clean wait',
  'clean failed',
  'error',
]);

/** Ironic's power states; `unknown` when the BMC does not answer. Null: never read. */
export const nodePowerStateEnum = pgEnum('node_power_state', ['power on', 'power off', 'unknown']);

/** What a deploy was asked for (Ironic's instance_info). */
export interface NodeInstanceInfo {
  imageId: string;
  userData: string | null;
}

/**
 * An Ironic node: a machine reached through its BMC. The BMC password is kept only sealed
 * (AES-256-GCM, resolvers/baremetal/credentials.ts); the key is never in the database.
 */
export const baremetalNodes = pgTable(
  'baremetal_nodes',
  {
    id: idColumn(),
    name: text('name').notNull(),
    driver: text('driver').notNull().default('ipmi'),
    bmcAddress: text('bmc_address').notNull(),
    bmcPort: integer('bmc_port').notNull().default(623),
    bmcUsername: text('bmc_username').notNull(),
    /** `v1.<iv>.<tag>.<ciphertext>` (base64url); never returned by the API. */
    bmcPasswordSealed: text('bmc_password_sealed').notNull(),
    bmcInterface: text('bmc_interface').notNull().default('lanplus'),
    cpus: integer('cpus').notNull(),
    memoryMb: integer('memory_mb').notNull(),
    localGb: integer('local_gb').notNull(),
    cpuArch: text('cpu_arch').notNull(),
    resourceClass: text('resource_class').notNull(),
    provisionState: nodeProvisionStateEnum('provision_state').notNull().default('enroll'),
    /** Where the running verb is taking the node (Ironic's target_provision_state). */
    targetProvisionState: text('target_provision_state'),
    powerState: nodePowerStateEnum('power_state'),
    targetPowerState: text('target_power_state'),
    bootDevice: text('boot_device'),
    bootPersistent: boolean('boot_persistent'),
    maintenance: boolean('maintenance').notNull().default(false),
    maintenanceReason: text('maintenance_reason'),
    lastError: text('last_error'),
    /** Consecutive power-state reads that failed (the sync puts the node in maintenance at N). */
    syncFailures: integer('sync_failures').notNull().default(0),
    /** A sync round holds the node until then, so one process reads it at a time. */
    syncLeaseUntil: timestamp('sync_lease_until', { withTimezone: true }),
    lastSyncedAt: timestamp('last_synced_at', { withTimezone: true }),
    /** The operation working on the node (Ironic's reservation); one at a time. */
    reservation: uuid('reservation'),
    /** The server that claimed the node (compute integration); no FK, the server may go first. */
    instanceId: uuid('instance_id'),
    instanceInfo: jsonb('instance_info').$type<NodeInstanceInfo>(),
    /** The deploy step the deployer reported last, and what the deployed system reported. */
    deployStep: text('deploy_step'),
    deployReport: text('deploy_report'),
    ...lifecycleDates,
  },
  (t) => [
    uniqueIndex('baremetal_nodes_name_key').on(sql`lower(${t.name})`),
    index('baremetal_nodes_state_idx').on(t.provisionState, t.resourceClass),
    uniqueIndex('baremetal_nodes_instance_key').on(t.instanceId),
  ],
);

/** An Ironic port: one NIC of a node by MAC, bound to a Stratus port when on a network. */
export const baremetalPorts = pgTable(
  'baremetal_ports',
  {
    id: idColumn(),
    nodeId: uuid('node_id')
      .notNull()
      .references(() => baremetalNodes.id, { onDelete: 'cascade' }),
    macAddress: text('mac_address').notNull(),
    networkId: uuid('network_id').references(() => networks.id, { onDelete: 'set null' }),
    portId: uuid('port_id').references(() => ports.id, { onDelete: 'set null' }),
    /** The NIC's place on the node (input order). */
    position: integer('position').notNull(),
    ...lifecycleDates,
  },
  (t) => [
    uniqueIndex('baremetal_ports_mac_key').on(t.macAddress),
    index('baremetal_ports_node_idx').on(t.nodeId, t.position),
  ],
);
