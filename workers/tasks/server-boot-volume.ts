import { eq, sql } from 'drizzle-orm';
import { images, volumes } from '../../db/tables';
import type { KernelSpec, VolumeRootDiskSpec } from '../../drivers/compute/types';
import type { BootVolumeJobInput } from '../../resolvers/compute/boot-volume';
import { BUILD_JOB, onHost } from '../../resolvers/compute/jobs';
import type { ServerRow } from '../../resolvers/compute/server-states';
import type { OperationRow } from '../../resolvers/operations';
import type { Runtime } from '../../resolvers/runtime';
import { claimBootVolume } from '../../resolvers/volumes/boot';
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
  await rt.db.execute(
    sql`select graphile_worker.add_job(${onHost(BUILD_JOB, hostname)}, ${JSON.stringify({ operationId: op.id })}::json, run_at => now() + ${`${RECHECK_SECONDS} seconds`}::interval, max_attempts => 1)`,
  );
  throw new BuildDeferredError(`waiting for boot volume ${boot.volumeId}`);
}

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
