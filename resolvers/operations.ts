import { and, eq, inArray, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { DbOrTx, Tx } from '../db/connection';
import { type OperationStage, operations } from '../db/tables';
import { authorize } from './authorize';
import { FeatureDisabledError, InvalidInputError } from './errors';
import { publishEvent } from './events';
import { canSeeProject, isAdmin, scopedProjectId } from './identity/auth-context';
import { type ListResult, type Page, selectPage } from './pagination';
import { inTransaction, type ServiceContext } from './runtime';
import { isUuid, parseInput } from './validation';

export type OperationRow = typeof operations.$inferSelect;
export type OperationStatus = OperationRow['status'];

export interface NewOperation {
  kind: string;
  projectId: string | null;
  createdByUserId: string | null;
  resourceType?: string | null;
  resourceId?: string | null;
  stageNames: string[];
  input: Record<string, unknown>;
  /** The job to enqueue, when it is not named like the operation (e.g. routed to a host). */
  jobName?: string;
}

/**
 * Records an operation and enqueues its job in the caller's transaction (transactional
 * outbox): either both exist after commit or neither does. The job is named like the operation
 * kind unless `jobName` says otherwise.
 */
export async function startOperation(tx: Tx, op: NewOperation): Promise<OperationRow> {
  const stages: OperationStage[] = op.stageNames.map((name) => ({
    name,
    status: 'PENDING',
    startedAt: null,
    finishedAt: null,
  }));
  const [row] = await tx
    .insert(operations)
    .values({
      kind: op.kind,
      projectId: op.projectId,
      createdByUserId: op.createdByUserId,
      resourceType: op.resourceType ?? null,
      resourceId: op.resourceId ?? null,
      stages,
      input: op.input,
    })
    .returning();
  await tx.execute(
    sql`select graphile_worker.add_job(${op.jobName ?? op.kind}, ${JSON.stringify({ operationId: row.id })}::json, max_attempts => 1)`,
  );
  await operationEvent(tx, row);
  return row;
}

export interface OperationFilter {
  status?: OperationStatus | null;
  kind?: string | null;
}

/** Operations of the caller's project (admins: all), newest first. */
export async function listOperations(
  ctx: ServiceContext,
  filter: OperationFilter,
  page: Page,
): Promise<ListResult<OperationRow>> {
  authorize(ctx, 'operation:list');
  const own = scopedProjectId(ctx.auth);
  if (!isAdmin(ctx.auth) && own === null) return { rows: [], totalCount: 0 };
  const where: SQL | undefined = and(
    isAdmin(ctx.auth) ? undefined : eq(operations.projectId, own!),
    filter.status != null ? eq(operations.status, filter.status) : undefined,
    filter.kind != null ? eq(operations.kind, filter.kind) : undefined,
  );
  return selectPage(
    ctx.rt.db,
    operations,
    where,
    { column: operations.createdAt, direction: 'DESC', tiebreak: operations.id },
    page,
  );
}

export async function loadOperations(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<OperationRow | null>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db.select().from(operations).where(inArray(operations.id, valid))
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id) ?? null;
    return row && canSeeProject(ctx.auth, row.projectId) ? row : null;
  });
}

/**
 * Worker side: stage `index` starts, and the stages before it that still run are done, in one
 * change and one event (half the transactions of marking each edge on its own).
 */
export async function enterStage(
  db: DbOrTx,
  operationId: string,
  index: number,
): Promise<OperationRow> {
  return updateStages(db, operationId, (stages, now) =>
    stages.map((s, i) => {
      if (i === index) return { ...s, status: 'RUNNING', startedAt: s.startedAt ?? now };
      if (i < index && s.status === 'RUNNING') return { ...s, status: 'DONE', finishedAt: now };
      return s;
    }),
  );
}

/** Worker side: marks stage `index` running or done (and the operation running), publishing the change. */
export async function advanceOperation(
  db: DbOrTx,
  operationId: string,
  index: number,
  status: 'RUNNING' | 'DONE',
): Promise<OperationRow> {
  return updateStages(db, operationId, (stages, now) =>
    stages.map((s, i) =>
      i === index
        ? {
            ...s,
            status,
            startedAt: s.startedAt ?? now,
            finishedAt: status === 'DONE' ? now : null,
          }
        : s,
    ),
  );
}

/** Rewrites the stages of a running operation under its row lock, with progress and an event. */
async function updateStages(
  db: DbOrTx,
  operationId: string,
  change: (stages: OperationStage[], now: string) => OperationStage[],
): Promise<OperationRow> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(operations)
      .where(eq(operations.id, operationId))
      .for('update');
    const stages = change(current.stages, new Date().toISOString());
    const done = stages.filter((s) => s.status === 'DONE').length;
    const [row] = await tx
      .update(operations)
      .set({
        status: 'RUNNING',
        stages,
        progressPercent: Math.floor((done * 100) / Math.max(stages.length, 1)),
        startedAt: current.startedAt ?? new Date(),
      })
      .where(eq(operations.id, operationId))
      .returning();
    await operationEvent(tx, row);
    return row;
  });
}

/** Worker side: ends the operation with a result, or with a typed failure (code and message). */
export async function finishOperation(
  db: DbOrTx,
  operationId: string,
  outcome: { result: Record<string, unknown> } | { errorCode: string; errorMessage: string },
): Promise<OperationRow> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(operations)
      .where(eq(operations.id, operationId))
      .for('update');
    const now = new Date().toISOString();
    const failed = 'errorCode' in outcome;
    const stages = current.stages.map((s) =>
      s.status === 'RUNNING'
        ? { ...s, status: failed ? ('FAILED' as const) : ('DONE' as const), finishedAt: now }
        : s,
    );
    const [row] = await tx
      .update(operations)
      .set({
        status: failed ? 'FAILED' : 'SUCCEEDED',
        stages,
        progressPercent: failed ? current.progressPercent : 100,
        result: failed ? null : outcome.result,
        errorCode: failed ? outcome.errorCode : null,
        errorMessage: failed ? outcome.errorMessage : null,
        startedAt: current.startedAt ?? new Date(),
        finishedAt: new Date(),
      })
      .where(eq(operations.id, operationId))
      .returning();
    await operationEvent(tx, row);
    return row;
  });
}

function operationEvent(tx: Tx, row: OperationRow) {
  return publishEvent(tx, {
    kind: 'OPERATION_UPDATED',
    projectId: row.projectId,
    resourceType: 'Operation',
    resourceId: row.id,
    payload: { kind: row.kind, status: row.status, progressPercent: row.progressPercent },
  });
}

export const TEST_JOB_KIND = 'test.stages';

const testOperationInput = z.object({
  stages: z.number().int().min(1, 'must be at least 1').max(20, 'must be at most 20'),
  stageMillis: z.number().int().min(0).max(10_000, 'must be at most 10000'),
  failAtStage: z.number().int().min(0).nullish(),
});

/**
 * Starts the test-only job: `stages` stages of `stageMillis` each, failing at `failAtStage`
 * if given. Exists to exercise operations end to end; enabled by STRATUS_ENABLE_TEST_JOBS.
 */
export async function startTestOperation(
  ctx: ServiceContext,
  input: unknown,
): Promise<OperationRow> {
  authorize(ctx, 'operation:start_test');
  if (!ctx.rt.jobKinds.has(TEST_JOB_KIND)) {
    throw new FeatureDisabledError(
      'The test operation',
      'start Stratus with STRATUS_ENABLE_TEST_JOBS=1',
    );
  }
  const data = parseInput(testOperationInput, input);
  if (data.failAtStage != null && data.failAtStage >= data.stages) {
    throw new InvalidInputError(
      'input.failAtStage',
      'input.failAtStage must be less than input.stages',
    );
  }
  const projectId = scopedProjectId(ctx.auth);
  if (!projectId) throw new InvalidInputError('input', 'A token scoped to a project is required');
  return inTransaction(ctx.rt, (tx) =>
    startOperation(tx, {
      kind: TEST_JOB_KIND,
      projectId,
      createdByUserId: ctx.auth!.userId,
      stageNames: Array.from({ length: data.stages }, (_, i) => `stage-${i + 1}`),
      input: data,
    }),
  );
}
