import { and, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { operations, volumeSnapshots, volumes } from '../../db/tables';
import { authorize } from '../authorize';
import { InvalidInputError } from '../errors';
import type { ImageRow } from '../images/access';
import { loadImages } from '../images/images';
import type { ServiceContext } from '../runtime';
import { isUuid } from '../validation';
import { VolumeStateError } from '../volumes/errors';
import {
  loadVolumes,
  lockVolume,
  planImageVolume,
  planVolume,
  requireVolumes,
  startVolumeCreate,
  type VolumePlan,
  type VolumeRow,
} from '../volumes/volumes';
import type { FlavorRow } from './flavors';
import { BUILD_JOB } from './jobs';
import { bootableImage } from './servers';

/**
 * Boot from volume (Nova's block_device_mapping_v2, as far as Stratus goes): one mapping with
 * boot index 0 to a volume, made from an image or a volume snapshot (a new volume per server)
 * or an existing bootable volume. Checked outside createServer's transaction (`planBootVolume`), started in
 * it (`startBootVolume`); the build job waits for the volume and claims it as the root disk.
 */

export const blockDeviceMappingSchema = z.object({
  bootIndex: z.number().int().nullish(),
  sourceType: z.enum(['image', 'volume', 'snapshot', 'blank']),
  destinationType: z.enum(['volume', 'local']).nullish(),
  uuid: z.string().nullish(),
  volumeSize: z.number().int().nullish(),
  volumeTypeId: z.string().nullish(),
  deleteOnTermination: z.boolean().nullish(),
});
export type BlockDeviceMapping = z.infer<typeof blockDeviceMappingSchema>;

/** What the build job reads from its operation's input (`bootVolume`). */
export interface BootVolumeJobInput {
  volumeId: string;
  deleteOnTermination: boolean;
  /** The image the volume holds (its kernel command line), null when unknown. */
  imageId: string | null;
}

/** A checked boot volume request. */
export interface BootVolumePlan {
  deleteOnTermination: boolean;
  /** The image the volume holds or will hold (kernel_id/ramdisk_id/os_command_line), if known. */
  image: ImageRow | null;
  kernel: ImageRow | null;
  ramdisk: ImageRow | null;
  /** A new volume (from an image or a snapshot, one per server), or an existing one. */
  source: { kind: 'new'; plan: VolumePlan } | { kind: 'volume'; volume: VolumeRow };
}

const notYet = (field: string, what: string) =>
  new InvalidInputError(field, `${field}: ${what} is not supported yet`);

/** planVolume names its fields after createVolume's input; a mapping calls them otherwise. */
function renamed(error: unknown, prefix: string): unknown {
  if (!(error instanceof InvalidInputError) || !error.field.startsWith(`${prefix}.`)) return error;
  const names: Record<string, string> = {
    imageId: 'uuid',
    snapshotId: 'uuid',
    sizeGib: 'volumeSize',
  };
  const name = error.field.slice(prefix.length + 1);
  const to = names[name];
  if (!to) return error;
  return new InvalidInputError(
    `${prefix}.${to}`,
    error.message.replaceAll(`${prefix}.${name}`, `${prefix}.${to}`),
  );
}

/**
 * Checks the mappings (outside any transaction). Null when there are none. `imageId` is the
 * server's own image, if given: with an image source it must be the same image.
 */
export async function planBootVolume(
  ctx: ServiceContext,
  mappings: BlockDeviceMapping[],
  server: { projectId: string; imageId: string | null; count: number; flavor: FlavorRow },
): Promise<BootVolumePlan | null> {
  if (mappings.length === 0) return null;
  if (mappings.length > 1) {
    throw notYet('input.blockDeviceMappings.1', 'more than one block device mapping');
  }
  const prefix = 'input.blockDeviceMappings.0';
  const field = (name: string) => `${prefix}.${name}`;
  const bdm = mappings[0];
  if ((bdm.bootIndex ?? 0) !== 0) {
    throw notYet(field('bootIndex'), 'a mapping that is not the boot disk (bootIndex 0)');
  }
  if ((bdm.destinationType ?? 'volume') !== 'volume') {
    throw notYet(field('destinationType'), 'a local destination');
  }
  if (bdm.sourceType === 'blank') throw notYet(field('sourceType'), 'source type BLANK');
  if (!bdm.uuid) throw new InvalidInputError(field('uuid'), `${field('uuid')} is required`);
  requireVolumes(ctx);
  // The caller's own rights on volumes apply (Nova calls Cinder with the user's token).
  authorize(ctx, bdm.sourceType === 'volume' ? 'volume:attach' : 'volume:create');
  // The volume's size decides the root disk, not the flavor's (as Nova does for volume-backed).
  const flavor = { ramMib: server.flavor.ramMib, rootDiskGib: 0 };
  const deleteOnTermination = bdm.deleteOnTermination ?? false;
  if (bdm.sourceType === 'image') {
    if (server.imageId && server.imageId !== bdm.uuid) {
      throw new InvalidInputError(
        'input.imageId',
        `input.imageId names another image than ${field('uuid')}; give one image, or only the mapping`,
      );
    }
    const boot = await bootableImage(ctx, bdm.uuid, flavor, field('uuid'));
    const plan = await planImageVolume(
      ctx,
      { imageId: boot.image.id, sizeGib: bdm.volumeSize, volumeTypeId: bdm.volumeTypeId },
      prefix,
    ).catch((error: unknown) => {
      throw renamed(error, prefix);
    });
    return { ...boot, deleteOnTermination, source: { kind: 'new', plan } };
  }
  if (server.imageId) {
    throw new InvalidInputError(
      'input.imageId',
      `A server booted from a ${bdm.sourceType} has no image: leave input.imageId out`,
    );
  }
  if (bdm.sourceType === 'snapshot') {
    const imageId = await snapshotSourceImage(ctx, bdm.uuid, server.projectId, field('uuid'));
    const plan = await planVolume(
      ctx,
      { snapshotId: bdm.uuid, sizeGib: bdm.volumeSize, volumeTypeId: bdm.volumeTypeId },
      prefix,
    ).catch((error: unknown) => {
      throw renamed(error, prefix);
    });
    if (!plan.bootable) {
      throw new InvalidInputError(
        field('uuid'),
        `Snapshot ${bdm.uuid} is of a volume that is not bootable`,
      );
    }
    const boot = await companions(ctx, imageId, flavor, field('uuid'));
    return { ...boot, deleteOnTermination, source: { kind: 'new', plan } };
  }
  if (server.count > 1) {
    throw new InvalidInputError(
      'input.count',
      'One volume can boot only one server: use count 1, or an IMAGE source (a volume each)',
    );
  }
  for (const name of ['volumeSize', 'volumeTypeId'] as const) {
    if (bdm[name] != null) {
      throw new InvalidInputError(
        field(name),
        `${field(name)} is for an IMAGE source only; the volume keeps its own`,
      );
    }
  }
  const [volume] = await loadVolumes(ctx, [bdm.uuid]);
  // Another project's volume is not found, for admins too (a server uses its own project's).
  if (!volume || volume.projectId !== server.projectId) {
    throw new InvalidInputError(field('uuid'), `${field('uuid')}: no volume with id "${bdm.uuid}"`);
  }
  checkBootable(volume, field('uuid'));
  const boot = await companions(ctx, volume.sourceImageId, flavor, field('uuid'));
  return { ...boot, deleteOnTermination, source: { kind: 'volume', volume } };
}

/** The kernel and ramdisk of the image a volume was made from (an ami's companions), if any. */
async function companions(
  ctx: ServiceContext,
  imageId: string | null,
  flavor: Pick<FlavorRow, 'ramMib' | 'rootDiskGib'>,
  field: string,
) {
  const [image] = imageId ? await loadImages(ctx, [imageId]) : [null];
  return image?.status === 'active'
    ? bootableImage(ctx, image.id, flavor, field)
    : { image: null, kernel: null, ramdisk: null };
}

/** The image the snapshot's volume was made from; another project's snapshot is not found. */
async function snapshotSourceImage(
  ctx: ServiceContext,
  id: string,
  projectId: string,
  field: string,
): Promise<string | null> {
  const [row] = isUuid(id)
    ? await ctx.rt.db
        .select({ projectId: volumeSnapshots.projectId, imageId: volumes.sourceImageId })
        .from(volumeSnapshots)
        .innerJoin(volumes, eq(volumes.id, volumeSnapshots.volumeId))
        .where(eq(volumeSnapshots.id, id))
    : [];
  if (!row || row.projectId !== projectId) {
    throw new InvalidInputError(field, `${field}: no snapshot with id "${id}"`);
  }
  return row.imageId;
}

function checkBootable(volume: VolumeRow, field: string): void {
  if (volume.status !== 'available') {
    throw new VolumeStateError('volume', volume.id, 'boot a server from', volume.status, [
      'available',
    ]);
  }
  if (!volume.bootable) {
    throw new InvalidInputError(field, `Volume ${volume.id} is not bootable`);
  }
}

/**
 * In createServer's transaction, for one server: an image source makes its volume (quota,
 * row in `creating`, create job); a volume source is checked again under its row lock.
 * Returns what the build job needs.
 */
export async function startBootVolume(
  ctx: ServiceContext,
  tx: Tx,
  plan: BootVolumePlan,
  projectId: string,
): Promise<BootVolumeJobInput> {
  const base = { deleteOnTermination: plan.deleteOnTermination, imageId: plan.image?.id ?? null };
  if (plan.source.kind === 'new') {
    const { volume } = await startVolumeCreate(ctx, tx, plan.source.plan, projectId);
    return { ...base, volumeId: volume.id };
  }
  const volume = await lockVolume(ctx, tx, plan.source.volume.id);
  if (volume.projectId !== projectId) {
    throw new InvalidInputError(
      'input.blockDeviceMappings.0.uuid',
      `input.blockDeviceMappings.0.uuid: no volume with id "${volume.id}"`,
    );
  }
  checkBootable(volume, 'input.blockDeviceMappings.0.uuid');
  // Reserved (Cinder's `attaching`) by a build that has not claimed it yet.
  if (await pendingBootOf(tx, volume.id)) {
    throw new VolumeStateError('volume', volume.id, 'boot a server from', 'attaching', [
      'available',
    ]);
  }
  return { ...base, volumeId: volume.id };
}

/**
 * The unfinished build operation that boots from the volume, if any: between createServer and
 * its build's claim the volume is still `available` but promised to that server. Call it with
 * the volume's row locked.
 */
export async function pendingBootOf(tx: Tx, volumeId: string): Promise<string | null> {
  const [op] = await tx
    .select({ id: operations.id })
    .from(operations)
    .where(
      and(
        eq(operations.kind, BUILD_JOB),
        inArray(operations.status, ['PENDING', 'RUNNING']),
        sql`${operations.input} -> 'bootVolume' ->> 'volumeId' = ${volumeId}`,
      ),
    )
    .limit(1);
  return op?.id ?? null;
}
