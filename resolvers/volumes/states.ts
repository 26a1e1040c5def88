import { and, eq, inArray } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import { volumeSnapshots, volumes } from '../../db/tables';
import { VolumeStateError } from './errors';
import {
  publishSnapshotEvent,
  publishVolumeEvent,
  type SnapshotRow,
  type VolumeRow,
} from './events';

/** Cinder's status machines, as stored. */
export type VolumeStatus = VolumeRow['status'];
export type SnapshotStatus = SnapshotRow['status'];

export const VOLUME_STATUSES: readonly VolumeStatus[] = [
  'creating',
  'available',
  'attaching',
  'in-use',
  'detaching',
  'extending',
  'deleting',
  'error',
  'error_deleting',
];

/** Statuses a job holds a volume in; a restart that interrupts the job repairs them. */
export const VOLUME_TRANSITIONAL: readonly VolumeStatus[] = [
  'creating',
  'attaching',
  'detaching',
  'extending',
  'deleting',
];

/** Where each action may start from. */
export const VOLUME_RULES = {
  delete: ['available', 'error', 'error_deleting'],
  extend: ['available', 'in-use'],
  attach: ['available'],
  detach: ['in-use'],
  snapshot: ['available'],
  update: VOLUME_STATUSES,
} as const satisfies Record<string, readonly VolumeStatus[]>;

/** Throws VolumeStateError unless `row` is in one of `allowed`. */
export function checkVolumeStatus(
  row: VolumeRow,
  action: keyof typeof VOLUME_RULES,
  allowed: readonly VolumeStatus[] = VOLUME_RULES[action],
): void {
  if (!allowed.includes(row.status)) {
    throw new VolumeStateError('volume', row.id, action, row.status, allowed);
  }
}

/** A job's step lost its volume (deleted, repaired, changed by another job): the job stops. */
export class VolumeSupersededError extends Error {}

/**
 * Moves a volume on only if it is still in one of `expect` (the status its job set); publishes
 * the committed row. Throws VolumeSupersededError otherwise.
 */
export async function moveVolume(
  tx: Tx,
  id: string,
  expect: readonly VolumeStatus[],
  set: Partial<typeof volumes.$inferInsert>,
): Promise<VolumeRow> {
  const [row] = await tx
    .update(volumes)
    .set(set)
    .where(and(eq(volumes.id, id), inArray(volumes.status, [...expect])))
    .returning();
  if (!row) throw new VolumeSupersededError(`volume ${id} left ${expect.join('/')}`);
  await publishVolumeEvent(tx, 'VOLUME_UPDATED', row);
  return row;
}

export async function moveSnapshot(
  tx: Tx,
  id: string,
  expect: readonly SnapshotStatus[],
  set: Partial<typeof volumeSnapshots.$inferInsert>,
): Promise<SnapshotRow> {
  const [row] = await tx
    .update(volumeSnapshots)
    .set(set)
    .where(and(eq(volumeSnapshots.id, id), inArray(volumeSnapshots.status, [...expect])))
    .returning();
  if (!row) throw new VolumeSupersededError(`snapshot ${id} left ${expect.join('/')}`);
  await publishSnapshotEvent(tx, 'VOLUME_SNAPSHOT_UPDATED', row);
  return row;
}

/** A fault record for a volume or snapshot. */
export const volumeFault = (code: string, message: string) => ({
  code,
  message,
  createdAt: new Date().toISOString(),
});
