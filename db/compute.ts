import { sql } from 'drizzle-orm';
import {
  boolean,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, lifecycleDates } from './columns';
import { projects, users } from './identity';

/** A Nova flavor: the size of a server. Servers copy its values, so a deleted flavor breaks nothing. */
export const flavors = pgTable(
  'flavors',
  {
    id: idColumn(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    vcpus: integer('vcpus').notNull(),
    ramMib: integer('ram_mib').notNull(),
    rootDiskGib: integer('root_disk_gib').notNull(),
    ephemeralGib: integer('ephemeral_gib').notNull().default(0),
    swapMib: integer('swap_mib').notNull().default(0),
    extraSpecs: jsonb('extra_specs').$type<Record<string, string>>().notNull().default({}),
    isPublic: boolean('is_public').notNull().default(true),
    ...lifecycleDates,
  },
  (t) => [uniqueIndex('flavors_name_key').on(sql`lower(${t.name})`)],
);

/** Projects that may use a private flavor. */
export const flavorAccess = pgTable(
  'flavor_access',
  {
    flavorId: uuid('flavor_id')
      .notNull()
      .references(() => flavors.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.flavorId, t.projectId] })],
);

/** An SSH public key of a user (Nova keypairs belong to users, not projects). */
export const keypairs = pgTable(
  'keypairs',
  {
    id: idColumn(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    publicKey: text('public_key').notNull(),
    fingerprint: text('fingerprint').notNull(),
    keyType: text('key_type').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('keypairs_user_name_key').on(t.userId, t.name)],
);
