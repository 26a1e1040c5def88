import { and, eq } from 'drizzle-orm';
import { stacks } from '../../../db/stacks';
import { authorize } from '../../authorize';
import { NameTakenError, NotFoundError } from '../../errors';
import { scopedProjectId } from '../../identity/auth-context';
import type { ServiceContext } from '../../runtime';
import { uniqueViolation } from '../../validation';
import {
  planStack,
  signalResource,
  startStackCreate,
  startStackDelete,
  startStackUpdate,
} from '../engine/index';
import type { StackPlan, StackRow } from '../engine/types';
import { stackRequest, stackUpdateRequest } from './requests';
import { stackResourceByName } from './resources';
import { requireStack } from './stacks';

/**
 * The stack mutations: authorize, check the input's shape, check the stack is the caller's
 * (another project's is NOT_FOUND), then hand over to the engine, which validates the
 * template fully before writing anything.
 */

async function checkNameFree(ctx: ServiceContext, name: string): Promise<void> {
  const project = scopedProjectId(ctx.auth);
  if (!project) return;
  const [taken] = await ctx.rt.db
    .select({ id: stacks.id })
    .from(stacks)
    .where(and(eq(stacks.projectId, project), eq(stacks.name, name)));
  if (taken) throw new NameTakenError('stack', name, ' in this project');
}

/** A unique violation on the stack name (a concurrent create won the race) as NameTakenError. */
function nameRace(error: unknown, name: string): never {
  if (uniqueViolation(error) === 'stacks_project_name_idx')
    throw new NameTakenError('stack', name, ' in this project');
  throw error;
}

export async function createStack(
  ctx: ServiceContext,
  input: Record<string, unknown>,
): Promise<StackRow> {
  authorize(ctx, 'stack:create');
  const request = stackRequest(input);
  await checkNameFree(ctx, request.name);
  return startStackCreate(ctx, request).catch((e) => nameRace(e, request.name));
}

export async function updateStack(
  ctx: ServiceContext,
  id: string,
  input: Record<string, unknown>,
): Promise<StackRow> {
  authorize(ctx, 'stack:update');
  const request = stackUpdateRequest(input);
  await requireStack(ctx, id);
  return startStackUpdate(ctx, id, request);
}

export async function deleteStack(ctx: ServiceContext, id: string): Promise<StackRow> {
  authorize(ctx, 'stack:delete');
  await requireStack(ctx, id);
  return startStackDelete(ctx, id);
}

export async function previewStack(
  ctx: ServiceContext,
  input: Record<string, unknown>,
): Promise<StackPlan> {
  authorize(ctx, 'stack:preview');
  const request = stackRequest(input);
  await checkNameFree(ctx, request.name);
  return planStack(ctx, request);
}

export async function previewStackUpdate(
  ctx: ServiceContext,
  id: string,
  input: Record<string, unknown>,
): Promise<StackPlan> {
  authorize(ctx, 'stack:preview');
  const request = stackUpdateRequest(input);
  await requireStack(ctx, id);
  return planStack(ctx, request, id);
}

/** Signals a resource (WaitConditionHandle, ScalingPolicy) with `data`; returns its stack. */
export async function signalStackResource(
  ctx: ServiceContext,
  input: { stackId: string; resourceName: string; data?: unknown },
): Promise<StackRow> {
  authorize(ctx, 'stack:signal');
  const stack = await requireStack(ctx, input.stackId);
  const resource = await stackResourceByName(ctx, stack, input.resourceName);
  if (!resource) throw new NotFoundError('stack resource', input.resourceName);
  await signalResource(ctx, stack.id, input.resourceName, input.data ?? null);
  return requireStack(ctx, stack.id);
}
