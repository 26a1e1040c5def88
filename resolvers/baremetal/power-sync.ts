import { and, eq, inArray, isNull, lt, notInArray, or, sql } from 'drizzle-orm';
import { baremetalNodes } from '../../db/tables';
import type { PowerState } from '../../drivers/baremetal';
import type { Runtime } from '../runtime';
import { publishNodeEvent } from './events';
import { bmcOf } from './service';
import { type NodeRow, TRANSITIONAL } from './states';

/**
 * Ironic's periodic power-state sync: every interval, read the power state of each node not
 * in maintenance and not held by a job. A node is leased (sync_lease_until) for the round, so
 * only one process reads it at a time; no row lock is held while ipmitool runs.
 */

export interface SyncRound {
  /** Nodes this round read (leased). */
  nodes: number;
  /** Reads that failed. */
  failures: number;
  /** Rows that changed (and published an event). */
  changed: number;
  /** Nodes this round put into maintenance. */
  maintenance: number;
}

/** Ironic's SYNC_EXCLUDED_STATES: credentials not verified yet, or a job's wait. */
const SYNC_EXCLUDED = ['enroll', 'verifying', ...TRANSITIONAL] as const;

const SYNC_ERROR = 'power-state sync failed';

/** The lease outlives any bounded ipmitool run; a crashed process's lease simply expires. */
const LEASE_SECONDS = 120;

/** Runs one sync round over every eligible node. */
export async function syncPowerStates(rt: Runtime): Promise<SyncRound> {
  const service = rt.baremetal;
  const round: SyncRound = { nodes: 0, failures: 0, changed: 0, maintenance: 0 };
  if (!service) return round;
  const leased = await rt.db.transaction(async (tx) => {
    const free = tx
      .select({ id: baremetalNodes.id })
      .from(baremetalNodes)
      .where(
        and(
          eq(baremetalNodes.maintenance, false),
          isNull(baremetalNodes.reservation),
          notInArray(baremetalNodes.provisionState, [...SYNC_EXCLUDED]),
          or(isNull(baremetalNodes.syncLeaseUntil), lt(baremetalNodes.syncLeaseUntil, sql`now()`)),
        ),
      )
      .for('update', { skipLocked: true });
    return tx
      .update(baremetalNodes)
      .set({ syncLeaseUntil: sql`now() + make_interval(secs => ${LEASE_SECONDS})` })
      .where(sql`${baremetalNodes.id} in ${free}`)
      .returning();
  });
  round.nodes = leased.length;
  let next = 0;
  const worker = async () => {
    while (next < leased.length) {
      const node = leased[next++];
      let state: PowerState | null = null;
      let error: string | null = null;
      try {
        state = await service.driver.powerState(bmcOf(service, node));
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
        round.failures++;
      }
      // A read that changes nothing is only released, with the others, in one statement.
      if (state && !changes(node, state)) {
        quiet.push(node.id);
        continue;
      }
      const outcome = await recordRead(rt, node, state, error);
      if (outcome.changed) round.changed++;
      if (outcome.maintenance) round.maintenance++;
    }
  };
  const width = Math.min(service.config.syncConcurrency, leased.length);
  const quiet: string[] = [];
  await Promise.all(Array.from({ length: width }, worker));
  if (quiet.length > 0) {
    await rt.db
      .update(baremetalNodes)
      .set({ syncLeaseUntil: null, lastSyncedAt: new Date() })
      .where(inArray(baremetalNodes.id, quiet));
  }
  return round;
}

/** Whether a good read differs from what the node says (state, or a sync failure to clear). */
function changes(node: NodeRow, state: PowerState): boolean {
  return (
    node.powerState !== state || node.syncFailures > 0 || !!node.lastError?.startsWith(SYNC_ERROR)
  );
}

/**
 * Writes one read under the row lock: a good read sets the state and clears the failures; a
 * failed one sets `unknown` with the error, and the Nth in a row sets maintenance. A node
 * that a job or an operator took meanwhile only loses its lease.
 */
async function recordRead(
  rt: Runtime,
  leased: NodeRow,
  state: PowerState | null,
  error: string | null,
): Promise<{ changed: boolean; maintenance: boolean }> {
  const limit = rt.baremetal?.config.syncFailures ?? 3;
  return rt.db.transaction(async (tx) => {
    const [node] = await tx
      .select()
      .from(baremetalNodes)
      .where(eq(baremetalNodes.id, leased.id))
      .for('update');
    if (!node) return { changed: false, maintenance: false };
    const base = { syncLeaseUntil: null, lastSyncedAt: new Date() };
    let set: Partial<typeof baremetalNodes.$inferInsert> = base;
    let maintenance = false;
    if (!node.maintenance && !node.reservation) {
      if (state) {
        if (changes(node, state)) {
          set = {
            ...base,
            powerState: state,
            syncFailures: 0,
            lastError: node.lastError?.startsWith(SYNC_ERROR) ? null : node.lastError,
          };
        }
      } else {
        const failures = node.syncFailures + 1;
        maintenance = failures >= limit;
        set = {
          ...base,
          powerState: 'unknown',
          syncFailures: failures,
          lastError: `${SYNC_ERROR}: ${error}`,
          ...(maintenance
            ? {
                maintenance: true,
                maintenanceReason: `power-state sync failed ${failures} times in a row: ${error}`,
              }
            : {}),
        };
      }
    }
    const [row] = await tx
      .update(baremetalNodes)
      .set(set)
      .where(eq(baremetalNodes.id, node.id))
      .returning();
    const changed = Object.keys(set).length > Object.keys(base).length;
    if (changed) await publishNodeEvent(tx, 'NODE_UPDATED', row);
    return { changed, maintenance };
  });
}

/** Runs a round every interval until stopped; a round never overlaps the next. */
export function startPowerSync(rt: Runtime): () => Promise<void> {
  const interval = rt.baremetal?.config.syncIntervalMs ?? 60_000;
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  const tick = () => {
    if (stopped) return;
    running = syncPowerStates(rt)
      .catch((err) => rt.logger.warn({ err }, 'power-state sync round failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, interval);
      });
  };
  timer = setTimeout(tick, interval);
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await running;
  };
}
