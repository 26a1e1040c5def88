import { sql } from 'drizzle-orm';
import {
  bigint,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, lifecycleDates } from './columns';
import { projects } from './identity';

export const containerReadAclEnum = pgEnum('container_read_acl', ['PRIVATE', 'PUBLIC', 'PROJECTS']);

/** A Swift container: a named bucket of objects in one project, with its counters kept in step. */
export const containers = pgTable(
  'containers',
  {
    id: idColumn(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    readAcl: containerReadAclEnum('read_acl').notNull().default('PRIVATE'),
    /** Projects that may read when read_acl is PROJECTS. */
    readProjectIds: jsonb('read_project_ids').$type<string[]>().notNull().default([]),
    quotaBytes: bigint('quota_bytes', { mode: 'number' }),
    quotaObjects: bigint('quota_objects', { mode: 'number' }),
    objectCount: bigint('object_count', { mode: 'number' }).notNull().default(0),
    bytesUsed: bigint('bytes_used', { mode: 'number' }).notNull().default(0),
    ...lifecycleDates,
  },
  (t) => [uniqueIndex('containers_project_name_key').on(t.projectId, t.name)],
);

export interface ObjectSegment {
  storageKey: string;
  sizeBytes: number;
  md5Hex: string;
}

/**
 * Object metadata; the bytes live in the objects driver under `storage_key` (or, for a large
 * object, under each segment's key, in order). Names compare bytewise (COLLATE "C", set in
 * the migration) so prefix listings and their order match Swift's.
 */
export const objects = pgTable(
  'objects',
  {
    id: idColumn(),
    containerId: uuid('container_id')
      .notNull()
      .references(() => containers.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    etag: text('etag').notNull(),
    contentType: text('content_type').notNull(),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    storageKey: text('storage_key'),
    segments: jsonb('segments').$type<ObjectSegment[]>(),
    deleteAt: timestamp('delete_at', { withTimezone: true }),
    lastModified: timestamp('last_modified', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('objects_container_name_key').on(t.containerId, t.name),
    index('objects_delete_at_idx').on(t.deleteAt),
  ],
);

/** An S3-style multipart upload in progress; parts are stored as they arrive. */
export const multipartUploads = pgTable('multipart_uploads', {
  id: idColumn(),
  containerId: uuid('container_id')
    .notNull()
    .references(() => containers.id, { onDelete: 'cascade' }),
  objectName: text('object_name').notNull(),
  contentType: text('content_type').notNull(),
  metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
  createdByUserId: uuid('created_by_user_id'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const multipartParts = pgTable(
  'multipart_parts',
  {
    uploadId: uuid('upload_id')
      .notNull()
      .references(() => multipartUploads.id, { onDelete: 'cascade' }),
    partNumber: integer('part_number').notNull(),
    storageKey: text('storage_key').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    md5Hex: text('md5_hex').notNull(),
  },
  (t) => [primaryKey({ columns: [t.uploadId, t.partNumber] })],
);

/** Blobs whose rows are gone but whose bytes may remain (a crash between commit and delete). */
export const orphanBlobs = pgTable('orphan_blobs', {
  storageKey: text('storage_key').primaryKey(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
});
