import { bigint, bigserial, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * The audit log (Ceilometer's events): every published event once more, with who caused it
 * and from which request, plus one row per mutation that published nothing (a refused one).
 * Kept apart from `events` because its retention is an operator's choice in days, while the
 * event stream is pruned for subscribers.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** The event's cursor; null for a mutation record without an event. */
    eventId: bigint('event_id', { mode: 'number' }),
    kind: text('kind').notNull(),
    projectId: uuid('project_id'),
    resourceType: text('resource_type').notNull(),
    resourceId: text('resource_id').notNull(),
    /** The user's id, or `system` for work no user started (pollers, evaluators). */
    userId: text('user_id').notNull(),
    /** The caller's token scope project, when it differs from the resource's. */
    userProjectId: uuid('user_project_id'),
    requestId: text('request_id'),
    /** The mutation that caused it, e.g. `createVolume`. */
    operation: text('operation'),
    /** The mutation's payload typename, or its error code; null until it finished, or for jobs. */
    result: text('result'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('audit_events_created_idx').on(t.createdAt),
    index('audit_events_project_idx').on(t.projectId, t.id),
    index('audit_events_request_idx').on(t.requestId),
    index('audit_events_resource_idx').on(t.resourceType, t.resourceId),
  ],
);
