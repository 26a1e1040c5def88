import { and, eq } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import { baremetalNodes } from '../../db/tables';
import { publishEvent, type StratusEvent } from '../events';
import type { NodeRow } from './states';

/** Events of nodes: admin-only (projectId null), carrying the row without its sealed password. */
export const NODE_RESOURCE = 'node';

const DATES = ['createdAt', 'updatedAt', 'syncLeaseUntil', 'lastSyncedAt'] as const;

export function publishNodeEvent(tx: Tx, kind: string, row: NodeRow): Promise<StratusEvent> {
  const { bmcPasswordSealed: _sealed, ...rest } = row;
  return publishEvent(tx, {
    kind,
    projectId: null,
    resourceType: NODE_RESOURCE,
    resourceId: row.id,
    payload: {
      ...rest,
      ...Object.fromEntries(DATES.map((f) => [f, row[f]?.toISOString() ?? null])),
    },
  });
}

/** The row a node event carried (its sealed password withheld: events never carry it). */
export function nodeFromEvent(event: StratusEvent): NodeRow {
  const p = event.payload as Record<string, unknown>;
  const date = (v: unknown) => (typeof v === 'string' ? new Date(v) : null);
  return {
    ...(p as unknown as NodeRow),
    bmcPasswordSealed: '(withheld)',
    createdAt: new Date(p.createdAt as string),
    updatedAt: new Date(p.updatedAt as string),
    syncLeaseUntil: date(p.syncLeaseUntil),
    lastSyncedAt: date(p.lastSyncedAt),
  };
}

/**
 * Changes the node only while `reservation` (the job's operation) still holds it, and
 * publishes the row; null when an abort or another change took the node from the job.
 */
export async function moveNode(
  tx: Tx,
  id: string,
  reservation: string,
  set: Partial<typeof baremetalNodes.$inferInsert>,
): Promise<NodeRow | null> {
  const [row] = await tx
    .update(baremetalNodes)
    .set(set)
    .where(and(eq(baremetalNodes.id, id), eq(baremetalNodes.reservation, reservation)))
    .returning();
  if (row) await publishNodeEvent(tx, 'NODE_UPDATED', row);
  return row ?? null;
}
