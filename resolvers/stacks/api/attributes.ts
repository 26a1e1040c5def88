import { InvalidInputError } from '../../errors';
import type { ServiceContext } from '../../runtime';
import { resourceContext, stackOwnerContext, stackTemplate } from '../engine/context';
import { pluginForRow, stateOf } from '../engine/resolve';
import type { StackResourceRow, StackRow } from '../engine/types';

/**
 * A resource's attributes now (Heat's resource show `attributes`), read through its plugin
 * as the engine reads them for get_attr: acting as the stack's owner, writing nothing.
 * Without names: every attribute the type declares.
 */
export async function resourceAttributes(
  ctx: ServiceContext,
  stack: StackRow,
  row: StackResourceRow,
  names: readonly string[] | null,
): Promise<Record<string, unknown>> {
  const plugin = pluginForRow(row);
  if (!plugin) return {};
  const known = new Set([...plugin.attributes, 'show']);
  const wanted = names ?? plugin.attributes;
  const unknown = wanted.find((n) => !known.has(n) && !plugin.dynamicAttributes);
  if (unknown) {
    throw new InvalidInputError(
      'names',
      `${row.type} has no attribute '${unknown}' (it has: ${[...known].join(', ')})`,
    );
  }
  // Nothing to ask a resource that does not exist (yet, or any more).
  if (!row.physicalId && row.status !== 'COMPLETE') return {};
  const svc = await stackOwnerContext(ctx.rt, stack);
  const template = await stackTemplate(svc, stack).catch(() => null);
  const rctx = resourceContext(svc, stack, row, template);
  const state = stateOf(row);
  const out: Record<string, unknown> = {};
  for (const name of wanted) {
    out[name] = await plugin.attribute(rctx, state, name).catch((e: unknown) => ({
      error: e instanceof Error ? e.message : String(e),
    }));
  }
  return out;
}
