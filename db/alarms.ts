import {
  bigserial,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, lifecycleDates } from './columns';

/** Aodh's alarm states, spelled as Aodh spells them. */
export type AlarmState = 'ok' | 'alarm' | 'insufficient data';

/** Webhook URLs to call on entering each state. */
export interface AlarmActions {
  alarm: string[];
  ok: string[];
  insufficientData: string[];
}

/**
 * Threshold alarms (Aodh's gnocchi_aggregation_by_resources_threshold): one meter over one or
 * several resources. `nextEvaluationAt` is durable so an evaluation missed while no Stratus
 * ran is done when one starts; the evaluator takes due rows with SKIP LOCKED.
 */
export const alarms = pgTable(
  'alarms',
  {
    id: idColumn(),
    projectId: uuid('project_id').notNull(),
    userId: uuid('user_id'),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    meter: text('meter').notNull(),
    resourceType: text('resource_type').notNull(),
    resourceIds: jsonb('resource_ids').$type<string[]>().notNull(),
    comparison: text('comparison').notNull(),
    threshold: doublePrecision('threshold').notNull(),
    aggregation: text('aggregation').notNull(),
    granularity: integer('granularity').notNull(),
    evaluationPeriods: integer('evaluation_periods').notNull(),
    actions: jsonb('actions').$type<AlarmActions>().notNull(),
    repeatActions: boolean('repeat_actions').notNull().default(false),
    enabled: boolean('enabled').notNull().default(true),
    state: text('state').$type<AlarmState>().notNull().default('insufficient data'),
    stateReason: text('state_reason').notNull().default('Not evaluated yet'),
    stateChangedAt: timestamp('state_changed_at', { withTimezone: true }).notNull().defaultNow(),
    lastEvaluatedAt: timestamp('last_evaluated_at', { withTimezone: true }),
    nextEvaluationAt: timestamp('next_evaluation_at', { withTimezone: true })
      .notNull()
      .defaultNow(),
    ...lifecycleDates,
  },
  (t) => [
    index('alarms_project_idx').on(t.projectId, t.createdAt),
    index('alarms_due_idx').on(t.nextEvaluationAt),
  ],
);

/** Aodh's alarm history: creation, rule changes and state transitions with their values. */
export const alarmHistory = pgTable(
  'alarm_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    alarmId: uuid('alarm_id')
      .notNull()
      .references(() => alarms.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id').notNull(),
    /** creation | rule change | state transition */
    type: text('type').notNull(),
    previousState: text('previous_state').$type<AlarmState>(),
    state: text('state').$type<AlarmState>().notNull(),
    reason: text('reason').notNull(),
    /** The aggregated points the evaluation looked at, oldest first. */
    values: jsonb('values').$type<number[]>().notNull().default([]),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('alarm_history_alarm_idx').on(t.alarmId, t.id)],
);
