import { and, eq, isNull } from 'drizzle-orm';
import { stackResources } from '../../../db/stacks';
import { InvalidInputError, NotFoundError } from '../../errors';
import type { ServiceContext } from '../../runtime';
import { resourceContext, stackOwnerContext, stackTemplate } from './context';
import { markOf, withMark } from './marks';
import { pluginForRow, stateOf } from './resolve';
import { loadStack } from './start';

/**
 * Passes a signal to the resource's plugin, one at a time per resource (the row is locked
 * while the plugin runs), and stores the data the plugin hands back.
 */
export async function signal(
  ctx: ServiceContext,
  stackId: string,
  resourceName: string,
  details: unknown,
): Promise<void> {
  const stack = await loadStack(ctx, stackId);
  const svc = await stackOwnerContext(ctx.rt, stack);
  const template = await stackTemplate(svc, stack);
  await ctx.rt.db.transaction(async (tx) => {
    const rows = await tx
      .select()
      .from(stackResources)
      .where(
        and(
          eq(stackResources.stackId, stackId),
          eq(stackResources.name, resourceName),
          isNull(stackResources.replacedBy),
        ),
      )
      .for('update');
    const row = rows.find((r) => markOf(r).pending !== 'DELETE');
    if (!row) throw new NotFoundError('StackResource', resourceName);
    const plugin = pluginForRow(row);
    if (!plugin?.signal)
      throw new InvalidInputError(
        'input.resourceName',
        `the resource ${resourceName} (${row.type}) does not accept signals`,
      );
    const result = await plugin.signal(
      resourceContext(svc, stack, row, template),
      stateOf(row),
      details,
    );
    if (result?.data) {
      await tx
        .update(stackResources)
        .set({ data: withMark(result.data, {}, markOf(row)) })
        .where(eq(stackResources.id, row.id));
    }
  });
}
