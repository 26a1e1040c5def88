import { eq } from 'drizzle-orm';
import { stacks } from '../../../../db/stacks';
import { InvalidInputError } from '../../../errors';
import type { ResourceContext, ResourcePlugin } from '../plugin';
import { optionalMap } from './config-resource';
import {
  applyNested,
  deleteNested,
  nestedDeleteProgress,
  nestedOutputs,
  nestedProgress,
} from './nested';

function checkProps(
  ctx: ResourceContext,
  props: Record<string, unknown>,
): { template: string; parameters: Record<string, unknown> } {
  if (typeof props.template !== 'string' || props.template.trim() === '')
    throw new InvalidInputError(
      `${ctx.path}.template`,
      `${ctx.path}.template: the stack's template text is required`,
    );
  const context = optionalMap(ctx, props, 'context');
  if (context.region_name !== undefined && context.region_name !== null)
    throw new InvalidInputError(
      `${ctx.path}.context.region_name`,
      `${ctx.path}.context.region_name: Stratus has one region; remote regions are not supported`,
    );
  if (props.timeout !== undefined && props.timeout !== null) {
    const timeout = Number(props.timeout);
    if (!Number.isFinite(timeout) || timeout <= 0)
      throw new InvalidInputError(
        `${ctx.path}.timeout`,
        `${ctx.path}.timeout: must be a positive number of minutes`,
      );
  }
  return { template: props.template, parameters: optionalMap(ctx, props, 'parameters') };
}

/** OS::Heat::Stack: a stack from a template text (Heat's remote stack, here in the same region). */
export const heatStack: ResourcePlugin = {
  type: 'OS::Heat::Stack',
  properties: {
    context: { type: 'map' },
    template: { type: 'string', required: true, updateAllowed: true },
    timeout: { type: 'number', updateAllowed: true },
    parameters: { type: 'map', default: {}, updateAllowed: true },
  },
  attributes: ['stack_name', 'outputs'],
  physicalType: 'Stack',
  async validate(ctx, props) {
    // A template naming another resource is known only at run time.
    if (props.template !== undefined) checkProps(ctx, props);
  },
  async create(ctx, props) {
    const { template, parameters } = checkProps(ctx, props);
    const id = await applyNested(ctx, template, parameters);
    return { physicalId: id };
  },
  checkCreateComplete: nestedProgress,
  async update(ctx, _state, props) {
    const { template, parameters } = checkProps(ctx, props);
    await applyNested(ctx, template, parameters);
    return { kind: 'updated' };
  },
  checkUpdateComplete: nestedProgress,
  delete: deleteNested,
  checkDeleteComplete: nestedDeleteProgress,
  async attribute(ctx, state, name) {
    if (name === 'stack_name') return childName(ctx, state.physicalId);
    if (name === 'outputs') return nestedOutputs(ctx, state);
    if (name === 'show')
      return {
        id: state.physicalId,
        stack_name: await childName(ctx, state.physicalId),
        outputs: await nestedOutputs(ctx, state),
      };
    return null;
  },
};

/** The child stack's name, as the engine named it. */
async function childName(ctx: ResourceContext, stackId: string | null): Promise<string | null> {
  if (!stackId) return null;
  const [row] = await ctx.svc.rt.db
    .select({ name: stacks.name })
    .from(stacks)
    .where(eq(stacks.id, stackId));
  return row?.name ?? null;
}
