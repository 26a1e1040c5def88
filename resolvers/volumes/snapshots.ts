import { and, eq, ilike, inArray, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { volumeSnapshots, volumeTypes } from '../../db/tables';
import { authorize } from '../authorize';
import { NotFoundError } from '../errors';
import { canSeeProject, isAdmin, scopedProjectId } from '../identity/auth-context';
import { type OperationRow, startOperation } from '../operations';
import { containsPattern, type ListResult, type Page, selectPage } from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { descriptionSchema, isUuid, parseInput } from '../validation';
import { VolumeStateError } from './errors';
import { publishSnapshotEvent, type SnapshotRow } from './events';
import {
  DELETE_SNAPSHOT_JOB,
  DELETE_SNAPSHOT_STAGES,
  SNAPSHOT_JOB,
  SNAPSHOT_STAGES,
  volumeJobFor,
} from './jobs';
import { reserveVolumeQuota } from './quotas';
import { checkVolumeStatus, type SnapshotStatus } from './states';
import { checkNoSnapshotInProgress, lockVolume, requireVolumes } from './volumes';

export type { SnapshotRow };

export interface StartedSnapshot {
  snapshot: SnapshotRow;
  operation: OperationRow;
}

export interface SnapshotFilter {
  status?: SnapshotStatus | null;
  name?: string | null;
  volumeId?: string | null;
  allProjects?: boolean | null;
}

/** Snapshots of the caller's project (admins: all with allProjects), newest first. */
export async function listSnapshots(
  ctx: ServiceContext,
  filter: SnapshotFilter,
  page: Page,
): Promise<ListResult<SnapshotRow>> {
  authorize(ctx, 'volume:list');
  const own = scopedProjectId(ctx.auth);
  let projectWhere: SQL | undefined;
  if (isAdmin(ctx.auth) && filter.allProjects) projectWhere = undefined;
  else if (own) projectWhere = eq(volumeSnapshots.projectId, own);
  else return { rows: [], totalCount: 0 };
  if (filter.volumeId != null && !isUuid(filter.volumeId)) return { rows: [], totalCount: 0 };
  return selectPage(
    ctx.rt.db,
    volumeSnapshots,
    and(
      projectWhere,
      filter.status ? eq(volumeSnapshots.status, filter.status) : undefined,
      filter.name != null ? ilike(volumeSnapshots.name, containsPattern(filter.name)) : undefined,
      filter.volumeId != null ? eq(volumeSnapshots.volumeId, filter.volumeId) : undefined,
    ),
    { column: volumeSnapshots.createdAt, direction: 'DESC', tiebreak: volumeSnapshots.id },
    page,
  );
}

export async function loadSnapshots(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<SnapshotRow | null>> {
  const valid = ids.filter(isUuid);
  if (!ctx.auth || valid.length === 0) return ids.map(() => null);
  const rows = await ctx.rt.db
    .select()
    .from(volumeSnapshots)
    .where(inArray(volumeSnapshots.id, valid));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id) ?? null;
    return row && canSeeProject(ctx.auth, row.projectId) ? row : null;
  });
}

/** Snapshots of each volume, newest first (for `Volume.snapshots`). */
export async function snapshotsOfVolumes(
  ctx: ServiceContext,
  volumeIds: readonly string[],
): Promise<SnapshotRow[][]> {
  const rows = volumeIds.length
    ? await ctx.rt.db
        .select()
        .from(volumeSnapshots)
        .where(inArray(volumeSnapshots.volumeId, [...volumeIds]))
    : [];
  return volumeIds.map((id) =>
    rows
      .filter((r) => r.volumeId === id && canSeeProject(ctx.auth, r.projectId))
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime()),
  );
}

async function lockSnapshot(ctx: ServiceContext, tx: Tx, id: string): Promise<SnapshotRow> {
  const [row] = isUuid(id)
    ? await tx.select().from(volumeSnapshots).where(eq(volumeSnapshots.id, id)).for('update')
    : [];
  if (!row || !canSeeProject(ctx.auth, row.projectId)) {
    throw new NotFoundError('volume snapshot', id);
  }
  return row;
}

const nameField = z.string().trim().max(255, 'must be at most 255 characters');
const createInput = z.object({
  volumeId: z.string(),
  name: nameField.nullish(),
  description: descriptionSchema.nullish(),
});

/**
 * Snapshots an available volume (an attached one is refused: its data changes under the copy,
 * and QEMU holds the file's lock). Reserves snapshots and gigabytes (Cinder counts snapshot
 * gigabytes in the same quota), per type too.
 */
export async function createSnapshot(
  ctx: ServiceContext,
  input: unknown,
): Promise<StartedSnapshot> {
  authorize(ctx, 'volume:manage_snapshots');
  const data = parseInput(createInput, input);
  requireVolumes(ctx);
  return inTransaction(ctx.rt, async (tx) => {
    const volume = await lockVolume(ctx, tx, data.volumeId);
    checkVolumeStatus(volume, 'snapshot');
    await checkNoSnapshotInProgress(tx, volume, 'snapshot');
    const [type] = await tx
      .select()
      .from(volumeTypes)
      .where(eq(volumeTypes.id, volume.volumeTypeId));
    await reserveVolumeQuota(tx, ctx.rt.config.quotaDefaults, volume.projectId, type.name, {
      snapshots: 1,
      gigabytes: volume.sizeGib,
    });
    const [row] = await tx
      .insert(volumeSnapshots)
      .values({
        volumeId: volume.id,
        projectId: volume.projectId,
        userId: ctx.auth?.userId ?? null,
        name: data.name ?? '',
        description: data.description ?? '',
        sizeGib: volume.sizeGib,
        status: 'creating',
      })
      .returning();
    const operation = await startOperation(tx, {
      kind: SNAPSHOT_JOB,
      jobName: volumeJobFor(SNAPSHOT_JOB, volume.host),
      projectId: volume.projectId,
      createdByUserId: ctx.auth?.userId ?? null,
      resourceType: 'VolumeSnapshot',
      resourceId: row.id,
      stageNames: SNAPSHOT_STAGES,
      input: { snapshotId: row.id, volumeId: volume.id },
    });
    await publishSnapshotEvent(tx, 'VOLUME_SNAPSHOT_CREATED', row);
    return { snapshot: row, operation };
  });
}

const updateInput = z.object({
  id: z.string(),
  name: nameField.nullish(),
  description: descriptionSchema.nullish(),
});

export async function updateSnapshot(ctx: ServiceContext, input: unknown): Promise<SnapshotRow> {
  authorize(ctx, 'volume:manage_snapshots');
  const data = parseInput(updateInput, input);
  return inTransaction(ctx.rt, async (tx) => {
    const row = await lockSnapshot(ctx, tx, data.id);
    const [updated] = await tx
      .update(volumeSnapshots)
      .set({
        ...(data.name != null ? { name: data.name } : {}),
        ...(data.description != null ? { description: data.description } : {}),
      })
      .where(eq(volumeSnapshots.id, row.id))
      .returning();
    await publishSnapshotEvent(tx, 'VOLUME_SNAPSHOT_UPDATED', updated);
    return updated;
  });
}

/** Deletes an available (or failed) snapshot; its quota is given back once it is gone. */
export async function deleteSnapshot(ctx: ServiceContext, id: string): Promise<StartedSnapshot> {
  authorize(ctx, 'volume:manage_snapshots');
  requireVolumes(ctx);
  return inTransaction(ctx.rt, async (tx) => {
    // The volume before its snapshot, as deleteVolume locks them (no deadlock between the two).
    const [peek] = isUuid(id)
      ? await tx
          .select({ volumeId: volumeSnapshots.volumeId, projectId: volumeSnapshots.projectId })
          .from(volumeSnapshots)
          .where(eq(volumeSnapshots.id, id))
      : [];
    if (!peek || !canSeeProject(ctx.auth, peek.projectId)) {
      throw new NotFoundError('volume snapshot', id);
    }
    const volume = await lockVolume(ctx, tx, peek.volumeId);
    const row = await lockSnapshot(ctx, tx, id);
    if (row.status !== 'available' && row.status !== 'error') {
      throw new VolumeStateError('snapshot', row.id, 'delete', row.status, ['available', 'error']);
    }
    const [updated] = await tx
      .update(volumeSnapshots)
      .set({ status: 'deleting', fault: null })
      .where(eq(volumeSnapshots.id, row.id))
      .returning();
    const operation = await startOperation(tx, {
      kind: DELETE_SNAPSHOT_JOB,
      jobName: volumeJobFor(DELETE_SNAPSHOT_JOB, volume.host),
      projectId: row.projectId,
      createdByUserId: ctx.auth?.userId ?? null,
      resourceType: 'VolumeSnapshot',
      resourceId: row.id,
      stageNames: DELETE_SNAPSHOT_STAGES,
      input: { snapshotId: row.id, volumeId: volume.id },
    });
    await publishSnapshotEvent(tx, 'VOLUME_SNAPSHOT_UPDATED', updated);
    return { snapshot: updated, operation };
  });
}
