import { and, eq, isNull } from 'drizzle-orm';
import { stackResources, stacks } from '../../../../db/stacks';
import { NotFoundError, StratusError } from '../../../errors';
import type { Progress, ResourceContext, ResourceState } from '../plugin';
import { findPlugin } from '../registry';
import { ResourceFailure } from './errors';

/**
 * What the nested-stack types (ResourceGroup, AutoScalingGroup, template resources,
 * OS::Heat::Stack) share: their physical ID is the child stack's id; the engine creates,
 * updates and deletes it; they poll its state and read its outputs and members.
 */

export const NESTED_VERSION = '2016-10-14';

/** Creates or updates this resource's child stack from a template (JSON is YAML). */
export function applyNested(
  ctx: ResourceContext,
  template: Record<string, unknown> | string,
  parameters: Record<string, unknown> = {},
): Promise<string> {
  return ctx.engine.applyNestedStack({
    template: typeof template === 'string' ? template : JSON.stringify(template, null, 1),
    files: ctx.files ? { ...ctx.files } : undefined,
    environment: ctx.environment,
    parameters,
  });
}

/** Done when the child stack's last action completed; its failure is this resource's. */
export async function nestedProgress(
  ctx: ResourceContext,
  state: ResourceState,
): Promise<Progress> {
  if (!state.physicalId) return { done: true };
  const { status, reason } = await ctx.engine.nestedStatus(state.physicalId);
  if (status.endsWith('_FAILED'))
    throw new ResourceFailure(`nested stack ${status}${reason ? `: ${reason}` : ''}`);
  if (status.endsWith('_COMPLETE')) return { done: true };
  return { done: false, reason: `nested stack ${status}` };
}

export async function deleteNested(ctx: ResourceContext, state: ResourceState): Promise<void> {
  if (!state.physicalId) return;
  try {
    await ctx.engine.deleteNestedStack(state.physicalId);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}

/** Gone, or DELETE_COMPLETE: done. A failed delete fails (the engine may retry it). */
export async function nestedDeleteProgress(
  ctx: ResourceContext,
  state: ResourceState,
): Promise<Progress> {
  if (!state.physicalId) return { done: true };
  let result: { status: string; reason: string | null };
  try {
    result = await ctx.engine.nestedStatus(state.physicalId);
  } catch (err) {
    if (err instanceof NotFoundError) return { done: true };
    throw err;
  }
  if (result.status === 'DELETE_COMPLETE') return { done: true };
  if (result.status === 'DELETE_FAILED')
    throw new ResourceFailure(
      `nested stack DELETE_FAILED${result.reason ? `: ${result.reason}` : ''}`,
    );
  return { done: false, reason: `nested stack ${result.status}` };
}

export async function nestedOutputs(
  ctx: ResourceContext,
  state: ResourceState,
): Promise<Record<string, unknown>> {
  if (!state.physicalId) return {};
  return ctx.engine.nestedOutputs(state.physicalId);
}

interface MemberRow {
  type: string;
  physicalId: string | null;
  physicalName: string;
  properties: Record<string, unknown>;
  data: Record<string, unknown>;
}

async function memberRow(
  ctx: ResourceContext,
  stackId: string,
  member: string,
): Promise<MemberRow | null> {
  const [row] = await ctx.svc.rt.db
    .select({
      type: stackResources.type,
      physicalId: stackResources.physicalId,
      physicalName: stackResources.physicalName,
      properties: stackResources.properties,
      data: stackResources.data,
    })
    .from(stackResources)
    .innerJoin(stacks, eq(stacks.id, stackResources.stackId))
    .where(
      and(
        eq(stackResources.stackId, stackId),
        eq(stackResources.name, member),
        eq(stacks.projectId, ctx.stack.projectId),
        isNull(stackResources.replacedBy),
      ),
    )
    .limit(1);
  return row ?? null;
}

/**
 * An attribute of a member of a child stack (`resource.<member>.<attr>`, group attributes),
 * asked of the member's own plugin; a member that is a template resource answers with its
 * child stack's outputs. `attribute` null: all its attributes, as get_attr [r] gives.
 */
export async function memberAttribute(
  ctx: ResourceContext,
  stackId: string,
  member: string,
  attribute: string | null,
): Promise<unknown> {
  const row = await memberRow(ctx, stackId, member);
  if (!row) return null;
  const plugin = findPlugin(row.type);
  if (!plugin || plugin.type === 'Stratus::TemplateResource') {
    if (!row.physicalId) return null;
    const outputs = await ctx.engine.nestedOutputs(row.physicalId);
    if (attribute === null) return outputs;
    if (attribute === 'OS::stack_id') return row.physicalId;
    return outputs[attribute] ?? null;
  }
  const memberCtx: ResourceContext = {
    ...ctx,
    stack: { ...ctx.stack, id: stackId },
    name: member,
    physicalName: row.physicalName,
    path: `resources.${member}.properties`,
  };
  const state: ResourceState = {
    physicalId: row.physicalId,
    properties: row.properties,
    data: row.data,
  };
  if (attribute !== null) return plugin.attribute(memberCtx, state, attribute);
  const all: Record<string, unknown> = {};
  for (const name of plugin.attributes) all[name] = await plugin.attribute(memberCtx, state, name);
  return all;
}

/** The attribute names a member type has, for `attributes`/`outputs` maps; [] when unknown. */
export function memberAttributeNames(type: string): readonly string[] {
  return findPlugin(type)?.attributes ?? [];
}

/** Heat refuses to act on a group whose child stack is busy. */
export async function assertNestedIdle(ctx: ResourceContext, stackId: string): Promise<void> {
  const { status } = await ctx.engine.nestedStatus(stackId);
  if (status.endsWith('_IN_PROGRESS'))
    throw new StratusError(
      'CONFLICT',
      `${ctx.name}: its nested stack is ${status}; try again later`,
    );
}
