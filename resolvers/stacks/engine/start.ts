import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { stackResources, stacks } from '../../../db/stacks';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NameTakenError,
  NotFoundError,
  QuotaExceededError,
} from '../../errors';
import { inTransaction, type ServiceContext } from '../../runtime';
import { parseDefinition } from './context';
import { applyDefinition, newRow } from './diff';
import { markOf, withMark } from './marks';
import { planUpdate } from './plan';
import { advance, lockStack, setStackState } from './scheduler';
import type { StackRequest, StackRow, StackUpdateRequest } from './types';
import { checkResources, type ProblemAt } from './validate';

const NAME = /^[a-zA-Z][a-zA-Z0-9_.-]{0,254}$/;

/** The stack a nested stack implements: its parent's resource. */
export interface ParentRef {
  stackId: string;
  resourceName: string;
}

function projectOf(ctx: ServiceContext): { projectId: string; userId: string; roles: string[] } {
  const auth = ctx.auth;
  if (auth?.scope.kind !== 'project')
    throw new ForbiddenError('a stack belongs to a project: use a project-scoped token');
  return { projectId: auth.scope.projectId, userId: auth.userId, roles: [...auth.roles] };
}

type Definition = StackRow['definition'];

/** The first problem as a typed error naming its path. */
function firstProblem(problems: ProblemAt[]): void {
  if (problems.length === 0) return;
  const p = problems[0];
  // The owner may not do it at all, or over quota: the domain's own error, not a template one.
  if (p.error instanceof ForbiddenError || p.error instanceof QuotaExceededError) throw p.error;
  throw new InvalidInputError(p.path || 'input.template', p.message);
}

function checkTimeout(timeout: number | null | undefined): void {
  if (timeout !== undefined && timeout !== null && (!Number.isInteger(timeout) || timeout < 1))
    throw new InvalidInputError(
      'input.timeoutMinutes',
      'timeoutMinutes must be a positive integer',
    );
}

/** Parses and validates a create request; nothing is written. */
export async function prepareCreate(ctx: ServiceContext, req: StackRequest, id: string) {
  const owner = projectOf(ctx);
  if (!NAME.test(req.name))
    throw new InvalidInputError(
      'input.name',
      'a stack name starts with a letter and holds only letters, digits, _ . - (at most 255)',
    );
  checkTimeout(req.timeoutMinutes);
  const definition: Definition = {
    template: req.template,
    files: req.files ?? {},
    environment: req.environment ?? null,
    parameters: req.parameters ?? {},
  };
  const stub = { id, name: req.name, projectId: owner.projectId };
  const template = await parseDefinition(ctx, definition, stub);
  const stackLike = {
    ...stub,
    ownerUserId: owner.userId,
    definition,
  } as StackRow;
  return { owner, definition, template, stackLike };
}

export async function createStack(
  ctx: ServiceContext,
  req: StackRequest,
  parent: ParentRef | null = null,
): Promise<StackRow> {
  const id = randomUUID();
  const { owner, definition, template, stackLike } = await prepareCreate(ctx, req, id);
  const checked = await checkResources(ctx, stackLike, template);
  firstProblem(checked.problems);
  return inTransaction(ctx.rt, async (tx) => {
    const [taken] = await tx
      .select({ id: stacks.id })
      .from(stacks)
      .where(and(eq(stacks.projectId, owner.projectId), eq(stacks.name, req.name)));
    if (taken) throw new NameTakenError('stack', req.name, ' in this project');
    const [row] = await tx
      .insert(stacks)
      .values({
        id,
        projectId: owner.projectId,
        ownerUserId: owner.userId,
        ownerRoles: owner.roles,
        name: req.name,
        description: template.description,
        action: 'CREATE',
        status: 'IN_PROGRESS',
        statusReason: 'Stack CREATE started',
        definition,
        disableRollback: req.disableRollback ?? false,
        timeoutMinutes: req.timeoutMinutes ?? null,
        tags: req.tags ?? [],
        parentStackId: parent?.stackId ?? null,
        parentResourceName: parent?.resourceName ?? null,
        generation: 1,
      })
      .returning();
    const rows = template.graph.order.map((name) => {
      const res = template.resources[name];
      return newRow(row, name, res.mappedType, res.requires, res.deletionPolicy === 'Retain');
    });
    if (rows.length > 0) await tx.insert(stackResources).values(rows);
    const started = await setStackState(tx, row, 'CREATE', 'IN_PROGRESS', 'Stack CREATE started');
    await advance(tx, started);
    return started;
  });
}

/** Starts deleting: every resource, dependants first; a DELETE_FAILED stack is retried. */
export async function deleteStack(ctx: ServiceContext, stackId: string): Promise<StackRow> {
  return inTransaction(ctx.rt, async (tx) => {
    const stack = await lockStack(tx, stackId);
    if (!stack) throw new NotFoundError('Stack', stackId);
    if (stack.action === 'DELETE' && stack.status === 'IN_PROGRESS') return stack;
    const generation = stack.generation + 1;
    const rows = await tx.select().from(stackResources).where(eq(stackResources.stackId, stackId));
    for (const r of rows) {
      await tx
        .update(stackResources)
        .set({ data: withMark(r.data, { pending: 'DELETE' }, markOf(r)) })
        .where(eq(stackResources.id, r.id));
    }
    const started = await setStackState(
      tx,
      stack,
      'DELETE',
      'IN_PROGRESS',
      'Stack DELETE started',
      { generation },
    );
    await advance(tx, started);
    return started;
  });
}

/** The definition an update asks for: absent parts keep the stack's (Heat's PATCH). */
export function mergedDefinition(stack: StackRow, req: StackUpdateRequest): Definition {
  const old = stack.definition;
  const keepParams = req.existingParameters || req.template === undefined;
  return {
    template: req.template ?? old.template,
    files: req.files ?? old.files,
    environment: req.environment ?? old.environment,
    parameters: keepParams
      ? { ...old.parameters, ...(req.parameters ?? {}) }
      : (req.parameters ?? {}),
  };
}

export function conflictIfBusy(stack: StackRow): void {
  if (stack.status === 'IN_PROGRESS')
    throw new ConflictError(
      `the stack ${stack.name} is ${stack.action}_IN_PROGRESS: wait until it finishes`,
    );
}

export async function loadStack(ctx: ServiceContext, stackId: string): Promise<StackRow> {
  const stack = await ctx.rt.db.query.stacks.findFirst({ where: (s, o) => o.eq(s.id, stackId) });
  if (!stack) throw new NotFoundError('Stack', stackId);
  return stack;
}

/** Starts an update: validated and diffed first; the work runs on the job queue. */
export async function updateStack(
  ctx: ServiceContext,
  stackId: string,
  req: StackUpdateRequest,
): Promise<StackRow> {
  const stack = await loadStack(ctx, stackId);
  conflictIfBusy(stack);
  checkTimeout(req.timeoutMinutes);
  const definition = mergedDefinition(stack, req);
  const template = await parseDefinition(ctx, definition, stack);
  // The plan finds bad properties and immutable changes before anything is written.
  const plan = await planUpdate(ctx, stack, template);
  firstProblem(plan.errors);
  return inTransaction(ctx.rt, async (tx) => {
    const locked = await lockStack(tx, stackId);
    if (!locked) throw new NotFoundError('Stack', stackId);
    conflictIfBusy(locked);
    const generation = locked.generation + 1;
    const rows = await tx.select().from(stackResources).where(eq(stackResources.stackId, stackId));
    await applyDefinition(tx, { ...locked, generation }, template, rows, false);
    const started = await setStackState(
      tx,
      locked,
      'UPDATE',
      'IN_PROGRESS',
      'Stack UPDATE started',
      {
        generation,
        definition,
        previousDefinition: locked.definition,
        description: template.description,
        ...(req.disableRollback !== undefined ? { disableRollback: req.disableRollback } : {}),
        ...(req.timeoutMinutes !== undefined ? { timeoutMinutes: req.timeoutMinutes } : {}),
        ...(req.tags !== undefined ? { tags: req.tags } : {}),
      },
    );
    await advance(tx, started);
    return started;
  });
}
