import { eq, sql } from 'drizzle-orm';
import { images, volumeAttachments, volumeSnapshots, volumes } from '../../db/tables';
import type { KernelSpec, VolumeRootDiskSpec } from '../../drivers/compute/types';
import type { BootVolumeJobInput } from '../../resolvers/compute/boot-volume';
import { BUILD_JOB, onHost } from '../../resolvers/compute/jobs';
import type { ServerRow } from '../../resolvers/compute/server-states';
import { type OperationRow, startOperation } from '../../resolvers/operations';
import type { Runtime } from '../../resolvers/runtime';
import { claimBootVolume } from '../../resolvers/volumes/boot';
import { publishVolumeEvent } from '../../resolvers/volumes/events';
import { DELETE_JOB, DELETE_STAGES, volumeJobFor } from '../../resolvers/volumes/jobs';
import { JobError } from './server-job-kit';

/**
 * The build of a volume-backed server: waits for its boot volume without holding a worker
 * slot (the volume's create job runs in the same worker pool, so a build blocking there could
 * starve it), then claims the volume as the root disk.
 */

/** How long a build waits for its boot volume to become available. */
export const BOOT_VOLUME_WAIT_MS = 10 * 60_000;
/** How often the build looks again while the volume is being made. */
const RECHECK_SECONDS = 1;

/** The build ended for now: it runs again later from the same stage (a job is enqueued). */
export class BuildDeferredError extends Error {}

/** The boot volume in a build operation's input, if the server boots from one. */
export function bootVolumeOf(input: Record<string, unknown>): BootVolumeJobInput | null {
  const boot = input.bootVolume as BootVolumeJobInput | undefined;
  return boot?.volumeId ? boot : null;
}

/**
 * Returns when the boot volume is `available`. While it is still `creating` (and the wait is
 * within BOOT_VOLUME_WAIT_MS of the operation's start) it enqueues this host's build job to run
 * again in a second and throws BuildDeferredError. A volume in error, gone, or in any other
 * state fails the build with VOLUME_FAILED.
 */
export async function awaitBootVolume(
  rt: Runtime,
  op: OperationRow,
  hostname: string,
  boot: BootVolumeJobInput,
): Promise<void> {
  const [row] = await rt.db
    .select({ status: volumes.status, fault: volumes.fault })
    .from(volumes)
    .where(eq(volumes.id, boot.volumeId));
  if (row?.status === 'available') return;
  if (!row) throw new JobError('VOLUME_FAILED', `Boot volume ${boot.volumeId} was deleted`);
  if (row.status === 'error') {
    throw new JobError(
      'VOLUME_FAILED',
      `Boot volume ${boot.volumeId} failed: ${row.fault?.message ?? 'creating it failed'}`,
    );
  }
  if (row.status !== 'creating') {
    throw new JobError(
      'VOLUME_FAILED',
      `Boot volume ${boot.volumeId} is ${row.status}, not available`,
    );
  }
  if (Date.now() - op.createdAt.getTime() > BOOT_VOLUME_WAIT_MS) {
    throw new JobError(
      'VOLUME_FAILED',
      `Boot volume ${boot.volumeId} was not available within ${BOOT_VOLUME_WAIT_MS / 60_000} minutes`,
    );
  }
  await runBuildAgain(rt, op, hostname);
  throw new BuildDeferredError(`waiting for boot volume ${boot.volumeId}`);
}

/** Enqueues this host's build job for `op` to run again in RECHECK_SECONDS. */
async function runBuildAgain(rt: Runtime, op: OperationRow, hostname: string): Promise<void> {
  await rt.db.execute(
    sql`select graphile_worker.add_job(${onHost(BUILD_JOB, hostname)}, ${JSON.stringify({ operationId: op.id })}::json, run_at => now() + ${`${RECHECK_SECONDS} seconds`}::interval, max_attempts => 1)`,
  );
}

/**
 * A build that ended without the server holding its boot volume (it failed, or the server was
 * deleted meanwhile) lets go of the volume as Nova's build cleanup does: a delete-on-termination
 * volume is deleted once it settles (available or error; not when it has snapshots or another
 * server holds it), any other stays as it is. While the volume is still being made, the build
 * job runs again later (its operation has ended: that run only comes back here).
 */
export async function releaseUnclaimedBootVolume(
  rt: Runtime,
  op: OperationRow,
  hostname: string,
  boot: BootVolumeJobInput,
): Promise<void> {
  if (!boot.deleteOnTermination) return;
  const later = await rt.db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(volumes)
      .where(eq(volumes.id, boot.volumeId))
      .for('update');
    if (!row) return false;
    const [held] = await tx
      .select({ id: volumeAttachments.id })
      .from(volumeAttachments)
      .where(eq(volumeAttachments.volumeId, row.id));
    // Claimed: the server's delete releases it (releaseServerVolumes), or another server has it.
    if (held) return false;
    if (row.status === 'creating') {
      return Date.now() - op.createdAt.getTime() < 2 * BOOT_VOLUME_WAIT_MS;
    }
    if (row.status !== 'available' && row.status !== 'error') return false;
    const [snap] = await tx
      .select({ id: volumeSnapshots.id })
      .from(volumeSnapshots)
      .where(eq(volumeSnapshots.volumeId, row.id))
      .limit(1);
    if (snap) return false;
    const [updated] = await tx
      .update(volumes)
      .set({ status: 'deleting' })
      .where(eq(volumes.id, row.id))
      .returning();
    await startOperation(tx, {
      kind: DELETE_JOB,
      jobName: volumeJobFor(DELETE_JOB, row.host),
      projectId: row.projectId,
      createdByUserId: op.createdByUserId,
      resourceType: 'Volume',
      resourceId: row.id,
      stageNames: DELETE_STAGES,
      input: { volumeId: row.id, cascade: false },
    });
    await publishVolumeEvent(tx, 'VOLUME_UPDATED', updated);
    return false;
  });
  if (later) await runBuildAgain(rt, op, hostname);
}

/** Whether the operation has ended (a build job run after that only releases the boot volume). */
export const operationEnded = (op: OperationRow) =>
  op.status === 'SUCCEEDED' || op.status === 'FAILED' || op.status === 'CANCELLED';

/**
 * Claims the boot volume for the server (in-use, attached on /dev/vda) and returns the root
 * disk and kernel the spawn uses. The kernel and ramdisk are the server's (the companions of
 * the volume's image, fetched into `paths`); the command line is that image's.
 */
export async function bootVolumeDisk(
  rt: Runtime,
  server: ServerRow,
  boot: BootVolumeJobInput,
  paths: Map<string, string>,
): Promise<{ rootDisk: VolumeRootDiskSpec; kernel: KernelSpec | undefined }> {
  const volume = await claimBootVolume(
    rt,
    boot.volumeId,
    server.id,
    boot.deleteOnTermination,
  ).catch((error: unknown) => {
    throw new JobError(
      'VOLUME_FAILED',
      `Claiming boot volume ${boot.volumeId}: ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  const [image] = boot.imageId
    ? await rt.db.select().from(images).where(eq(images.id, boot.imageId))
    : [];
  const kernel: KernelSpec | undefined = server.kernelImageId
    ? {
        kernelPath: paths.get(server.kernelImageId)!,
        initrdPath: server.ramdiskImageId ? paths.get(server.ramdiskImageId) : undefined,
        cmdline: image?.properties.os_command_line,
      }
    : undefined;
  return {
    rootDisk: { volume: { volumeId: volume.volumeId, driver: volume.driver, path: volume.path } },
    kernel,
  };
}
