import { and, eq, ilike, inArray, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { volumeAttachments, volumeSnapshots, volumes, volumeTypes } from '../../db/tables';
import { authorize } from '../authorize';
import { FeatureDisabledError, InvalidInputError, NotFoundError } from '../errors';
import { canSeeProject, isAdmin, scopedProjectId } from '../identity/auth-context';
import type { ImageRow } from '../images/access';
import { loadImages } from '../images/images';
import { type OperationRow, startOperation } from '../operations';
import { containsPattern, type ListResult, type Page, selectPage } from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { descriptionSchema, isUuid, parseInput } from '../validation';
import { lockAttachedServer } from './attachments';
import { VolumeHasSnapshotsError, VolumeStateError } from './errors';
import { publishSnapshotEvent, publishVolumeEvent, type VolumeRow } from './events';
import {
  CREATE_JOB,
  CREATE_STAGES,
  createJobFor,
  DELETE_JOB,
  DELETE_STAGES,
  EXTEND_JOB,
  EXTEND_STAGES,
  onVolumeHost,
  volumeJobFor,
} from './jobs';
import { reserveVolumeQuota } from './quotas';
import { checkVolumeStatus, type VolumeStatus } from './states';
import { BACKEND_SPEC, typeForNewVolume, type VolumeTypeRow } from './volume-types';

export type { VolumeRow };

const GIB = 1024 ** 3;
/** The volume driver's range (drivers/volume/validate.ts). */
export const MAX_VOLUME_GIB = 65_536;

/** A volume and the operation now working on it. */
export interface StartedVolume {
  volume: VolumeRow;
  operation: OperationRow;
}

/**
 * Whether volumes can be made here: some volume backend runs (on this process; several
 * processes would need a registry of backends, not built). FeatureDisabledError otherwise.
 */
export function requireVolumes(ctx: ServiceContext): void {
  if (ctx.rt.volume || ctx.rt.jobKinds.has(CREATE_JOB)) return;
  throw new FeatureDisabledError(
    'Volumes',
    ctx.rt.volumeUnavailable ?? 'no volume backend runs; start Stratus with STRATUS_VOLUME_DRIVER',
  );
}

export interface VolumeFilter {
  status?: VolumeStatus | null;
  name?: string | null;
  bootable?: boolean | null;
  /** Admins: every project's volumes (Cinder's all_tenants). */
  allProjects?: boolean | null;
  projectId?: string | null;
}

/** Volumes of the caller's project (admins: any project, or all), newest first. */
export async function listVolumes(
  ctx: ServiceContext,
  filter: VolumeFilter,
  page: Page,
): Promise<ListResult<VolumeRow>> {
  authorize(ctx, 'volume:list');
  const admin = isAdmin(ctx.auth);
  const own = scopedProjectId(ctx.auth);
  let projectWhere: SQL | undefined;
  if (filter.projectId && !isUuid(filter.projectId)) return { rows: [], totalCount: 0 };
  if (admin && filter.projectId) projectWhere = eq(volumes.projectId, filter.projectId);
  else if (admin && filter.allProjects) projectWhere = undefined;
  else if (own) projectWhere = eq(volumes.projectId, own);
  else return { rows: [], totalCount: 0 };
  const where = and(
    projectWhere,
    filter.status ? eq(volumes.status, filter.status) : undefined,
    filter.name != null ? ilike(volumes.name, containsPattern(filter.name)) : undefined,
    filter.bootable != null ? eq(volumes.bootable, filter.bootable) : undefined,
  );
  return selectPage(
    ctx.rt.db,
    volumes,
    where,
    { column: volumes.createdAt, direction: 'DESC', tiebreak: volumes.id },
    page,
  );
}

/** Volumes by id, null where the caller may not see one. */
export async function loadVolumes(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<VolumeRow | null>> {
  const valid = ids.filter(isUuid);
  if (!ctx.auth || valid.length === 0) return ids.map(() => null);
  const rows = await ctx.rt.db.select().from(volumes).where(inArray(volumes.id, valid));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id) ?? null;
    return row && canSeeProject(ctx.auth, row.projectId) ? row : null;
  });
}

/** The volume row locked for this transaction, if the caller may see it; NotFoundError otherwise. */
export async function lockVolume(ctx: ServiceContext, tx: Tx, id: string): Promise<VolumeRow> {
  const [row] = isUuid(id)
    ? await tx.select().from(volumes).where(eq(volumes.id, id)).for('update')
    : [];
  if (!row || !canSeeProject(ctx.auth, row.projectId)) throw new NotFoundError('volume', id);
  return row;
}

/** Refuses work on a volume while one of its snapshots is being made or deleted (one job at a time). */
export async function checkNoSnapshotInProgress(
  tx: Tx,
  row: VolumeRow,
  action: string,
): Promise<void> {
  const [busy] = await tx
    .select({ id: volumeSnapshots.id, status: volumeSnapshots.status })
    .from(volumeSnapshots)
    .where(
      and(
        eq(volumeSnapshots.volumeId, row.id),
        inArray(volumeSnapshots.status, ['creating', 'deleting']),
      ),
    )
    .limit(1);
  if (busy) {
    throw new VolumeStateError('snapshot', busy.id, `${action} its volume`, busy.status, [
      'available',
      'error',
    ]);
  }
}

// ---- create ----

const sizeSchema = z
  .number()
  .int('must be a whole number of GiB')
  .min(1, 'must be at least 1 GiB')
  .max(MAX_VOLUME_GIB, `must be at most ${MAX_VOLUME_GIB} GiB`);

const createInput = z.object({
  name: z.string().trim().max(255, 'must be at most 255 characters').nullish(),
  description: descriptionSchema.nullish(),
  sizeGib: sizeSchema.nullish(),
  volumeTypeId: z.string().nullish(),
  imageId: z.string().nullish(),
  snapshotId: z.string().nullish(),
});

/** What a new volume will be, checked before its transaction (plan → start). */
export interface VolumePlan {
  name: string;
  description: string;
  sizeGib: number;
  type: VolumeTypeRow;
  bootable: boolean;
  source:
    | { kind: 'blank' }
    | { kind: 'image'; image: ImageRow }
    | { kind: 'snapshot'; snapshotId: string; host: string | null };
  /** The create job's name: the snapshot's host, the type's backend, or any backend. */
  jobName: string;
}

/** An image a volume can hold: active, visible, a disk (raw, qcow2, or an ami's raw disk). */
async function imageSource(ctx: ServiceContext, imageId: string, field: string) {
  const [image] = await loadImages(ctx, [imageId]);
  if (!image) throw new InvalidInputError(field, `${field}: no image with id "${imageId}"`);
  if (image.status !== 'active') {
    throw new InvalidInputError(field, `Image ${imageId} is not active (status ${image.status})`);
  }
  if (!['raw', 'qcow2', 'ami'].includes(image.diskFormat ?? '')) {
    throw new InvalidInputError(
      field,
      `Image ${imageId} has disk format ${image.diskFormat}; a volume holds raw, qcow2 or ami images`,
    );
  }
  const minGib = Math.max(
    Math.ceil((image.virtualSizeBytes ?? image.sizeBytes ?? 0) / GIB),
    image.minDiskGib,
    1,
  );
  return { image, minGib };
}

/**
 * Checks a new volume (outside any transaction): its type, its source (an image: bootable; a
 * snapshot: the source volume's type and bootable flag, on its host) and its size, which
 * defaults to the source's and may not be smaller. Every error names its field under `prefix`.
 */
export async function planVolume(
  ctx: ServiceContext,
  input: unknown,
  prefix = 'input',
): Promise<VolumePlan> {
  const data = parseInput(createInput, input);
  const field = (name: string) => `${prefix}.${name}`;
  if (data.imageId && data.snapshotId) {
    throw new InvalidInputError(field('snapshotId'), 'Give an imageId or a snapshotId, not both');
  }
  let type = await typeForNewVolume(ctx, data.volumeTypeId, field('volumeTypeId'));
  let minGib = 1;
  let bootable = false;
  let source: VolumePlan['source'] = { kind: 'blank' };
  if (data.imageId) {
    const found = await imageSource(ctx, data.imageId, field('imageId'));
    minGib = found.minGib;
    bootable = true;
    source = { kind: 'image', image: found.image };
  } else if (data.snapshotId) {
    const snap = await snapshotSource(ctx, data.snapshotId, field('snapshotId'));
    if (data.volumeTypeId && snap.type.id !== type.id) {
      throw new InvalidInputError(
        field('volumeTypeId'),
        `A volume from a snapshot keeps its source's type (${snap.type.name})`,
      );
    }
    type = snap.type;
    minGib = snap.sizeGib;
    bootable = snap.bootable;
    source = { kind: 'snapshot', snapshotId: snap.id, host: snap.host };
  }
  const sizeGib = data.sizeGib ?? (source.kind === 'blank' ? null : minGib);
  if (sizeGib == null) {
    throw new InvalidInputError(
      field('sizeGib'),
      `${field('sizeGib')} is required for a blank volume`,
    );
  }
  if (sizeGib < minGib) {
    throw new InvalidInputError(
      field('sizeGib'),
      `${field('sizeGib')} (${sizeGib} GiB) is smaller than its source (${minGib} GiB)`,
    );
  }
  const backend = type.extraSpecs[BACKEND_SPEC] ?? null;
  const jobName =
    source.kind === 'snapshot' && source.host
      ? onVolumeHost(CREATE_JOB, source.host)
      : createJobFor(backend);
  // Only backends of this process are known (no registry of volume processes yet).
  if (!ctx.rt.jobKinds.has(jobName)) {
    throw new InvalidInputError(
      field('volumeTypeId'),
      source.kind === 'snapshot'
        ? `The snapshot's host ${source.host} runs no volume backend reachable from here`
        : `Volume type ${type.name} names backend "${backend}", which no volume process here runs`,
    );
  }
  return {
    name: data.name ?? '',
    description: data.description ?? '',
    sizeGib,
    type,
    bootable,
    source,
    jobName,
  };
}

async function snapshotSource(ctx: ServiceContext, id: string, field: string) {
  const [row] = isUuid(id)
    ? await ctx.rt.db
        .select({ snap: volumeSnapshots, volume: volumes, type: volumeTypes })
        .from(volumeSnapshots)
        .innerJoin(volumes, eq(volumes.id, volumeSnapshots.volumeId))
        .innerJoin(volumeTypes, eq(volumeTypes.id, volumes.volumeTypeId))
        .where(eq(volumeSnapshots.id, id))
    : [];
  if (!row || !canSeeProject(ctx.auth, row.snap.projectId)) {
    throw new InvalidInputError(field, `${field}: no snapshot with id "${id}"`);
  }
  if (row.snap.status !== 'available') {
    throw new VolumeStateError('snapshot', id, 'createVolume from', row.snap.status, ['available']);
  }
  return {
    id,
    sizeGib: row.snap.sizeGib,
    bootable: row.volume.bootable,
    host: row.volume.host,
    type: row.type,
  };
}

/**
 * In the caller's transaction: reserves the project's quota (volumes, gigabytes, and per
 * type), stores the volume in `creating` and enqueues its create job. A failure leaves
 * nothing. For boot-from-volume, createServer calls this in its own transaction.
 */
export async function startVolumeCreate(
  ctx: ServiceContext,
  tx: Tx,
  plan: VolumePlan,
  projectId: string,
): Promise<StartedVolume> {
  await reserveVolumeQuota(tx, ctx.rt.config.quotaDefaults, projectId, plan.type.name, {
    volumes: 1,
    gigabytes: plan.sizeGib,
  });
  const [row] = await tx
    .insert(volumes)
    .values({
      projectId,
      userId: ctx.auth?.userId ?? null,
      name: plan.name,
      description: plan.description,
      sizeGib: plan.sizeGib,
      status: 'creating',
      bootable: plan.bootable,
      volumeTypeId: plan.type.id,
      sourceImageId: plan.source.kind === 'image' ? plan.source.image.id : null,
      sourceSnapshotId: plan.source.kind === 'snapshot' ? plan.source.snapshotId : null,
    })
    .returning();
  const operation = await startOperation(tx, {
    kind: CREATE_JOB,
    jobName: plan.jobName,
    projectId,
    createdByUserId: ctx.auth?.userId ?? null,
    resourceType: 'Volume',
    resourceId: row.id,
    stageNames: CREATE_STAGES,
    input: { volumeId: row.id },
  });
  await publishVolumeEvent(tx, 'VOLUME_CREATED', row);
  return { volume: row, operation };
}

/** Cinder's create: blank, from an image (bootable) or from a snapshot; returns at once in `creating`. */
export async function createVolume(ctx: ServiceContext, input: unknown): Promise<StartedVolume> {
  authorize(ctx, 'volume:create');
  const projectId = scopedProjectId(ctx.auth);
  if (!projectId) throw new InvalidInputError('input', 'A token scoped to a project is required');
  requireVolumes(ctx);
  const plan = await planVolume(ctx, input);
  return inTransaction(ctx.rt, (tx) => startVolumeCreate(ctx, tx, plan, projectId));
}

/**
 * Boot from volume: a bootable volume holding `imageId` for a server of the caller's project,
 * in the caller's transaction (createServer's). Checks first with `planVolume`, outside it:
 * `planImageVolume` then `startVolumeCreate(ctx, tx, plan, projectId)`.
 */
export function planImageVolume(
  ctx: ServiceContext,
  spec: { imageId: string; sizeGib?: number | null; volumeTypeId?: string | null; name?: string },
  prefix = 'input',
): Promise<VolumePlan> {
  requireVolumes(ctx);
  return planVolume(ctx, spec, prefix);
}

// ---- update, delete, extend ----

const updateInput = z.object({
  id: z.string(),
  name: z.string().trim().max(255, 'must be at most 255 characters').nullish(),
  description: descriptionSchema.nullish(),
  bootable: z.boolean().nullish(),
});

/** Renames a volume, or changes its description or bootable flag (any status). */
export async function updateVolume(ctx: ServiceContext, input: unknown): Promise<VolumeRow> {
  authorize(ctx, 'volume:update');
  const data = parseInput(updateInput, input);
  return inTransaction(ctx.rt, async (tx) => {
    const row = await lockVolume(ctx, tx, data.id);
    const [updated] = await tx
      .update(volumes)
      .set({
        ...(data.name != null ? { name: data.name } : {}),
        ...(data.description != null ? { description: data.description } : {}),
        ...(data.bootable != null ? { bootable: data.bootable } : {}),
      })
      .where(eq(volumes.id, row.id))
      .returning();
    await publishVolumeEvent(tx, 'VOLUME_UPDATED', updated);
    return updated;
  });
}

/**
 * Deletes a volume that is not attached. One with snapshots is refused unless `cascade`,
 * which deletes them with it. Quota is given back when the backend's volume is gone.
 */
export async function deleteVolume(
  ctx: ServiceContext,
  id: string,
  cascade: boolean,
): Promise<StartedVolume> {
  authorize(ctx, 'volume:delete');
  requireVolumes(ctx);
  return inTransaction(ctx.rt, async (tx) => {
    const row = await lockVolume(ctx, tx, id);
    checkVolumeStatus(row, 'delete');
    const [attached] = await tx
      .select({ id: volumeAttachments.id })
      .from(volumeAttachments)
      .where(eq(volumeAttachments.volumeId, row.id));
    if (attached) throw new VolumeStateError('volume', row.id, 'delete', 'in-use', ['available']);
    const snaps = await tx
      .select()
      .from(volumeSnapshots)
      .where(eq(volumeSnapshots.volumeId, row.id))
      .for('update');
    if (snaps.length > 0 && !cascade) throw new VolumeHasSnapshotsError(row.id, snaps.length);
    for (const snap of snaps) {
      if (snap.status !== 'available' && snap.status !== 'error') {
        throw new VolumeStateError('snapshot', snap.id, 'delete', snap.status, [
          'available',
          'error',
        ]);
      }
    }
    for (const snap of snaps) {
      const [moved] = await tx
        .update(volumeSnapshots)
        .set({ status: 'deleting' })
        .where(eq(volumeSnapshots.id, snap.id))
        .returning();
      await publishSnapshotEvent(tx, 'VOLUME_SNAPSHOT_UPDATED', moved);
    }
    return startVolumeJob(ctx, tx, row, {
      status: 'deleting',
      kind: DELETE_JOB,
      jobName: volumeJobFor(DELETE_JOB, row.host),
      stages: DELETE_STAGES,
      input: { cascade },
    });
  });
}

/** Sets the volume's transitional status and enqueues the job that ends it, in `tx`. */
export async function startVolumeJob(
  ctx: ServiceContext,
  tx: Tx,
  row: VolumeRow,
  job: {
    status: VolumeStatus;
    kind: string;
    jobName: string;
    stages: string[];
    input: Record<string, unknown>;
  },
): Promise<StartedVolume> {
  const [updated] = await tx
    .update(volumes)
    .set({ status: job.status, fault: null })
    .where(eq(volumes.id, row.id))
    .returning();
  const operation = await startOperation(tx, {
    kind: job.kind,
    jobName: job.jobName,
    projectId: row.projectId,
    createdByUserId: ctx.auth?.userId ?? null,
    resourceType: 'Volume',
    resourceId: row.id,
    stageNames: job.stages,
    input: { ...job.input, volumeId: row.id },
  });
  await publishVolumeEvent(tx, 'VOLUME_UPDATED', updated);
  return { volume: updated, operation };
}

const extendInput = z.object({ id: z.string(), newSizeGib: sizeSchema });

/**
 * Grows a volume. Available: the backend grows it. In use: the backend grows it on the
 * server's host, then the hypervisor tells the guest (QMP block_resize), so the server must be
 * ACTIVE. The extra gigabytes are reserved now and given back if the backend fails.
 */
export async function extendVolume(ctx: ServiceContext, input: unknown): Promise<StartedVolume> {
  authorize(ctx, 'volume:extend');
  const data = parseInput(extendInput, input);
  requireVolumes(ctx);
  return inTransaction(ctx.rt, async (tx) => {
    // Servers before volumes, in every transaction that locks both (no deadlock).
    const server = await lockAttachedServer(ctx, tx, data.id, 'extendVolume');
    const row = await lockVolume(ctx, tx, data.id);
    if (data.newSizeGib <= row.sizeGib) {
      throw new InvalidInputError(
        'input.newSizeGib',
        `input.newSizeGib (${data.newSizeGib} GiB) must be larger than the volume's size (${row.sizeGib} GiB)`,
      );
    }
    checkVolumeStatus(row, 'extend');
    if (row.status === 'in-use' && !server) {
      throw new VolumeStateError('volume', row.id, 'extend', row.status, ['available']);
    }
    await checkNoSnapshotInProgress(tx, row, 'extend');
    const [type] = await tx.select().from(volumeTypes).where(eq(volumeTypes.id, row.volumeTypeId));
    await reserveVolumeQuota(tx, ctx.rt.config.quotaDefaults, row.projectId, type.name, {
      gigabytes: data.newSizeGib - row.sizeGib,
    });
    const host = server ? server.host : row.host;
    return startVolumeJob(ctx, tx, row, {
      status: 'extending',
      kind: EXTEND_JOB,
      jobName: volumeJobFor(EXTEND_JOB, host),
      stages: server ? EXTEND_STAGES : EXTEND_STAGES.slice(0, 1),
      input: {
        newSizeGib: data.newSizeGib,
        oldSizeGib: row.sizeGib,
        serverId: server?.id ?? null,
        fromStatus: row.status,
      },
    });
  });
}
