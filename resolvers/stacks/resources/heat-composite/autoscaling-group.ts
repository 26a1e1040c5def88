import { randomBytes } from 'node:crypto';
import { InvalidInputError } from '../../../errors';
import type { ResourceContext, ResourcePlugin, ResourceState } from '../plugin';
import { groupTemplate, type MemberDefinition } from './group-template';
import {
  attributesByName,
  memberDefinition,
  memberQuota,
  refsMap,
  resourceDotAttribute,
} from './members';
import {
  applyNested,
  assertNestedIdle,
  deleteNested,
  nestedDeleteProgress,
  nestedProgress,
} from './nested';
import { ADJUSTMENT_TYPES, type AdjustmentType, inCooldown, newCapacity } from './scaling';

interface AsgProps {
  min: number;
  max: number;
  desired: number | null;
  cooldown: number | null;
  def: MemberDefinition;
}

function integer(
  ctx: ResourceContext,
  props: Record<string, unknown>,
  key: string,
  required: boolean,
): number | null {
  const value = props[key];
  if (value === undefined || value === null) {
    if (required)
      throw new InvalidInputError(`${ctx.path}.${key}`, `${ctx.path}.${key}: is required`);
    return null;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidInputError(
      `${ctx.path}.${key}`,
      `${ctx.path}.${key}: must be an integer of at least 0`,
    );
  return n;
}

function asgProps(ctx: ResourceContext, props: Record<string, unknown>): AsgProps {
  const min = integer(ctx, props, 'min_size', true) as number;
  const max = integer(ctx, props, 'max_size', true) as number;
  if (min > max)
    throw new InvalidInputError(
      `${ctx.path}.min_size`,
      `${ctx.path}.min_size: ${min} is more than max_size ${max}`,
    );
  const desired = integer(ctx, props, 'desired_capacity', false);
  if (desired !== null && (desired < min || desired > max))
    throw new InvalidInputError(
      `${ctx.path}.desired_capacity`,
      `${ctx.path}.desired_capacity: ${desired} is outside min_size ${min} .. max_size ${max}`,
    );
  const cooldown = integer(ctx, props, 'cooldown', false);
  return { min, max, desired, cooldown, def: memberDefinition(ctx, props.resource, 'resource') };
}

function members(state: ResourceState): string[] {
  return (state.data.members as string[] | undefined) ?? [];
}

/** Heat keeps the newest members when shrinking and names new ones with short random ids. */
function resize(current: readonly string[], capacity: number): string[] {
  const kept = current.slice(Math.max(0, current.length - capacity));
  while (kept.length < capacity) kept.push(randomBytes(6).toString('hex'));
  return kept;
}

async function applySize(
  ctx: ResourceContext,
  def: MemberDefinition,
  names: string[],
): Promise<string> {
  return applyNested(ctx, groupTemplate(names, def, null));
}

/** OS::Heat::AutoScalingGroup: a group of identical members resized by its ScalingPolicies. */
export const autoScalingGroup: ResourcePlugin = {
  type: 'OS::Heat::AutoScalingGroup',
  properties: {
    min_size: { type: 'integer', required: true, updateAllowed: true },
    max_size: { type: 'integer', required: true, updateAllowed: true },
    desired_capacity: { type: 'integer', updateAllowed: true },
    resource: { type: 'map', required: true, updateAllowed: true },
    cooldown: { type: 'integer', updateAllowed: true },
    rolling_updates: { type: 'map', updateAllowed: true },
  },
  attributes: ['outputs', 'outputs_list', 'current_size', 'refs', 'refs_map'],
  physicalType: 'Stack',
  async validate(ctx, props) {
    // Properties naming other resources are absent until run time.
    if (props.resource === undefined) {
      integer(ctx, props, 'min_size', false);
      integer(ctx, props, 'max_size', false);
      return;
    }
    asgProps(ctx, props);
  },
  quota(props) {
    const def = props.resource as { type?: unknown; properties?: unknown } | undefined;
    if (!def || typeof def.type !== 'string') return [];
    const size = Number(props.desired_capacity ?? props.min_size ?? 0);
    return memberQuota(
      { type: def.type, properties: (def.properties ?? {}) as Record<string, unknown> },
      size,
    );
  },
  async create(ctx, props) {
    const asg = asgProps(ctx, props);
    const names = resize([], asg.desired ?? asg.min);
    const id = await applySize(ctx, asg.def, names);
    return { physicalId: id, data: { members: names } };
  },
  checkCreateComplete: nestedProgress,
  async update(ctx, state, props, changed) {
    const asg = asgProps(ctx, props);
    const current = members(state);
    const capacity =
      changed.includes('desired_capacity') && asg.desired !== null
        ? asg.desired
        : Math.max(asg.min, Math.min(asg.max, current.length));
    const names = resize(current, capacity);
    await applySize(ctx, asg.def, names);
    return { kind: 'updated', data: { ...state.data, members: names } };
  },
  checkUpdateComplete: nestedProgress,
  delete: deleteNested,
  checkDeleteComplete: nestedDeleteProgress,
  /** A ScalingPolicy's adjustment (engine.signalResource): resize within min/max, honouring cooldown. */
  async signal(ctx, state, details) {
    const asg = asgProps(ctx, state.properties);
    const adj = (details ?? {}) as Record<string, unknown>;
    const adjustmentType = adj.adjustment_type as AdjustmentType;
    if (!ADJUSTMENT_TYPES.includes(adjustmentType))
      throw new InvalidInputError(
        'details.adjustment_type',
        `details.adjustment_type: must be one of ${ADJUSTMENT_TYPES.join(', ')}`,
      );
    const scalingAdjustment = Number(adj.scaling_adjustment);
    if (!Number.isFinite(scalingAdjustment))
      throw new InvalidInputError(
        'details.scaling_adjustment',
        'details.scaling_adjustment: must be a number',
      );
    // The policy checks its own cooldown; the group's applies when none is given there.
    if (adj.honour_group_cooldown !== false && inCooldown(state.data.lastScaledAt, asg.cooldown))
      return;
    if (!state.physicalId) return;
    await assertNestedIdle(ctx, state.physicalId);
    const current = members(state);
    const capacity = newCapacity(
      current.length,
      {
        adjustmentType,
        scalingAdjustment,
        minAdjustmentStep: Number(adj.min_adjustment_step ?? 0),
      },
      asg.min,
      asg.max,
    );
    if (capacity === current.length) return;
    const names = resize(current, capacity);
    await applySize(ctx, asg.def, names);
    return { data: { ...state.data, members: names, lastScaledAt: new Date().toISOString() } };
  },
  async attribute(ctx, state, name) {
    const names = members(state);
    const stackId = state.physicalId;
    if (name === 'current_size') return names.length;
    if (!stackId) return null;
    if (name === 'refs_map' || name === 'refs' || name === 'show') {
      const refs = await refsMap(ctx, state);
      const ordered = Object.fromEntries(names.map((m) => [m, refs[m] ?? null]));
      if (name === 'refs_map') return ordered;
      if (name === 'refs') return Object.values(ordered);
      return { id: stackId, current_size: names.length, refs_map: ordered };
    }
    // get_attr [asg, outputs, attr] → { member: value }; outputs_list → [value, ...].
    if (name === 'outputs') return attributesByName(ctx, stackId, names);
    if (name === 'outputs_list') {
      const byName = await attributesByName(ctx, stackId, names);
      return Object.fromEntries(
        Object.entries(byName).map(([attr, values]) => [attr, names.map((m) => values[m] ?? null)]),
      );
    }
    if (name.startsWith('resource.')) return resourceDotAttribute(ctx, stackId, name);
    return null;
  },
};
