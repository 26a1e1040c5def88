import { sql } from 'drizzle-orm';
import type { Tx } from '../../../db/connection';

/** The job that runs one step of one resource (create, update, delete or a completion poll). */
export const STACK_STEP_JOB = 'stack_resource';

export type StepKind = 'create' | 'update' | 'delete' | 'check';

export interface StepPayload {
  stackId: string;
  resourceId: string;
  generation: number;
  step: StepKind;
  /** Polls so far, for the backoff. */
  attempt: number;
}

/** Poll backoff: 200 ms doubling up to 3 s. */
export const pollDelayMs = (attempt: number) => Math.min(3000, 200 * 2 ** Math.min(attempt, 4));

/** Queues a step in the caller's transaction (transactional outbox). */
export async function queueStep(tx: Tx, payload: StepPayload, delayMs = 0): Promise<void> {
  const runAt = new Date(Date.now() + delayMs).toISOString();
  await tx.execute(
    sql`select graphile_worker.add_job(${STACK_STEP_JOB}, ${JSON.stringify(payload)}::json, run_at => ${runAt}::timestamptz, max_attempts => 5)`,
  );
}
