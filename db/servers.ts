import {
  boolean,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, lifecycleDates } from './columns';
import { projects, users } from './identity';

/** Nova's vm_state: where a server is at rest. The API `status` is derived from it and task_state. */
export const vmStateEnum = pgEnum('vm_state', [
  'building',
  'active',
  'stopped',
  'paused',
  'suspended',
  'resized',
  'error',
  'deleted',
]);

/** Nova's power_state as the hypervisor last reported it. */
export const powerStateEnum = pgEnum('power_state', [
  'nostate',
  'running',
  'paused',
  'suspended',
  'shutdown',
  'crashed',
]);

export const serverGroupPolicyEnum = pgEnum('server_group_policy', [
  'affinity',
  'anti-affinity',
  'soft-affinity',
  'soft-anti-affinity',
]);

/** One hypervisor: a Stratus process with a compute driver registers its host here at start. */
export const computeHosts = pgTable('compute_hosts', {
  id: idColumn(),
  hostname: text('hostname').notNull().unique(),
  availabilityZone: text('availability_zone').notNull().default('nova'),
  driver: text('driver').notNull(),
  accelerator: text('accelerator'),
  vcpus: integer('vcpus').notNull(),
  memoryMib: integer('memory_mib').notNull(),
  diskGib: integer('disk_gib').notNull(),
  enabled: boolean('enabled').notNull().default(true),
  lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
  ...lifecycleDates,
});

/** A Nova server group: a scheduling policy shared by its member servers. */
export const serverGroups = pgTable(
  'server_groups',
  {
    id: idColumn(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    userId: uuid('user_id'),
    name: text('name').notNull(),
    policy: serverGroupPolicyEnum('policy').notNull(),
    ...lifecycleDates,
  },
  (t) => [index('server_groups_project_idx').on(t.projectId)],
);

/** Why a server is in ERROR, as Nova's instance fault. */
export interface ServerFault {
  code: number;
  message: string;
  /** Internal detail (host-side error text): admins only. */
  details: string;
  createdAt: string;
}

/** The flavor values a server was built with (it keeps them if the flavor is deleted). */
export interface FlavorSnapshot {
  flavorId: string;
  name: string;
  vcpus: number;
  ramMib: number;
  rootDiskGib: number;
  ephemeralGib: number;
  swapMib: number;
  /** Bare metal: the flavor's `resources:CUSTOM_<CLASS>` (resolvers/compute/baremetal-servers.ts). */
  baremetalClass?: string | null;
}

/** A Nova server (instance). */
export const servers = pgTable(
  'servers',
  {
    id: idColumn(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    userId: uuid('user_id'),
    name: text('name').notNull(),
    vmState: vmStateEnum('vm_state').notNull().default('building'),
    taskState: text('task_state'),
    powerState: powerStateEnum('power_state').notNull().default('nostate'),
    /** No foreign key: images may be deleted while servers built from them live on. */
    imageId: uuid('image_id'),
    /** Kernel and ramdisk images of a direct-boot image, kept so their cached copies stay. */
    kernelImageId: uuid('kernel_image_id'),
    ramdiskImageId: uuid('ramdisk_image_id'),
    flavorId: uuid('flavor_id'),
    flavor: jsonb('flavor').$type<FlavorSnapshot>().notNull(),
    /** The flavor before a resize, kept until it is confirmed or reverted. */
    oldFlavor: jsonb('old_flavor').$type<FlavorSnapshot>(),
    keyName: text('key_name'),
    keyData: text('key_data'),
    userData: text('user_data'),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    tags: jsonb('tags').$type<string[]>().notNull().default([]),
    serverGroupId: uuid('server_group_id'),
    availabilityZone: text('availability_zone'),
    host: text('host'),
    locked: boolean('locked').notNull().default(false),
    lockedBy: text('locked_by'),
    lockedReason: text('locked_reason'),
    fault: jsonb('fault').$type<ServerFault>(),
    launchedAt: timestamp('launched_at', { withTimezone: true }),
    terminatedAt: timestamp('terminated_at', { withTimezone: true }),
    ...lifecycleDates,
  },
  (t) => [
    index('servers_project_idx').on(t.projectId, t.createdAt),
    index('servers_host_idx').on(t.host),
    index('servers_image_idx').on(t.imageId),
    index('servers_group_idx').on(t.serverGroupId),
    index('servers_updated_idx').on(t.updatedAt),
  ],
);

/** One user-visible action on a server (Nova instance action): who asked, when, and how it went. */
export const instanceActions = pgTable(
  'instance_actions',
  {
    id: idColumn(),
    serverId: uuid('server_id')
      .notNull()
      .references(() => servers.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id').notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    action: text('action').notNull(),
    requestId: text('request_id').notNull(),
    message: text('message'),
    startTime: timestamp('start_time', { withTimezone: true }).notNull().defaultNow(),
    finishTime: timestamp('finish_time', { withTimezone: true }),
  },
  (t) => [index('instance_actions_server_idx').on(t.serverId, t.startTime)],
);

/** A step of an instance action (compute_start_instance, ...) and its result. */
export const instanceActionEvents = pgTable(
  'instance_action_events',
  {
    id: idColumn(),
    actionId: uuid('action_id')
      .notNull()
      .references(() => instanceActions.id, { onDelete: 'cascade' }),
    event: text('event').notNull(),
    result: text('result'),
    /** What went wrong, host-side (admins only). */
    details: text('details'),
    startTime: timestamp('start_time', { withTimezone: true }).notNull().defaultNow(),
    finishTime: timestamp('finish_time', { withTimezone: true }),
  },
  (t) => [index('instance_action_events_action_idx').on(t.actionId)],
);
