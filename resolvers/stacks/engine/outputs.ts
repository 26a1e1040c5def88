import { eq } from 'drizzle-orm';
import { stackResources } from '../../../db/stacks';
import type { ServiceContext } from '../../runtime';
import { stackOwnerContext, stackTemplate } from './context';
import { resolveValue } from './resolve';
import { currentRows } from './scheduler';
import type { StackOutputValue, StackRow } from './types';

/**
 * The stack's outputs evaluated now (get_resource: physical id, get_attr: the plugin's
 * attribute), as the owner sees them; a failing output shows its error, the others still show.
 */
export async function outputsOf(
  ctx: ServiceContext,
  stack: StackRow,
): Promise<Record<string, StackOutputValue>> {
  const svc = await stackOwnerContext(ctx.rt, stack).catch(() => ctx);
  const template = await stackTemplate(svc, stack);
  const rows = currentRows(
    await ctx.rt.db.select().from(stackResources).where(eq(stackResources.stackId, stack.id)),
  );
  const out: Record<string, StackOutputValue> = {};
  for (const o of Object.values(template.outputs)) {
    if (!o.enabled) continue;
    try {
      out[o.name] = {
        value: await resolveValue(svc, stack, template, rows, o.value, [
          'outputs',
          o.name,
          'value',
        ]),
      };
    } catch (err) {
      out[o.name] = { error: err instanceof Error ? err.message : String(err) };
    }
  }
  return out;
}
