import type { stackResources, stacks } from '../../../db/stacks';

/** A stacks row as the engine returns it. */
export type StackRow = typeof stacks.$inferSelect;
export type StackResourceRow = typeof stackResources.$inferSelect;

/** What createStack (and previewStack without a stack) asks for. */
export interface StackRequest {
  name: string;
  template: string;
  files?: Record<string, string>;
  /** YAML/JSON text or an already parsed object. */
  environment?: unknown;
  parameters?: Record<string, unknown>;
  disableRollback?: boolean;
  timeoutMinutes?: number | null;
  tags?: string[];
}

/** What updateStack asks for; an absent field keeps the stack's current one (Heat's PATCH). */
export interface StackUpdateRequest {
  /** Absent: keep the current template. */
  template?: string;
  files?: Record<string, string>;
  environment?: unknown;
  parameters?: Record<string, unknown>;
  /** Heat's PATCH: keep the old values of parameters not given. */
  existingParameters?: boolean;
  disableRollback?: boolean;
  timeoutMinutes?: number | null;
  tags?: string[];
}

export type PlanAction = 'CREATE' | 'UPDATE' | 'REPLACE' | 'DELETE' | 'UNCHANGED';

export interface StackPlanResource {
  name: string;
  type: string;
  action: PlanAction;
  changedProperties: string[];
  reason: string | null;
}

export interface StackPlan {
  resources: StackPlanResource[];
  quota: Array<{ projectId: string; resource: string; amount: number }>;
  errors: Array<{ path: string; message: string }>;
}

export type StackOutputValue = { value: unknown } | { error: string };
