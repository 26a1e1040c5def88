import { and, desc, eq, inArray } from 'drizzle-orm';
import type { Database } from '../../db/connection';
import { operations, volumeAttachments, volumeSnapshots, volumes } from '../../db/tables';
import type { Logger } from '../../server/logger';
import type { ComputeAgent } from '../compute/compute-agent';
import { finishOperation } from '../operations';
import { publishSnapshotEvent, publishVolumeEvent, type VolumeRow } from './events';
import { VOLUME_TRANSITIONAL, volumeFault } from './states';

export interface VolumeReconcileReport {
  repairedVolumes: string[];
  repairedSnapshots: string[];
}

/** The latest operation on a resource, if it was running (its job died with the process). */
async function interruptedOperation(db: Database, resourceId: string) {
  const [op] = await db
    .select()
    .from(operations)
    .where(eq(operations.resourceId, resourceId))
    .orderBy(desc(operations.createdAt))
    .limit(1);
  return op?.status === 'RUNNING' ? op : null;
}

/**
 * At start, before the worker runs: volumes and snapshots of this host left in a transitional
 * status by a job that was running when the process stopped are settled with a fault (as the
 * compute agent repairs builds). A job still queued is left to run. Attach and detach ask the
 * hypervisor what the guest really has.
 */
export async function reconcileVolumes(
  db: Database,
  hostname: string,
  agent: ComputeAgent | null,
  logger: Logger,
): Promise<VolumeReconcileReport> {
  const report: VolumeReconcileReport = { repairedVolumes: [], repairedSnapshots: [] };
  const stuck = await db
    .select()
    .from(volumes)
    .where(and(eq(volumes.host, hostname), inArray(volumes.status, [...VOLUME_TRANSITIONAL])));
  for (const row of stuck) {
    const op = await interruptedOperation(db, row.id);
    if (!op) continue;
    const [attachment] = await db
      .select()
      .from(volumeAttachments)
      .where(eq(volumeAttachments.volumeId, row.id));
    const inGuest = attachment ? await attachedInGuest(agent, attachment.serverId, row.id) : false;
    const fault = volumeFault(
      'INTERRUPTED',
      `Stratus stopped while the volume was ${row.status}; the operation did not finish`,
    );
    await db.transaction(async (tx) => {
      const set: Partial<VolumeRow> = { fault };
      if (row.status === 'creating') set.status = 'error';
      else if (row.status === 'deleting') set.status = 'error_deleting';
      else if (attachment && (inGuest || row.status === 'extending')) {
        set.status = 'in-use';
        await tx
          .update(volumeAttachments)
          .set({ status: 'attached' })
          .where(eq(volumeAttachments.id, attachment.id));
      } else {
        set.status = 'available';
        if (attachment) {
          await tx.delete(volumeAttachments).where(eq(volumeAttachments.id, attachment.id));
        }
      }
      const [updated] = await tx
        .update(volumes)
        .set(set)
        .where(and(eq(volumes.id, row.id), eq(volumes.status, row.status)))
        .returning();
      if (updated) await publishVolumeEvent(tx, 'VOLUME_UPDATED', updated);
    });
    await finishOperation(db, op.id, { errorCode: 'INTERRUPTED', errorMessage: fault.message });
    report.repairedVolumes.push(row.id);
  }
  const snaps = await db
    .select({ snap: volumeSnapshots })
    .from(volumeSnapshots)
    .innerJoin(volumes, eq(volumes.id, volumeSnapshots.volumeId))
    .where(
      and(eq(volumes.host, hostname), inArray(volumeSnapshots.status, ['creating', 'deleting'])),
    );
  for (const { snap } of snaps) {
    const op = await interruptedOperation(db, snap.id);
    if (!op) continue;
    const fault = volumeFault(
      'INTERRUPTED',
      `Stratus stopped while the snapshot was ${snap.status}`,
    );
    await db.transaction(async (tx) => {
      const [updated] = await tx
        .update(volumeSnapshots)
        .set({ status: 'error', fault })
        .where(and(eq(volumeSnapshots.id, snap.id), eq(volumeSnapshots.status, snap.status)))
        .returning();
      if (updated) await publishSnapshotEvent(tx, 'VOLUME_SNAPSHOT_UPDATED', updated);
    });
    await finishOperation(db, op.id, { errorCode: 'INTERRUPTED', errorMessage: fault.message });
    report.repairedSnapshots.push(snap.id);
  }
  if (report.repairedVolumes.length || report.repairedSnapshots.length) {
    logger.warn(report, 'volumes left in progress by a stopped process were repaired');
  }
  return report;
}

/** Whether the hypervisor has the volume in the server's definition (false when it cannot say). */
async function attachedInGuest(
  agent: ComputeAgent | null,
  serverId: string,
  volumeId: string,
): Promise<boolean> {
  if (!agent?.driver.info().capabilities.volumes) return false;
  const ids = await agent.driver.attachedVolumes(serverId).catch(() => [] as string[]);
  return ids.includes(volumeId);
}
