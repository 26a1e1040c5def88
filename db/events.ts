import { bigserial, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * Durable event log. `id` is the cursor clients resume from; publishers take one advisory
 * lock so ids commit in order (see resolvers/events.ts).
 */
export const events = pgTable(
  'events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    kind: text('kind').notNull(),
    /** Who may see it: events with a project are visible to that project; without, only to admins. */
    projectId: uuid('project_id'),
    resourceType: text('resource_type').notNull(),
    resourceId: text('resource_id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('events_created_idx').on(t.createdAt),
    index('events_project_idx').on(t.projectId, t.id),
  ],
);
