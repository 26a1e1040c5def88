import { and, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { servers, volumeAttachments, volumeSnapshots, volumes } from '../../db/tables';
import { authorize } from '../authorize';
import { pendingBootOf } from '../compute/boot-volume';
import { ServerLockedError, ServerStateError } from '../compute/errors';
import { type ServerRow, serverStatus } from '../compute/server-states';
import { InvalidInputError, NotFoundError } from '../errors';
import { canSeeProject, isAdmin } from '../identity/auth-context';
import { startOperation } from '../operations';
import type { Runtime, ServiceContext } from '../runtime';
import { inTransaction } from '../runtime';
import { isUuid, parseInput } from '../validation';
import { ROOT_DEVICE } from './boot';
import { VolumeStateError } from './errors';
import { type AttachmentRow, publishVolumeEvent, type VolumeRow } from './events';
import { requireHotplug } from './hotplug';
import {
  ATTACH_JOB,
  ATTACH_STAGES,
  DELETE_JOB,
  DELETE_STAGES,
  DETACH_JOB,
  DETACH_STAGES,
  volumeJobFor,
} from './jobs';
import { checkVolumeStatus } from './states';
import {
  checkNoSnapshotInProgress,
  lockVolume,
  requireVolumes,
  type StartedVolume,
  startVolumeJob,
} from './volumes';

export type { AttachmentRow };

/** The server row locked for this transaction, if the caller may see it and it is not deleted. */
async function lockServer(ctx: ServiceContext, tx: Tx, id: string): Promise<ServerRow> {
  const [row] = isUuid(id)
    ? await tx.select().from(servers).where(eq(servers.id, id)).for('update')
    : [];
  if (!row || !canSeeProject(ctx.auth, row.projectId) || row.vmState === 'deleted') {
    throw new NotFoundError('server', id);
  }
  return row;
}

/** Volumes change on running servers only, unlocked (or by an admin), with no task in progress. */
function checkServerReady(ctx: ServiceContext, server: ServerRow, action: string): void {
  if (server.locked && !isAdmin(ctx.auth))
    throw new ServerLockedError(server.id, server.lockedReason);
  if (server.vmState !== 'active' || server.taskState !== null) {
    throw new ServerStateError(
      server.id,
      action,
      serverStatus(server.vmState, server.taskState),
      server.taskState,
    );
  }
}

/**
 * For work on a volume that may be attached (extend): locks and checks the server it is
 * attached to, before the volume is locked (servers before volumes in every transaction).
 * Null when the volume is not attached. NotFoundError when the caller may not see the volume.
 */
export async function lockAttachedServer(
  ctx: ServiceContext,
  tx: Tx,
  volumeId: string,
  action: string,
): Promise<ServerRow | null> {
  const [found] = isUuid(volumeId)
    ? await tx
        .select({ projectId: volumes.projectId, serverId: volumeAttachments.serverId })
        .from(volumes)
        .leftJoin(volumeAttachments, eq(volumeAttachments.volumeId, volumes.id))
        .where(eq(volumes.id, volumeId))
    : [];
  if (!found || !canSeeProject(ctx.auth, found.projectId)) {
    throw new NotFoundError('volume', volumeId);
  }
  if (!found.serverId) return null;
  const server = await lockServer(ctx, tx, found.serverId);
  checkServerReady(ctx, server, action);
  requireHotplug(ctx, server, 'Extending an attached volume');
  return server;
}

const attachInput = z.object({
  volumeId: z.string(),
  serverId: z.string(),
  deleteOnTermination: z.boolean().nullish(),
});

/**
 * Attaches an available volume to an ACTIVE server of the same project, on the host that holds
 * the volume: `attaching` now, `in-use` once the job hot-plugged it into the guest.
 */
export async function attachVolume(ctx: ServiceContext, input: unknown): Promise<StartedVolume> {
  authorize(ctx, 'volume:attach');
  const data = parseInput(attachInput, input);
  requireVolumes(ctx);
  return inTransaction(ctx.rt, async (tx) => {
    const server = await lockServer(ctx, tx, data.serverId);
    const row = await lockVolume(ctx, tx, data.volumeId);
    if (row.projectId !== server.projectId) {
      throw new InvalidInputError(
        'input.volumeId',
        `Volume ${row.id} belongs to another project than server ${server.id}`,
      );
    }
    checkServerReady(ctx, server, 'attachVolume');
    checkVolumeStatus(row, 'attach');
    // Promised to a build that will boot from it (and has not claimed it yet).
    if (await pendingBootOf(tx, row.id)) {
      throw new VolumeStateError('volume', row.id, 'attach', 'attaching', ['available']);
    }
    await checkNoSnapshotInProgress(tx, row, 'attach');
    if (row.host !== server.host) {
      throw new InvalidInputError(
        'input.volumeId',
        `Volume ${row.id} is held by host ${row.host} and server ${server.id} runs on ${server.host}: a volume attaches only to servers on its host`,
      );
    }
    requireHotplug(ctx, server, 'Attaching volumes');
    const [attachment] = await tx
      .insert(volumeAttachments)
      .values({
        volumeId: row.id,
        serverId: server.id,
        status: 'attaching',
        deleteOnTermination: data.deleteOnTermination ?? false,
      })
      .returning();
    return startVolumeJob(ctx, tx, row, {
      status: 'attaching',
      kind: ATTACH_JOB,
      jobName: volumeJobFor(ATTACH_JOB, server.host),
      stages: ATTACH_STAGES,
      input: { serverId: server.id, attachmentId: attachment.id },
    });
  });
}

const detachInput = z.object({ volumeId: z.string(), serverId: z.string() });

/**
 * Detaches a volume from an ACTIVE server: `detaching`, then `available` once the guest let
 * go of the device, or `in-use` again with a fault when it did not within the timeout.
 */
export async function detachVolume(ctx: ServiceContext, input: unknown): Promise<StartedVolume> {
  authorize(ctx, 'volume:attach');
  const data = parseInput(detachInput, input);
  requireVolumes(ctx);
  return inTransaction(ctx.rt, async (tx) => {
    const server = await lockServer(ctx, tx, data.serverId);
    const row = await lockVolume(ctx, tx, data.volumeId);
    const [attachment] = await tx
      .select()
      .from(volumeAttachments)
      .where(and(eq(volumeAttachments.volumeId, row.id), eq(volumeAttachments.serverId, server.id)))
      .for('update');
    if (!attachment) {
      throw new InvalidInputError(
        'input.serverId',
        `Volume ${row.id} is not attached to server ${server.id}`,
      );
    }
    if (attachment.device === ROOT_DEVICE) {
      throw new InvalidInputError(
        'input.volumeId',
        `Volume ${row.id} is the root disk of server ${server.id} (booted from it) and cannot be detached`,
      );
    }
    checkServerReady(ctx, server, 'detachVolume');
    checkVolumeStatus(row, 'detach');
    requireHotplug(ctx, server, 'Detaching volumes');
    await tx
      .update(volumeAttachments)
      .set({ status: 'detaching' })
      .where(eq(volumeAttachments.id, attachment.id));
    return startVolumeJob(ctx, tx, row, {
      status: 'detaching',
      kind: DETACH_JOB,
      jobName: volumeJobFor(DETACH_JOB, server.host),
      stages: DETACH_STAGES,
      input: { serverId: server.id, attachmentId: attachment.id },
    });
  });
}

/** Attachments of each volume (at most one), for `Volume.attachments`. */
export async function attachmentsOfVolumes(
  rt: Runtime,
  volumeIds: readonly string[],
): Promise<AttachmentRow[][]> {
  const rows = volumeIds.length
    ? await rt.db
        .select()
        .from(volumeAttachments)
        .where(inArray(volumeAttachments.volumeId, [...volumeIds]))
    : [];
  return volumeIds.map((id) => rows.filter((r) => r.volumeId === id));
}

/** Attachments of each server, oldest first, for `Server.volumeAttachments`. */
export async function attachmentsOfServers(
  rt: Runtime,
  serverIds: readonly string[],
): Promise<AttachmentRow[][]> {
  const rows = serverIds.length
    ? await rt.db
        .select()
        .from(volumeAttachments)
        .where(inArray(volumeAttachments.serverId, [...serverIds]))
        .orderBy(volumeAttachments.createdAt)
    : [];
  return serverIds.map((id) => rows.filter((r) => r.serverId === id));
}

/**
 * A server is being deleted (its VM is gone): in the server's delete transaction, each of its
 * volumes is detached in the records (back to `available`), and those marked
 * delete-on-termination are deleted (a job each), unless they have snapshots, which Cinder
 * would refuse: those stay, available. Returns the volumes it deleted.
 */
export async function releaseServerVolumes(
  tx: Tx,
  serverId: string,
  userId: string | null,
): Promise<VolumeRow[]> {
  const attached = await tx
    .select()
    .from(volumeAttachments)
    .where(eq(volumeAttachments.serverId, serverId));
  const deleted: VolumeRow[] = [];
  for (const a of attached) {
    const [row] = await tx.select().from(volumes).where(eq(volumes.id, a.volumeId)).for('update');
    await tx.delete(volumeAttachments).where(eq(volumeAttachments.id, a.id));
    if (!row) continue;
    // An extend in flight keeps its status; its job settles it from the attachment (now gone).
    if (!['attaching', 'in-use', 'detaching'].includes(row.status)) continue;
    const [snap] = a.deleteOnTermination
      ? await tx
          .select({ id: volumeSnapshots.id })
          .from(volumeSnapshots)
          .where(eq(volumeSnapshots.volumeId, row.id))
          .limit(1)
      : [undefined];
    const removeIt = a.deleteOnTermination && !snap;
    const [updated] = await tx
      .update(volumes)
      .set({ status: removeIt ? 'deleting' : 'available' })
      .where(eq(volumes.id, row.id))
      .returning();
    if (removeIt) {
      await startOperation(tx, {
        kind: DELETE_JOB,
        jobName: volumeJobFor(DELETE_JOB, row.host),
        projectId: row.projectId,
        createdByUserId: userId,
        resourceType: 'Volume',
        resourceId: row.id,
        stageNames: DELETE_STAGES,
        input: { volumeId: row.id, cascade: false },
      });
      deleted.push(updated);
    }
    await publishVolumeEvent(tx, 'VOLUME_UPDATED', updated);
  }
  return deleted;
}
