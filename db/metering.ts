import {
  bigint,
  doublePrecision,
  index,
  integer,
  pgTable,
  primaryKey,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/**
 * Metering (Gnocchi's storage in PostgreSQL). A series is one meter of one resource; samples
 * and rollup buckets point at it by a small integer so the hot tables stay narrow. No foreign
 * keys to servers/volumes: a deleted resource's history stays until retention removes it.
 */
export const meteringSeries = pgTable(
  'metering_series',
  {
    id: serial('id').primaryKey(),
    meter: text('meter').notNull(),
    resourceType: text('resource_type').notNull(),
    resourceId: text('resource_id').notNull(),
    /** Owner, for tenant isolation; null for admin-only resources. */
    projectId: uuid('project_id'),
    policy: text('policy').notNull().default('default'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('metering_series_key').on(t.meter, t.resourceType, t.resourceId),
    index('metering_series_resource').on(t.resourceType, t.resourceId),
    index('metering_series_project').on(t.projectId, t.meter),
  ],
);

/** Raw samples, kept for the policy's raw timespan (p95 and the finest reads use them). */
export const meteringSamples = pgTable(
  'metering_samples',
  {
    seriesId: integer('series_id').notNull(),
    ts: timestamp('ts', { withTimezone: true }).notNull(),
    value: doublePrecision('value').notNull(),
  },
  (t) => [
    index('metering_samples_series_ts').on(t.seriesId, t.ts),
    // Retention deletes by age across every series; samples arrive in time order, so BRIN fits.
    index('metering_samples_ts_brin').using('brin', t.ts),
  ],
);

/**
 * Rollup buckets, merged as samples arrive (INSERT ... ON CONFLICT DO UPDATE). first/last keep
 * their timestamps so a later batch carrying older samples still merges right, and `rate`
 * reads consecutive `last` values.
 */
export const meteringRollups = pgTable(
  'metering_rollups',
  {
    seriesId: integer('series_id').notNull(),
    granularity: integer('granularity').notNull(),
    bucket: timestamp('bucket', { withTimezone: true }).notNull(),
    count: bigint('count', { mode: 'number' }).notNull(),
    sum: doublePrecision('sum').notNull(),
    min: doublePrecision('min').notNull(),
    max: doublePrecision('max').notNull(),
    first: doublePrecision('first').notNull(),
    firstTs: timestamp('first_ts', { withTimezone: true }).notNull(),
    last: doublePrecision('last').notNull(),
    lastTs: timestamp('last_ts', { withTimezone: true }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.seriesId, t.granularity, t.bucket] }),
    index('metering_rollups_bucket_brin').using('brin', t.bucket),
  ],
);

/** A poll that could not read a resource: a gap with its reason, never a silent hole. */
export const meteringGaps = pgTable(
  'metering_gaps',
  {
    seriesId: integer('series_id').notNull(),
    ts: timestamp('ts', { withTimezone: true }).notNull(),
    reason: text('reason').notNull(),
  },
  (t) => [index('metering_gaps_series_ts').on(t.seriesId, t.ts)],
);
