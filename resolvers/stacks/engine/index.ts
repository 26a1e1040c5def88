import type { Runtime, ServiceContext } from '../../runtime';
import { setEngineBaseUrl } from './context';
import { outputsOf } from './outputs';
import { plan } from './plan';
import { resume } from './resume';
import { signal } from './signal';
import { createStack, deleteStack, updateStack } from './start';
import type {
  StackOutputValue,
  StackPlan,
  StackRequest,
  StackRow,
  StackUpdateRequest,
} from './types';

/**
 * The stacks engine's public API (Heat's engine): H2's resolvers authorize, then call these.
 * Every call validates fully before writing (a bad request writes nothing); the work itself
 * runs on the job queue (workers/tasks/stacks.ts), one job per resource step, and every
 * state change is a stack_events row plus a published event (kind STACK_<ACTION>_<STATUS>
 * or STACK_RESOURCE_<ACTION>_<STATUS>, resourceType 'stack', resourceId the stack id).
 */
export type {
  PlanAction,
  StackOutputValue,
  StackPlan,
  StackPlanResource,
  StackRequest,
  StackResourceRow,
  StackRow,
  StackUpdateRequest,
} from './types';

/**
 * Validates the template (types, properties, parameters, each plugin's validate against the
 * live system) and starts creating: the row is CREATE_IN_PROGRESS when this returns.
 * Typed errors: InvalidInputError/TemplateError naming the path, NameTakenError (input.name).
 */
export function startStackCreate(ctx: ServiceContext, req: StackRequest): Promise<StackRow> {
  return createStack(ctx, req);
}

/**
 * Diffs against the stack's definition and starts updating (UPDATE_IN_PROGRESS). A stack
 * IN_PROGRESS: ConflictError; an immutable property change: InvalidInputError.
 */
export function startStackUpdate(
  ctx: ServiceContext,
  stackId: string,
  req: StackUpdateRequest,
): Promise<StackRow> {
  return updateStack(ctx, stackId, req);
}

/** Starts deleting (DELETE_IN_PROGRESS); the row disappears at DELETE_COMPLETE. */
export function startStackDelete(ctx: ServiceContext, stackId: string): Promise<StackRow> {
  return deleteStack(ctx, stackId);
}

/**
 * What a create (no stackId) or an update (stackId) would do, without writing anything;
 * problems are collected in `errors` instead of thrown.
 */
export function planStack(
  ctx: ServiceContext,
  req: StackRequest | StackUpdateRequest,
  stackId?: string,
): Promise<StackPlan> {
  return plan(ctx, req, stackId);
}

/** The stack's outputs, evaluated now against its resources. */
export function stackOutputs(
  ctx: ServiceContext,
  stack: StackRow,
): Promise<Record<string, StackOutputValue>> {
  return outputsOf(ctx, stack);
}

/** Passes a signal to the resource's plugin (WaitConditionHandle, ScalingPolicy). */
export function signalResource(
  ctx: ServiceContext,
  stackId: string,
  resourceName: string,
  details: unknown,
): Promise<void> {
  return signal(ctx, stackId, resourceName, details);
}

/**
 * At start (after the worker runs): every IN_PROGRESS stack continues where it stopped;
 * returns how many. `baseUrl` is where clients reach this Stratus (signal URLs).
 */
export function resumeStacks(rt: Runtime, baseUrl?: string): Promise<number> {
  if (baseUrl) setEngineBaseUrl(rt, baseUrl);
  return resume(rt);
}
