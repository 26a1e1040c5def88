import { eq } from 'drizzle-orm';
import type { Tx } from '../../../db/connection';
import { stackResources, stacks } from '../../../db/stacks';
import type { Runtime } from '../../runtime';
import { parseDefinition, stackOwnerContext } from './context';
import { applyDefinition } from './diff';
import { recordEvent } from './events';
import type { StepPayload } from './jobs';
import { markOf, withMark } from './marks';
import { advance, lockStack, setStackState } from './scheduler';
import type { StackResourceRow, StackRow } from './types';

/**
 * A resource's action failed (or the stack timed out): the resource and the stack go FAILED,
 * then, unless rollback is disabled, a create or update rolls back (Heat's semantics).
 */
export async function failStack(
  rt: Runtime,
  p: StepPayload,
  row: StackResourceRow | null,
  action: 'CREATE' | 'UPDATE' | 'DELETE',
  message: string,
): Promise<void> {
  await rt.db.transaction(async (tx) => {
    const stack = await lockStack(tx, p.stackId);
    if (!stack || stack.generation !== p.generation || stack.status !== 'IN_PROGRESS') return;
    let reason = message;
    if (row) {
      const [cur] = await tx.select().from(stackResources).where(eq(stackResources.id, row.id));
      reason = `Resource ${action} failed: ${message}`;
      if (cur) {
        await tx
          .update(stackResources)
          .set({ action, status: 'FAILED', statusReason: reason })
          .where(eq(stackResources.id, cur.id));
        await recordEvent(tx, stack, {
          action,
          status: 'FAILED',
          reason,
          resource: { name: cur.name, type: cur.type, physicalId: cur.physicalId },
        });
      }
    }
    const failed = await setStackState(tx, stack, stack.action, 'FAILED', reason);
    if ((stack.action === 'CREATE' || stack.action === 'UPDATE') && !stack.disableRollback)
      await startRollback(rt, tx, failed);
  });
}

/**
 * Rollback: a failed create deletes everything it made; a failed update converges back to
 * the previous definition (a replaced resource not deleted yet is simply taken back).
 */
export async function startRollback(rt: Runtime, tx: Tx, stack: StackRow): Promise<void> {
  const generation = stack.generation + 1;
  const rows = await tx.select().from(stackResources).where(eq(stackResources.stackId, stack.id));
  let definition = stack.definition;
  if (stack.action === 'UPDATE' && stack.previousDefinition) {
    definition = stack.previousDefinition;
    const svc = await stackOwnerContext(rt, stack);
    const template = await parseDefinition(svc, definition, stack);
    await applyDefinition(tx, { ...stack, generation }, template, rows, true);
  } else {
    for (const r of rows) {
      await tx
        .update(stackResources)
        .set({ data: withMark(r.data, { pending: 'DELETE' }, markOf(r)) })
        .where(eq(stackResources.id, r.id));
    }
  }
  await tx
    .update(stacks)
    .set({ generation, definition, previousDefinition: null })
    .where(eq(stacks.id, stack.id));
  const rolling = await setStackState(
    tx,
    { ...stack, generation },
    'ROLLBACK',
    'IN_PROGRESS',
    `Stack ROLLBACK started`,
  );
  await advance(tx, rolling);
}
