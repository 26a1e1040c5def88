import { and, count, eq, inArray, ne, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../../../db/connection';
import { stackResources, stacks } from '../../../db/stacks';
import { recordEvent } from './events';
import { queueStep } from './jobs';
import { markOf } from './marks';
import type { StackResourceRow, StackRow } from './types';

/** Locks the stack row for the rest of the transaction: one scheduler decision at a time. */
export async function lockStack(tx: Tx, stackId: string): Promise<StackRow | null> {
  const [row] = await tx.select().from(stacks).where(eq(stacks.id, stackId)).for('update');
  return row ?? null;
}

/** The row that holds a name now: not replaced, not being removed. */
export function currentRows<T extends Pick<StackResourceRow, 'replacedBy' | 'name' | 'data'>>(
  rows: readonly T[],
): Map<string, T> {
  const out = new Map<string, T>();
  for (const r of rows) {
    if (r.replacedBy === null && markOf(r).pending !== 'DELETE') out.set(r.name, r);
  }
  return out;
}

const isDone = (r: LiteRow) => markOf(r).pending === null && r.status === 'COMPLETE';

/** What scheduling needs of a row: its data narrowed to the engine's mark (cheap for big stacks). */
type LiteRow = Pick<
  StackResourceRow,
  'id' | 'name' | 'type' | 'requires' | 'action' | 'status' | 'physicalId' | 'replacedBy' | 'data'
>;

function liteRows(tx: Tx, stackId: string, where?: SQL): Promise<LiteRow[]> {
  return tx
    .select({
      id: stackResources.id,
      name: stackResources.name,
      type: stackResources.type,
      requires: stackResources.requires,
      action: stackResources.action,
      status: stackResources.status,
      physicalId: stackResources.physicalId,
      replacedBy: stackResources.replacedBy,
      data: sql<
        Record<string, unknown>
      >`jsonb_build_object('$engine', ${stackResources.data}->'$engine')`,
    })
    .from(stackResources)
    .where(
      where ? and(eq(stackResources.stackId, stackId), where) : eq(stackResources.stackId, stackId),
    );
}

const pendingOf = sql`${stackResources.data}->'$engine'->>'pending'`;

async function countPending(
  tx: Tx,
  stackId: string,
  kinds: string[],
  extra?: SQL,
): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(stackResources)
    .where(and(eq(stackResources.stackId, stackId), inArray(pendingOf, kinds), extra));
  return row.n;
}

/**
 * advance() after one resource finished, without reading every row of a big stack: only the
 * resources that need it (or, deleting, that it needed) can have become ready. The phase
 * changes (creates done -> cleanup -> finished) go through the full advance.
 */
export async function advanceAfter(
  tx: Tx,
  stack: StackRow,
  finished: { name: string; requires: readonly string[] },
  action: 'CREATE' | 'UPDATE' | 'DELETE' | null,
): Promise<void> {
  if (stack.status !== 'IN_PROGRESS') return;
  const gen = stack.generation;
  const work = await countPending(tx, stack.id, ['CREATE', 'UPDATE']);
  if (action !== 'DELETE' && work > 0) {
    const dependants = await liteRows(
      tx,
      stack.id,
      sql`${stackResources.requires} ? ${finished.name}`,
    );
    for (const r of dependants) {
      const mark = markOf(r);
      if ((mark.pending !== 'CREATE' && mark.pending !== 'UPDATE') || mark.queuedGen === gen)
        continue;
      const deps = currentRows(
        await liteRows(tx, stack.id, inArray(stackResources.name, r.requires)),
      );
      const ready = r.requires.every((n) => {
        const dep = deps.get(n);
        return !dep || isDone(dep);
      });
      if (ready) await startRow(tx, stack, r, mark.pending === 'CREATE' ? 'create' : 'update');
    }
    return;
  }
  if (action !== 'DELETE' || work > 0) {
    await advance(tx, stack);
    return;
  }
  if ((await countPending(tx, stack.id, ['DELETE'])) === 0) {
    await advance(tx, stack);
    return;
  }
  const candidates = await liteRows(
    tx,
    stack.id,
    and(inArray(stackResources.name, [...finished.requires]), eq(pendingOf, 'DELETE')),
  );
  for (const r of candidates) {
    if (markOf(r).queuedGen === gen) continue;
    const blockers = await countPending(
      tx,
      stack.id,
      ['DELETE'],
      and(sql`${stackResources.requires} ? ${r.name}`, ne(stackResources.name, r.name)),
    );
    if (blockers === 0) await startRow(tx, stack, r, 'delete');
  }
}

/**
 * Moves the stack's current action forward (caller holds the stack lock, stack IN_PROGRESS):
 * queues every resource whose requirements are met (creates and updates first, in dependency
 * order; then deletions, dependants first), and finishes the action when nothing is left.
 */
export async function advance(tx: Tx, stack: StackRow): Promise<void> {
  if (stack.status !== 'IN_PROGRESS') return;
  const gen = stack.generation;
  const rows = await liteRows(tx, stack.id);
  const current = currentRows(rows);
  const work = rows.filter((r) => {
    const p = markOf(r).pending;
    return p === 'CREATE' || p === 'UPDATE';
  });
  let busy = false;
  for (const r of work) {
    const mark = markOf(r);
    if (mark.queuedGen === gen) {
      busy = true;
      continue;
    }
    const ready = r.requires.every((n) => {
      const dep = current.get(n);
      return !dep || isDone(dep);
    });
    if (!ready) {
      busy = true;
      continue;
    }
    await startRow(tx, stack, r, mark.pending === 'CREATE' ? 'create' : 'update');
    busy = true;
  }
  if (busy) return;
  // Cleanup after the new resources: removed and replaced ones, dependants first.
  const dels = rows.filter((r) => markOf(r).pending === 'DELETE');
  // Names still needed by a resource that is itself waiting to be deleted (another name).
  const needed = new Map<string, Set<string>>();
  for (const s of dels) {
    for (const n of s.requires) {
      if (n === s.name) continue;
      const by = needed.get(n) ?? new Set<string>();
      by.add(s.id);
      needed.set(n, by);
    }
  }
  for (const r of dels) {
    if (markOf(r).queuedGen === gen) continue;
    if (!needed.has(r.name)) await startRow(tx, stack, r, 'delete');
  }
  if (dels.length === 0) await finishAction(tx, stack);
}

async function startRow(
  tx: Tx,
  stack: StackRow,
  row: LiteRow,
  step: 'create' | 'update' | 'delete',
): Promise<void> {
  // Only the mark changes: the plugin's data is not loaded here.
  const set: Partial<Omit<typeof stackResources.$inferInsert, 'data'>> & { data: SQL } = {
    data: sql`jsonb_set(${stackResources.data}, '{$engine,queuedGen}', ${String(stack.generation)}::jsonb)`,
  };
  // An update shows its IN_PROGRESS only once the step finds a real change.
  if (step !== 'update') {
    const action = step === 'create' ? 'CREATE' : 'DELETE';
    set.action = action;
    set.status = 'IN_PROGRESS';
    set.statusReason = 'state changed';
    await recordEvent(tx, stack, {
      action,
      status: 'IN_PROGRESS',
      reason: 'state changed',
      resource: { name: row.name, type: row.type, physicalId: row.physicalId },
    });
  }
  await tx.update(stackResources).set(set).where(eq(stackResources.id, row.id));
  await queueStep(tx, {
    stackId: stack.id,
    resourceId: row.id,
    generation: stack.generation,
    step,
    attempt: 0,
  });
}

/** Sets the stack's state and records the event. */
export async function setStackState(
  tx: Tx,
  stack: StackRow,
  action: StackRow['action'],
  status: StackRow['status'],
  reason: string,
  extra: Partial<typeof stacks.$inferInsert> = {},
): Promise<StackRow> {
  const [row] = await tx
    .update(stacks)
    .set({ action, status, statusReason: reason, ...extra })
    .where(eq(stacks.id, stack.id))
    .returning();
  await recordEvent(tx, row, { action, status, reason });
  return row;
}

async function finishAction(tx: Tx, stack: StackRow): Promise<void> {
  const action = stack.action;
  if (action === 'DELETE') {
    await setStackState(tx, stack, 'DELETE', 'COMPLETE', 'Stack DELETE completed successfully');
    // The stack is gone: its resources and events rows go with it (cascade).
    await tx.delete(stacks).where(eq(stacks.id, stack.id));
    return;
  }
  await setStackState(tx, stack, action, 'COMPLETE', `Stack ${action} completed successfully`, {
    previousDefinition: null,
  });
}

/** Rows of the stack that hold the given names now (for property resolution). */
export async function rowsByName(
  tx: DbOrTx,
  stackId: string,
  names: readonly string[],
): Promise<Map<string, StackResourceRow>> {
  if (names.length === 0) return new Map();
  const rows = await tx
    .select()
    .from(stackResources)
    .where(and(eq(stackResources.stackId, stackId), inArray(stackResources.name, [...names])));
  return currentRows(rows);
}
