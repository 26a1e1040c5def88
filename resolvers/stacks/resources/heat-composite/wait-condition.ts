import { and, eq, isNull } from 'drizzle-orm';
import { stackResources } from '../../../../db/stacks';
import { InvalidInputError, NotFoundError } from '../../../errors';
import type { Progress, ResourceContext, ResourcePlugin, ResourceState } from '../plugin';
import { ResourceFailure } from './errors';
import { storedSignals, type WaitSignal } from './wait-handle';

/** The signals the handle (by its physical ID, in this stack) has received. */
async function handleSignals(
  ctx: ResourceContext,
  handleId: string,
): Promise<Record<string, WaitSignal>> {
  const [row] = await ctx.svc.rt.db
    .select({ data: stackResources.data })
    .from(stackResources)
    .where(
      and(
        eq(stackResources.stackId, ctx.stack.id),
        eq(stackResources.physicalId, handleId),
        eq(stackResources.type, 'OS::Heat::WaitConditionHandle'),
        isNull(stackResources.replacedBy),
      ),
    )
    .limit(1);
  if (!row) throw new NotFoundError('WaitConditionHandle', handleId);
  return storedSignals(row.data);
}

/** `partial` (validate): properties naming other resources are absent until run time. */
function checkProps(
  ctx: ResourceContext,
  props: Record<string, unknown>,
  partial = false,
): { timeout: number; count: number } {
  if (
    !(partial && props.handle === undefined) &&
    (typeof props.handle !== 'string' || props.handle === '')
  )
    throw new InvalidInputError(
      `${ctx.path}.handle`,
      `${ctx.path}.handle: the handle's id (get_resource) is required`,
    );
  const timeout = partial && props.timeout === undefined ? 1 : Number(props.timeout);
  if (!Number.isFinite(timeout) || timeout < 1 || timeout > 43200)
    throw new InvalidInputError(
      `${ctx.path}.timeout`,
      `${ctx.path}.timeout: must be a number of seconds from 1 to 43200`,
    );
  const count = props.count === undefined || props.count === null ? 1 : Number(props.count);
  if (!Number.isInteger(count) || count < 1)
    throw new InvalidInputError(
      `${ctx.path}.count`,
      `${ctx.path}.count: must be an integer of at least 1`,
    );
  return { timeout, count };
}

/** Heat's wait: FAILED on any FAILURE signal or the timeout, done at `count` SUCCESS signals. */
async function waitProgress(ctx: ResourceContext, state: ResourceState): Promise<Progress> {
  const { timeout, count } = checkProps(ctx, state.properties);
  const signals = Object.values(await handleSignals(ctx, state.properties.handle as string));
  const failures = signals.filter((s) => s.status === 'FAILURE');
  if (failures.length > 0)
    throw new ResourceFailure(
      `WaitConditionFailure: ${ctx.path.replace(/\.properties$/, '')}: ${failures.map((f) => f.reason).join(';')}`,
    );
  const successes = signals.filter((s) => s.status === 'SUCCESS').length;
  if (successes >= count) return { done: true };
  const started = Date.parse(String(state.data.startedAt));
  if (Date.now() - started > timeout * 1000)
    throw new ResourceFailure(
      `WaitConditionTimeout: ${ctx.path.replace(/\.properties$/, '')}: ${successes} of ${count} received`,
    );
  return { done: false, reason: `${successes} of ${count} signals received` };
}

/** OS::Heat::WaitCondition: waits for `count` signals on its handle, within `timeout` seconds. */
export const waitCondition: ResourcePlugin = {
  type: 'OS::Heat::WaitCondition',
  properties: {
    handle: { type: 'string', required: true },
    timeout: { type: 'number', required: true, updateAllowed: true },
    count: { type: 'integer', default: 1, updateAllowed: true },
  },
  attributes: ['data'],
  async validate(ctx, props) {
    checkProps(ctx, props, true);
  },
  async create(ctx, props) {
    checkProps(ctx, props);
    return { physicalId: ctx.physicalName, data: { startedAt: new Date().toISOString() } };
  },
  checkCreateComplete: waitProgress,
  async update() {
    // A new count or timeout waits again, from now (Heat's handle_update).
    return { kind: 'updated', data: { startedAt: new Date().toISOString() } };
  },
  checkUpdateComplete: waitProgress,
  async delete() {},
  async attribute(ctx, state, name) {
    if (name !== 'data' && name !== 'show') return null;
    const signals = await handleSignals(ctx, state.properties.handle as string).catch(() => ({}));
    const byId = Object.fromEntries(
      Object.entries(signals as Record<string, WaitSignal>).map(([id, s]) => [id, s.data]),
    );
    return name === 'data' ? JSON.stringify(byId) : { id: state.physicalId, data: byId };
  },
};
