import { and, eq, sql } from 'drizzle-orm';
import { stackResources, stacks } from '../../../db/stacks';
import type { Runtime } from '../../runtime';
import { recordEvent } from './events';
import { queueStep, STACK_STEP_JOB, type StepKind } from './jobs';
import { markOf } from './marks';
import { advance, lockStack } from './scheduler';
import type { StackResourceRow } from './types';

/** What a queued or running row needs next, from what it recorded. */
function nextStep(row: StackResourceRow): StepKind {
  const pending = markOf(row).pending;
  if (pending === 'DELETE') return 'delete';
  if (pending === 'CREATE') return row.physicalId === null ? 'create' : 'check';
  return row.action === 'UPDATE' && row.status === 'IN_PROGRESS' ? 'check' : 'update';
}

/**
 * At start: every IN_PROGRESS stack continues where it stopped (Heat would mark it FAILED).
 * A row that was queued but has no live job gets one again: never created (no physical id):
 * create again; created: poll; deleting: delete again (deleting twice is safe). Jobs still in
 * the queue (a clean stop keeps them) are left to run.
 */
export async function resume(rt: Runtime): Promise<number> {
  const busy = await rt.db
    .select({ id: stacks.id })
    .from(stacks)
    .where(eq(stacks.status, 'IN_PROGRESS'));
  let resumed = 0;
  for (const { id } of busy) {
    await rt.db.transaction(async (tx) => {
      const stack = await lockStack(tx, id);
      if (stack?.status !== 'IN_PROGRESS') return;
      const { rows: jobs } = await tx.execute<{ resource_id: string }>(
        // The public jobs view has no payload; this graphile-worker version's table does.
        sql`select j.payload->>'resourceId' as resource_id
            from graphile_worker._private_jobs j
            join graphile_worker._private_tasks t on t.id = j.task_id
            where t.identifier = ${STACK_STEP_JOB} and j.payload->>'stackId' = ${id}
              and (j.locked_at is null or j.locked_at > now() - interval '5 minutes')`,
      );
      const queued = new Set(jobs.map((j) => j.resource_id));
      const rows = await tx
        .select()
        .from(stackResources)
        .where(and(eq(stackResources.stackId, id)));
      await recordEvent(tx, stack, {
        action: stack.action,
        status: 'IN_PROGRESS',
        reason: `Stratus restarted: resuming ${stack.action}`,
      });
      for (const row of rows) {
        const mark = markOf(row);
        if (mark.pending === null || mark.queuedGen !== stack.generation || queued.has(row.id))
          continue;
        await queueStep(tx, {
          stackId: id,
          resourceId: row.id,
          generation: stack.generation,
          step: nextStep(row),
          attempt: 0,
        });
      }
      await advance(tx, stack);
      resumed++;
    });
  }
  return resumed;
}
