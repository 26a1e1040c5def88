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
import { projects } from './identity';
import { servers } from './servers';

/** Cinder's volume status machine (`error_deleting`: a delete failed; deleting again may work). */
export const volumeStatusEnum = pgEnum('volume_status', [
  'creating',
  'available',
  'attaching',
  'in-use',
  'detaching',
  'extending',
  'deleting',
  'error',
  'error_deleting',
]);

export const volumeSnapshotStatusEnum = pgEnum('volume_snapshot_status', [
  'creating',
  'available',
  'deleting',
  'error',
]);

export const volumeAttachmentStatusEnum = pgEnum('volume_attachment_status', [
  'attaching',
  'attached',
  'detaching',
]);

/** Why a volume or snapshot is in error, or what the last action that failed said. */
export interface VolumeFault {
  code: string;
  message: string;
  createdAt: string;
}

/** A Cinder volume type: a name users pick, mapped to a backend by `volume_backend_name`. */
export const volumeTypes = pgTable(
  'volume_types',
  {
    id: idColumn(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    isPublic: boolean('is_public').notNull().default(true),
    extraSpecs: jsonb('extra_specs').$type<Record<string, string>>().notNull().default({}),
    ...lifecycleDates,
  },
  (t) => [uniqueIndex('volume_types_name_key').on(sql`lower(${t.name})`)],
);

/**
 * A Cinder volume. Rows are deleted when the backend's volume is gone (the API then answers
 * not found, as Cinder does for a deleted volume); the delete event carries the last row.
 */
export const volumes = pgTable(
  'volumes',
  {
    id: idColumn(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    userId: uuid('user_id'),
    name: text('name').notNull().default(''),
    description: text('description').notNull().default(''),
    sizeGib: integer('size_gib').notNull(),
    status: volumeStatusEnum('status').notNull().default('creating'),
    bootable: boolean('bootable').notNull().default(false),
    volumeTypeId: uuid('volume_type_id')
      .notNull()
      .references(() => volumeTypes.id),
    /** No foreign keys: the image or snapshot may be deleted while the volume lives on. */
    sourceImageId: uuid('source_image_id'),
    sourceSnapshotId: uuid('source_snapshot_id'),
    /** The Stratus process (host) whose volume driver holds the data; null until created. */
    host: text('host'),
    fault: jsonb('fault').$type<VolumeFault>(),
    ...lifecycleDates,
  },
  (t) => [
    index('volumes_project_idx').on(t.projectId, t.createdAt),
    index('volumes_host_idx').on(t.host),
    index('volumes_type_idx').on(t.volumeTypeId),
  ],
);

/** A snapshot of a volume (its size is the volume's at the time). */
export const volumeSnapshots = pgTable(
  'volume_snapshots',
  {
    id: idColumn(),
    volumeId: uuid('volume_id')
      .notNull()
      .references(() => volumes.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    userId: uuid('user_id'),
    name: text('name').notNull().default(''),
    description: text('description').notNull().default(''),
    sizeGib: integer('size_gib').notNull(),
    status: volumeSnapshotStatusEnum('status').notNull().default('creating'),
    fault: jsonb('fault').$type<VolumeFault>(),
    ...lifecycleDates,
  },
  (t) => [
    index('volume_snapshots_volume_idx').on(t.volumeId),
    index('volume_snapshots_project_idx').on(t.projectId, t.createdAt),
  ],
);

/** A volume attached (or being attached) to a server. One per volume: no multi-attach. */
export const volumeAttachments = pgTable(
  'volume_attachments',
  {
    id: idColumn(),
    volumeId: uuid('volume_id')
      .notNull()
      .references(() => volumes.id, { onDelete: 'cascade' }),
    serverId: uuid('server_id')
      .notNull()
      .references(() => servers.id, { onDelete: 'cascade' }),
    /** The guest's device name as the compute driver reported it (vdb, ...), once attached. */
    device: text('device'),
    status: volumeAttachmentStatusEnum('status').notNull().default('attaching'),
    deleteOnTermination: boolean('delete_on_termination').notNull().default(false),
    attachedAt: timestamp('attached_at', { withTimezone: true }),
    ...lifecycleDates,
  },
  (t) => [
    uniqueIndex('volume_attachments_volume_key').on(t.volumeId),
    index('volume_attachments_server_idx').on(t.serverId),
  ],
);
