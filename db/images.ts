import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, lifecycleDates } from './columns';
import { projects } from './identity';

export const imageStatusEnum = pgEnum('image_status', [
  'queued',
  'saving',
  'active',
  'killed',
  'deleted',
  'deactivated',
]);
export const imageVisibilityEnum = pgEnum('image_visibility', [
  'private',
  'shared',
  'community',
  'public',
]);
export const diskFormatEnum = pgEnum('disk_format', ['raw', 'qcow2', 'iso', 'aki', 'ari', 'ami']);
export const containerFormatEnum = pgEnum('container_format', ['bare', 'aki', 'ari', 'ami']);
export const imageMemberStatusEnum = pgEnum('image_member_status', [
  'pending',
  'accepted',
  'rejected',
]);

/** A Glance image: metadata here, bytes in the objects driver under `storage_key` once active. */
export const images = pgTable(
  'images',
  {
    id: idColumn(),
    ownerProjectId: uuid('owner_project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    status: imageStatusEnum('status').notNull().default('queued'),
    visibility: imageVisibilityEnum('visibility').notNull().default('shared'),
    diskFormat: diskFormatEnum('disk_format').notNull(),
    containerFormat: containerFormatEnum('container_format').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }),
    virtualSizeBytes: bigint('virtual_size_bytes', { mode: 'number' }),
    /** MD5, Glance's legacy `checksum`. */
    checksum: text('checksum'),
    osHashAlgo: text('os_hash_algo'),
    osHashValue: text('os_hash_value'),
    minDiskGib: integer('min_disk_gib').notNull().default(0),
    minRamMib: integer('min_ram_mib').notNull().default(0),
    protected: boolean('protected').notNull().default(false),
    tags: jsonb('tags').$type<string[]>().notNull().default([]),
    properties: jsonb('properties').$type<Record<string, string>>().notNull().default({}),
    storageKey: text('storage_key'),
    /** Why the last upload failed, when status is killed. */
    failureReason: text('failure_reason'),
    ...lifecycleDates,
  },
  (t) => [
    index('images_owner_idx').on(t.ownerProjectId),
    index('images_visibility_idx').on(t.visibility),
  ],
);

/** Projects an image is shared with, and whether they accepted it. */
export const imageMembers = pgTable(
  'image_members',
  {
    imageId: uuid('image_id')
      .notNull()
      .references(() => images.id, { onDelete: 'cascade' }),
    memberProjectId: uuid('member_project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    status: imageMemberStatusEnum('status').notNull().default('pending'),
    ...lifecycleDates,
  },
  (t) => [primaryKey({ columns: [t.imageId, t.memberProjectId] })],
);
