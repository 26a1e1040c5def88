import { and, eq, isNull } from 'drizzle-orm';
import { stackResources } from '../../../../db/stacks';
import { InvalidInputError, NotFoundError, StratusError } from '../../../errors';
import type { ResourceContext, ResourcePlugin } from '../plugin';
import { ADJUSTMENT_TYPES, inCooldown } from './scaling';

/** `partial` (validate): properties naming other resources are absent until run time. */
function checkProps(ctx: ResourceContext, props: Record<string, unknown>, partial = false): void {
  const absent = (key: string) => partial && props[key] === undefined;
  if (
    !absent('auto_scaling_group_id') &&
    (typeof props.auto_scaling_group_id !== 'string' || props.auto_scaling_group_id === '')
  )
    throw new InvalidInputError(
      `${ctx.path}.auto_scaling_group_id`,
      `${ctx.path}.auto_scaling_group_id: the group's id (get_resource) is required`,
    );
  if (
    !absent('adjustment_type') &&
    !ADJUSTMENT_TYPES.includes(props.adjustment_type as (typeof ADJUSTMENT_TYPES)[number])
  )
    throw new InvalidInputError(
      `${ctx.path}.adjustment_type`,
      `${ctx.path}.adjustment_type: must be one of ${ADJUSTMENT_TYPES.join(', ')}`,
    );
  if (
    (!absent('scaling_adjustment') && !Number.isFinite(Number(props.scaling_adjustment))) ||
    props.scaling_adjustment === null
  )
    throw new InvalidInputError(
      `${ctx.path}.scaling_adjustment`,
      `${ctx.path}.scaling_adjustment: must be a number`,
    );
  for (const key of ['cooldown', 'min_adjustment_step']) {
    const v = props[key];
    if (v !== undefined && v !== null && (!Number.isInteger(Number(v)) || Number(v) < 0))
      throw new InvalidInputError(
        `${ctx.path}.${key}`,
        `${ctx.path}.${key}: must be an integer of at least 0`,
      );
  }
}

/** The group's resource name in this stack, by its physical ID (what get_resource gave). */
async function groupName(ctx: ResourceContext, groupId: string): Promise<string> {
  const [row] = await ctx.svc.rt.db
    .select({ name: stackResources.name })
    .from(stackResources)
    .where(
      and(
        eq(stackResources.stackId, ctx.stack.id),
        eq(stackResources.physicalId, groupId),
        eq(stackResources.type, 'OS::Heat::AutoScalingGroup'),
        isNull(stackResources.replacedBy),
      ),
    )
    .limit(1);
  if (!row) throw new NotFoundError('AutoScalingGroup', groupId);
  return row.name;
}

/** An alarm's notification for a state other than `alarm` (ok, insufficient data) does not scale. */
function notAlarming(details: unknown): boolean {
  if (!details || typeof details !== 'object') return false;
  // Aodh's body says `current`; Stratus's own alarm webhooks say `currentState`.
  const body = details as { current?: unknown; currentState?: unknown; state?: unknown };
  const current = body.current ?? body.currentState ?? body.state;
  return typeof current === 'string' && current.toLowerCase() !== 'alarm';
}

/** OS::Heat::ScalingPolicy: a webhook (alarm_url) that resizes an AutoScalingGroup. */
export const scalingPolicy: ResourcePlugin = {
  type: 'OS::Heat::ScalingPolicy',
  properties: {
    auto_scaling_group_id: { type: 'string', required: true },
    adjustment_type: { type: 'string', required: true, updateAllowed: true },
    scaling_adjustment: { type: 'number', required: true, updateAllowed: true },
    cooldown: { type: 'integer', updateAllowed: true },
    min_adjustment_step: { type: 'integer', updateAllowed: true },
  },
  attributes: ['alarm_url', 'signal_url'],
  async validate(ctx, props) {
    checkProps(ctx, props, true);
  },
  async create(ctx, props) {
    checkProps(ctx, props);
    return { physicalId: ctx.physicalName, data: {} };
  },
  async update(ctx, _state, props) {
    checkProps(ctx, props);
    return { kind: 'updated' };
  },
  async delete() {},
  async attribute(ctx, state, name) {
    if (name === 'alarm_url' || name === 'signal_url') return ctx.engine.signalUrl();
    if (name === 'show')
      return { id: state.physicalId, ...state.properties, alarm_url: ctx.engine.signalUrl() };
    return null;
  },
  async signal(ctx, state, details) {
    if (notAlarming(details)) return;
    const props = state.properties;
    if (inCooldown(state.data.lastAdjustedAt, props.cooldown as number | null)) return;
    if (!ctx.engine.signalResource)
      throw new StratusError('FEATURE_DISABLED', 'the engine cannot signal the scaling group');
    const name = await groupName(ctx, props.auto_scaling_group_id as string);
    await ctx.engine.signalResource(name, {
      adjustment_type: props.adjustment_type,
      scaling_adjustment: Number(props.scaling_adjustment),
      min_adjustment_step: props.min_adjustment_step ?? null,
      // Heat: a policy with its own cooldown decides alone; otherwise the group's applies.
      honour_group_cooldown: props.cooldown === undefined || props.cooldown === null,
    });
    return { data: { ...state.data, lastAdjustedAt: new Date().toISOString() } };
  },
};
