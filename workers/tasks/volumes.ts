import { and, eq } from 'drizzle-orm';
import type { Database, Tx } from '../../db/connection';
import {
  images,
  operations,
  volumeAttachments,
  volumeSnapshots,
  volumes,
  volumeTypes,
} from '../../db/tables';
import { VolumeDetachTimeoutError, VolumeNotAttachedError } from '../../drivers/compute/errors';
import { enterStage, finishOperation, type OperationRow } from '../../resolvers/operations';
import type { Runtime } from '../../resolvers/runtime';
import type { VolumeBackend } from '../../resolvers/volumes/backend';
import { publishSnapshotEvent, publishVolumeEvent } from '../../resolvers/volumes/events';
import { hotplugUnsupported } from '../../resolvers/volumes/hotplug';
import { releaseVolumeQuota } from '../../resolvers/volumes/quotas';
import {
  moveSnapshot,
  moveVolume,
  VolumeSupersededError,
  volumeFault,
} from '../../resolvers/volumes/states';

const GIB = 1024 ** 3;

/** A job failure with the code its operation reports. */
class VolumeJobError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The operation's code for `error`: the driver's own (VOLUME_COMMAND_FAILED, ...) or `fallback`. */
function codeOf(error: unknown, fallback: string): string {
  if (error instanceof VolumeJobError) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : fallback;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A job's failure handler for work that leaves nothing to undo: the volume or snapshot goes
 * from `from` to `error` with the fault, and the operation fails with the code.
 */
function toError<S extends string>(
  db: Database,
  move: (
    tx: Tx,
    id: string,
    expect: readonly S[],
    set: { status: 'error'; fault: ReturnType<typeof volumeFault> },
  ) => Promise<unknown>,
  id: string,
  from: S,
  fallbackCode: string,
) {
  return async (error: unknown): Promise<string> => {
    const code = codeOf(error, fallbackCode);
    await db.transaction((tx) =>
      move(tx, id, [from], { status: 'error', fault: volumeFault(code, messageOf(error)) }),
    );
    return code;
  };
}

export interface VolumeJobs {
  hostname: string;
  backendName: string;
  create(operationId: string): Promise<void>;
  delete(operationId: string): Promise<void>;
  extend(operationId: string): Promise<void>;
  snapshot(operationId: string): Promise<void>;
  deleteSnapshot(operationId: string): Promise<void>;
  /** Attach and detach need this process's compute agent (QEMU is here). */
  attach(operationId: string): Promise<void>;
  detach(operationId: string): Promise<void>;
}

/**
 * The jobs behind the volume mutations. Each moves its volume (or snapshot) on only from the
 * status its mutation set (moveVolume), so a record repaired or changed meanwhile is left
 * alone, and each failure lands in a status with a fault, never in a transitional one.
 */
export function volumeJobs(rt: Runtime, backend: VolumeBackend): VolumeJobs {
  const db = rt.db;
  const d = backend.driver;

  async function loadOp(operationId: string) {
    const [op] = await db.select().from(operations).where(eq(operations.id, operationId));
    return { op, input: op.input as Record<string, unknown> & { volumeId: string } };
  }

  async function superseded(op: OperationRow): Promise<void> {
    await finishOperation(db, op.id, {
      errorCode: 'SUPERSEDED',
      errorMessage: 'The volume changed while this operation ran (deleted or repaired)',
    });
  }

  /** Runs `body`; a superseded record ends the operation as such, other failures through `onError`. */
  async function guarded(
    op: OperationRow,
    body: () => Promise<Record<string, unknown>>,
    onError: (error: unknown) => Promise<string>,
  ): Promise<void> {
    try {
      const result = await body();
      await finishOperation(db, op.id, { result });
    } catch (error) {
      if (error instanceof VolumeSupersededError) return superseded(op);
      rt.logger.warn({ err: error, operationId: op.id }, 'volume operation failed');
      let code: string;
      try {
        code = await onError(error);
      } catch (repairError) {
        if (repairError instanceof VolumeSupersededError) return superseded(op);
        throw repairError;
      }
      await finishOperation(db, op.id, { errorCode: code, errorMessage: messageOf(error) });
    }
  }

  async function typeName(typeId: string): Promise<string> {
    const [t] = await db
      .select({ name: volumeTypes.name })
      .from(volumeTypes)
      .where(eq(volumeTypes.id, typeId));
    return t.name;
  }

  async function create(operationId: string): Promise<void> {
    const { op, input } = await loadOp(operationId);
    const id = input.volumeId;
    await guarded(
      op,
      async () => {
        await enterStage(db, op.id, 0);
        const row = await db.transaction((tx) =>
          moveVolume(tx, id, ['creating'], { host: backend.hostname }),
        );
        if (row.sourceImageId) {
          const [image] = await db.select().from(images).where(eq(images.id, row.sourceImageId));
          if (image?.status !== 'active' || !image.storageKey) {
            throw new VolumeJobError(
              'IMAGE_UNAVAILABLE',
              `Image ${row.sourceImageId} is no longer available`,
            );
          }
          const imagePath = await backend.imageCache.ensure(image);
          await d.createFromImage({
            volumeId: id,
            sizeGib: row.sizeGib,
            imagePath,
            imageFormat: image.diskFormat === 'qcow2' ? 'qcow2' : 'raw',
          });
        } else if (row.sourceSnapshotId) {
          await d.createFromSnapshot({
            volumeId: id,
            sizeGib: row.sizeGib,
            snapshotId: row.sourceSnapshotId,
          });
        } else {
          await d.create({ volumeId: id, sizeGib: row.sizeGib });
        }
        await db.transaction((tx) => moveVolume(tx, id, ['creating'], { status: 'available' }));
        return { volumeId: id };
      },
      toError(db, moveVolume, id, 'creating', 'VOLUME_CREATE_FAILED'),
    );
  }

  async function remove(operationId: string): Promise<void> {
    const { op, input } = await loadOp(operationId);
    const id = input.volumeId;
    await guarded(
      op,
      async () => {
        await enterStage(db, op.id, 0);
        const [row] = await db.select().from(volumes).where(eq(volumes.id, id));
        if (row?.status !== 'deleting') throw new VolumeSupersededError('not deleting');
        await d.delete(id, { cascade: input.cascade === true });
        await db.transaction(async (tx) => {
          const snaps = await tx
            .select()
            .from(volumeSnapshots)
            .where(eq(volumeSnapshots.volumeId, id));
          // Its snapshot rows go with it (foreign key cascade); their quota goes back too.
          const [gone] = await tx
            .delete(volumes)
            .where(and(eq(volumes.id, id), eq(volumes.status, 'deleting')))
            .returning();
          if (!gone) throw new VolumeSupersededError('not deleting');
          await releaseVolumeQuota(tx, gone.projectId, await typeName(gone.volumeTypeId), {
            volumes: 1,
            snapshots: snaps.length,
            gigabytes: gone.sizeGib + snaps.reduce((sum, s) => sum + s.sizeGib, 0),
          });
          for (const snap of snaps) {
            await publishSnapshotEvent(tx, 'VOLUME_SNAPSHOT_DELETED', snap);
          }
          await publishVolumeEvent(tx, 'VOLUME_DELETED', gone);
        });
        return { volumeId: id };
      },
      async (error) => {
        const code = codeOf(error, 'VOLUME_DELETE_FAILED');
        await db.transaction(async (tx) => {
          await moveVolume(tx, id, ['deleting'], {
            status: 'error_deleting',
            fault: volumeFault(code, messageOf(error)),
          });
          const snaps = await tx
            .update(volumeSnapshots)
            .set({ status: 'error' })
            .where(and(eq(volumeSnapshots.volumeId, id), eq(volumeSnapshots.status, 'deleting')))
            .returning();
          for (const s of snaps) await publishSnapshotEvent(tx, 'VOLUME_SNAPSHOT_UPDATED', s);
        });
        return code;
      },
    );
  }

  /** The status an attached-or-not volume rests in. */
  async function restingStatus(volumeId: string): Promise<'in-use' | 'available'> {
    const [a] = await db
      .select({ id: volumeAttachments.id })
      .from(volumeAttachments)
      .where(eq(volumeAttachments.volumeId, volumeId));
    return a ? 'in-use' : 'available';
  }

  function hotplug() {
    const agent = rt.compute;
    if (!agent) {
      throw new VolumeJobError('COMPUTE_UNAVAILABLE', 'This process runs no compute host');
    }
    const why = hotplugUnsupported(agent.driver);
    if (why) throw new VolumeJobError('HOTPLUG_UNSUPPORTED', why);
    return { agent, h: agent.driver };
  }

  async function extend(operationId: string): Promise<void> {
    const { op, input } = await loadOp(operationId);
    const id = input.volumeId;
    const newSizeGib = input.newSizeGib as number;
    const oldSizeGib = input.oldSizeGib as number;
    const serverId = (input.serverId as string | null) ?? null;
    let grown = false;
    const work = async () => {
      await enterStage(db, op.id, 0);
      if (serverId) {
        const { agent, h } = hotplug();
        await agent.withServer(serverId, async () => {
          // A file volume open in QEMU is grown by QEMU itself (qemu-img would hit its lock);
          // a block device is grown by the backend first, then QEMU and the guest are told.
          if (d.info().name !== 'file') {
            await d.extend(id, newSizeGib);
            grown = true;
          }
          await enterStage(db, op.id, 1);
          await h.extendVolume(serverId, id, newSizeGib * GIB);
          grown = true;
        });
      } else {
        await d.extend(id, newSizeGib);
        grown = true;
      }
      const status = await restingStatus(id);
      await db.transaction((tx) =>
        moveVolume(tx, id, ['extending'], { status, sizeGib: newSizeGib }),
      );
      return { volumeId: id, sizeGib: newSizeGib };
    };
    await guarded(op, work, async (error) => {
      const code = codeOf(error, 'VOLUME_EXTEND_FAILED');
      const status = await restingStatus(id);
      await db.transaction(async (tx) => {
        const row = await moveVolume(tx, id, ['extending'], {
          status,
          // Grown in the backend but the guest was not told: the size is the new one.
          sizeGib: grown ? newSizeGib : oldSizeGib,
          fault: volumeFault(code, messageOf(error)),
        });
        if (!grown) {
          await releaseVolumeQuota(tx, row.projectId, await typeName(row.volumeTypeId), {
            gigabytes: newSizeGib - oldSizeGib,
          });
        }
      });
      return code;
    });
  }

  async function attach(operationId: string): Promise<void> {
    const { op, input } = await loadOp(operationId);
    const id = input.volumeId;
    const serverId = input.serverId as string;
    const attachmentId = input.attachmentId as string;
    await guarded(
      op,
      async () => {
        const { agent, h } = hotplug();
        return agent.withServer(serverId, async () => {
          await enterStage(db, op.id, 0);
          const connection = await d.connectionInfo(id);
          await enterStage(db, op.id, 1);
          const { device } = await h.attachVolume(serverId, { volumeId: id, ...connection });
          await db.transaction(async (tx) => {
            const [a] = await tx
              .update(volumeAttachments)
              .set({ status: 'attached', device, attachedAt: new Date() })
              .where(eq(volumeAttachments.id, attachmentId))
              .returning();
            if (!a) throw new VolumeSupersededError('attachment gone (server deleted?)');
            await moveVolume(tx, id, ['attaching'], { status: 'in-use' });
          });
          return { volumeId: id, serverId, device };
        });
      },
      async (error) => {
        const code = codeOf(error, 'ATTACH_FAILED');
        await db.transaction(async (tx) => {
          await tx.delete(volumeAttachments).where(eq(volumeAttachments.id, attachmentId));
          await moveVolume(tx, id, ['attaching'], {
            status: 'available',
            fault: volumeFault(code, messageOf(error)),
          });
        });
        return code;
      },
    );
  }

  async function detach(operationId: string): Promise<void> {
    const { op, input } = await loadOp(operationId);
    const id = input.volumeId;
    const serverId = input.serverId as string;
    const attachmentId = input.attachmentId as string;
    await guarded(
      op,
      async () => {
        const { agent, h } = hotplug();
        return agent.withServer(serverId, async () => {
          await enterStage(db, op.id, 0);
          await h
            .detachVolume(serverId, id, { timeoutMs: backend.detachTimeoutMs })
            .catch((error: unknown) => {
              // Already gone from the instance: the records catch up.
              if (error instanceof VolumeNotAttachedError) return;
              throw error;
            });
          await db.transaction(async (tx) => {
            await tx.delete(volumeAttachments).where(eq(volumeAttachments.id, attachmentId));
            await moveVolume(tx, id, ['detaching'], { status: 'available' });
          });
          return { volumeId: id, serverId };
        });
      },
      async (error) => {
        const timedOut = error instanceof VolumeDetachTimeoutError;
        const code = timedOut ? 'DETACH_TIMEOUT' : codeOf(error, 'DETACH_FAILED');
        const message = timedOut
          ? `The guest did not release the device within ${backend.detachTimeoutMs} ms; the volume is still attached`
          : messageOf(error);
        await db.transaction(async (tx) => {
          await tx
            .update(volumeAttachments)
            .set({ status: 'attached' })
            .where(eq(volumeAttachments.id, attachmentId));
          await moveVolume(tx, id, ['detaching'], {
            status: 'in-use',
            fault: volumeFault(code, message),
          });
        });
        return code;
      },
    );
  }

  async function snapshot(operationId: string): Promise<void> {
    const { op, input } = await loadOp(operationId);
    const snapshotId = input.snapshotId as string;
    await guarded(
      op,
      async () => {
        await enterStage(db, op.id, 0);
        await d.snapshot({ volumeId: input.volumeId, snapshotId });
        await db.transaction((tx) =>
          moveSnapshot(tx, snapshotId, ['creating'], { status: 'available' }),
        );
        return { snapshotId };
      },
      toError(db, moveSnapshot, snapshotId, 'creating', 'SNAPSHOT_FAILED'),
    );
  }

  async function deleteSnapshot(operationId: string): Promise<void> {
    const { op, input } = await loadOp(operationId);
    const snapshotId = input.snapshotId as string;
    await guarded(
      op,
      async () => {
        await enterStage(db, op.id, 0);
        await d.deleteSnapshot(snapshotId);
        await db.transaction(async (tx) => {
          const [gone] = await tx
            .delete(volumeSnapshots)
            .where(and(eq(volumeSnapshots.id, snapshotId), eq(volumeSnapshots.status, 'deleting')))
            .returning();
          if (!gone) throw new VolumeSupersededError('not deleting');
          const [volume] = await tx
            .select({ typeId: volumes.volumeTypeId })
            .from(volumes)
            .where(eq(volumes.id, gone.volumeId));
          await releaseVolumeQuota(tx, gone.projectId, await typeName(volume.typeId), {
            snapshots: 1,
            gigabytes: gone.sizeGib,
          });
          await publishSnapshotEvent(tx, 'VOLUME_SNAPSHOT_DELETED', gone);
        });
        return { snapshotId };
      },
      toError(db, moveSnapshot, snapshotId, 'deleting', 'SNAPSHOT_DELETE_FAILED'),
    );
  }

  return {
    hostname: backend.hostname,
    backendName: backend.backendName,
    create,
    delete: remove,
    extend,
    snapshot,
    deleteSnapshot,
    attach,
    detach,
  };
}
