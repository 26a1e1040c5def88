import { index, integer, jsonb, pgEnum, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { idColumn, lifecycleDates } from './columns';

export const operationStatusEnum = pgEnum('operation_status', [
  'PENDING',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
]);

export interface OperationStage {
  name: string;
  status: 'PENDING' | 'RUNNING' | 'DONE' | 'FAILED';
  startedAt: string | null;
  finishedAt: string | null;
}

/** Slow work a mutation started: what it is, how far it got, and how it ended. */
export const operations = pgTable(
  'operations',
  {
    id: idColumn(),
    kind: text('kind').notNull(),
    projectId: uuid('project_id'),
    createdByUserId: uuid('created_by_user_id'),
    resourceType: text('resource_type'),
    resourceId: text('resource_id'),
    status: operationStatusEnum('status').notNull().default('PENDING'),
    stages: jsonb('stages').$type<OperationStage[]>().notNull(),
    progressPercent: integer('progress_percent').notNull().default(0),
    input: jsonb('input').$type<Record<string, unknown>>().notNull().default({}),
    result: jsonb('result').$type<Record<string, unknown>>(),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    ...lifecycleDates,
  },
  (t) => [index('operations_project_idx').on(t.projectId, t.createdAt)],
);
