import { bigint, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core';
import { projects } from './identity';

/** Per-project overrides of the configured default limits. */
export const quotaLimits = pgTable(
  'quota_limits',
  {
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    resource: text('resource').notNull(),
    hardLimit: bigint('hard_limit', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.resource] })],
);

/** What each project holds now; rows are locked while a reservation is checked. */
export const quotaUsage = pgTable(
  'quota_usage',
  {
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    resource: text('resource').notNull(),
    inUse: bigint('in_use', { mode: 'number' }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.resource] })],
);
