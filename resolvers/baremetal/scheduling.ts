import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import { baremetalNodes } from '../../db/tables';
import { inTransaction, type Runtime } from '../runtime';
import { publishNodeEvent } from './events';
import { lockNode } from './nodes';
import { type NodeChange, startVerb } from './provision';
import type { NodeRow } from './states';

/** For compute (Nova's ironic driver): claim a node for a server, deploy it, release it. */

/**
 * Locks an available, non-maintenance, unclaimed node of `resourceClass` and marks it claimed
 * by `instanceId`; null when none is free. Concurrent claims skip each other's rows.
 */
export async function claimAvailableNode(
  tx: Tx,
  request: { resourceClass: string; instanceId: string },
): Promise<NodeRow | null> {
  const [free] = await tx
    .select()
    .from(baremetalNodes)
    .where(
      and(
        eq(baremetalNodes.provisionState, 'available'),
        eq(baremetalNodes.maintenance, false),
        eq(baremetalNodes.resourceClass, request.resourceClass),
        isNull(baremetalNodes.instanceId),
        isNull(baremetalNodes.reservation),
      ),
    )
    .orderBy(asc(baremetalNodes.createdAt), asc(baremetalNodes.id))
    .limit(1)
    .for('update', { skipLocked: true });
  if (!free) return null;
  const [row] = await tx
    .update(baremetalNodes)
    .set({ instanceId: request.instanceId })
    .where(eq(baremetalNodes.id, free.id))
    .returning();
  await publishNodeEvent(tx, 'NODE_UPDATED', row);
  return row;
}

/** Ends a server's claim on the node (after undeploy, or when the build gave up before deploy). */
export async function releaseNode(tx: Tx, nodeId: string): Promise<NodeRow | null> {
  const [row] = await tx
    .update(baremetalNodes)
    .set({ instanceId: null, instanceInfo: null })
    .where(eq(baremetalNodes.id, nodeId))
    .returning();
  if (row) await publishNodeEvent(tx, 'NODE_UPDATED', row);
  return row ?? null;
}

/** Starts the deploy of a claimed node, the same path as setProvisionState(deploy). */
export function deployNodeForServer(
  rt: Runtime,
  nodeId: string,
  request: { imageId: string; userData: string | null },
): Promise<NodeChange> {
  return inTransaction(rt, async (tx) => {
    const node = await lockNode(tx, nodeId);
    return startVerb(rt, tx, node, 'deploy', { ...request, userId: null });
  });
}
