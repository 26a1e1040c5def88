import { StratusError } from '../../errors';
import type { Runtime, ServiceContext } from '../../runtime';
import type {
  StackOutputValue,
  StackPlan,
  StackRequest,
  StackRow,
  StackUpdateRequest,
} from './types';

/**
 * The stacks engine's public API (Heat's engine): H2's resolvers authorize, then call these.
 * Every call validates fully before writing; the work itself runs on the job queue.
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

class NotImplementedError extends StratusError {
  constructor(what: string) {
    super('FEATURE_DISABLED', `${what} is not implemented yet`);
  }
}

/** Validates the template and starts creating: the row is CREATE_IN_PROGRESS when this returns. */
export async function startStackCreate(
  _ctx: ServiceContext,
  _req: StackRequest,
): Promise<StackRow> {
  throw new NotImplementedError('startStackCreate');
}

/** Diffs against the stack's definition and starts updating (UPDATE_IN_PROGRESS). */
export async function startStackUpdate(
  _ctx: ServiceContext,
  _stackId: string,
  _req: StackUpdateRequest,
): Promise<StackRow> {
  throw new NotImplementedError('startStackUpdate');
}

/** Starts deleting (DELETE_IN_PROGRESS); the row disappears at DELETE_COMPLETE. */
export async function startStackDelete(_ctx: ServiceContext, _stackId: string): Promise<StackRow> {
  throw new NotImplementedError('startStackDelete');
}

/** What a create (no stackId) or an update (stackId) would do, without writing anything. */
export async function planStack(
  _ctx: ServiceContext,
  _req: StackRequest | StackUpdateRequest,
  _stackId?: string,
): Promise<StackPlan> {
  throw new NotImplementedError('planStack');
}

/** The stack's outputs, evaluated now against its resources. */
export async function stackOutputs(
  _ctx: ServiceContext,
  _stack: StackRow,
): Promise<Record<string, StackOutputValue>> {
  throw new NotImplementedError('stackOutputs');
}

/** Passes a signal to the resource's plugin (WaitConditionHandle, ScalingPolicy). */
export async function signalResource(
  _ctx: ServiceContext,
  _stackId: string,
  _resourceName: string,
  _details: unknown,
): Promise<void> {
  throw new NotImplementedError('signalResource');
}

/** At start: re-queues the unfinished work of every IN_PROGRESS stack; returns how many. */
export async function resumeStacks(_rt: Runtime): Promise<number> {
  throw new NotImplementedError('resumeStacks');
}
