import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import type { Database } from '../../db/connection';
import { operations } from '../../db/tables';
import { advanceOperation, finishOperation } from '../../resolvers/operations';

/** The test-only job: walks the operation's stages, sleeping in each, failing where asked. */
export async function runTestStages(db: Database, operationId: string): Promise<void> {
  const [op] = await db.select().from(operations).where(eq(operations.id, operationId));
  if (!op) return;
  const input = op.input as { stageMillis: number; failAtStage?: number | null };
  for (let i = 0; i < op.stages.length; i++) {
    await advanceOperation(db, operationId, i, 'RUNNING');
    await sleep(input.stageMillis);
    if (input.failAtStage === i) {
      await finishOperation(db, operationId, {
        errorCode: 'TEST_FAILURE',
        errorMessage: `Stage ${i + 1} failed as requested`,
      });
      return;
    }
    await advanceOperation(db, operationId, i, 'DONE');
  }
  await finishOperation(db, operationId, { result: { stagesCompleted: op.stages.length } });
}
