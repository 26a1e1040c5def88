import {
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, lifecycleDates } from './columns';

/** Heat's actions and statuses; a stack's or resource's state is `${action}_${status}`. */
export type StackAction =
  | 'INIT'
  | 'CREATE'
  | 'UPDATE'
  | 'DELETE'
  | 'ROLLBACK'
  | 'SUSPEND'
  | 'RESUME'
  | 'CHECK';
export type StackStatus = 'IN_PROGRESS' | 'COMPLETE' | 'FAILED';

/** What a stack was asked to be: kept so an update can diff against it and a restart can resume. */
export interface StackDefinition {
  template: string;
  files: Record<string, string>;
  environment: unknown;
  parameters: Record<string, unknown>;
}

/**
 * Heat stacks. `definition` is the template in force; during an update `previousDefinition`
 * is what a rollback returns to. The owner's identity (Heat's trust) lets the engine act for
 * them from a job: `ownerUserId` with `ownerRoles` on `projectId`.
 */
export const stacks = pgTable(
  'stacks',
  {
    id: idColumn(),
    projectId: uuid('project_id').notNull(),
    ownerUserId: uuid('owner_user_id').notNull(),
    ownerRoles: jsonb('owner_roles').$type<string[]>().notNull(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    action: text('action').$type<StackAction>().notNull().default('INIT'),
    status: text('status').$type<StackStatus>().notNull().default('COMPLETE'),
    statusReason: text('status_reason').notNull().default(''),
    definition: jsonb('definition').$type<StackDefinition>().notNull(),
    previousDefinition: jsonb('previous_definition').$type<StackDefinition>(),
    disableRollback: boolean('disable_rollback').notNull().default(false),
    timeoutMinutes: integer('timeout_minutes'),
    tags: jsonb('tags').$type<string[]>().notNull().default([]),
    /** The resource of the parent stack this stack implements (nested stacks). */
    parentStackId: uuid('parent_stack_id'),
    parentResourceName: text('parent_resource_name'),
    /** Bumped by every new action, so jobs of a superseded action stop. */
    generation: integer('generation').notNull().default(0),
    ...lifecycleDates,
  },
  (t) => [
    // Names are unique per project, as Heat enforces; a deleted stack's row is gone.
    uniqueIndex('stacks_project_name_idx').on(t.projectId, t.name),
    index('stacks_project_idx').on(t.projectId, t.createdAt),
    index('stacks_parent_idx').on(t.parentStackId),
  ],
);

/** A resource of a stack: its template name, type, state and physical resource. */
export const stackResources = pgTable(
  'stack_resources',
  {
    id: idColumn(),
    stackId: uuid('stack_id')
      .notNull()
      .references(() => stacks.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    type: text('type').notNull(),
    action: text('action').$type<StackAction>().notNull().default('INIT'),
    status: text('status').$type<StackStatus>().notNull().default('COMPLETE'),
    statusReason: text('status_reason').notNull().default(''),
    physicalId: text('physical_id'),
    /** The GraphQL type of the physical resource (Server, Network, ...), for the graph edge. */
    physicalType: text('physical_type'),
    physicalName: text('physical_name').notNull(),
    /** Resolved properties it was created or last updated with. */
    properties: jsonb('properties').$type<Record<string, unknown>>().notNull().default({}),
    /** The plugin's own data (Heat's resource_data). */
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    /** Names of the resources it needs (for delete order and the graph). */
    requires: jsonb('requires').$type<string[]>().notNull().default([]),
    /** During an update: the replaced resource kept until the new one is complete. */
    replacedBy: uuid('replaced_by'),
    ...lifecycleDates,
  },
  (t) => [
    // During a replacement the old and the new row share the name.
    index('stack_resources_stack_idx').on(t.stackId, t.name),
    index('stack_resources_physical_idx').on(t.physicalType, t.physicalId),
  ],
);

/** Heat's events: one per resource (or stack) state change, listable and streamed. */
export const stackEvents = pgTable(
  'stack_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    stackId: uuid('stack_id')
      .notNull()
      .references(() => stacks.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id').notNull(),
    /** The resource's template name, or the stack's name for stack-level events. */
    resourceName: text('resource_name').notNull(),
    resourceType: text('resource_type').notNull(),
    physicalId: text('physical_id'),
    action: text('action').$type<StackAction>().notNull(),
    status: text('status').$type<StackStatus>().notNull(),
    statusReason: text('status_reason').notNull().default(''),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('stack_events_stack_idx').on(t.stackId, t.id)],
);
