import type { Tx } from '../../db/connection';
import type { volumeAttachments, volumeSnapshots, volumes } from '../../db/tables';
import { publishEvent, type StratusEvent } from '../events';

export type VolumeRow = typeof volumes.$inferSelect;
export type SnapshotRow = typeof volumeSnapshots.$inferSelect;
export type AttachmentRow = typeof volumeAttachments.$inferSelect;

const DATES = ['createdAt', 'updatedAt'] as const;

/** Publishes a volume change carrying the committed row, so subscribers see every state in order. */
export function publishVolumeEvent(tx: Tx, kind: string, row: VolumeRow): Promise<StratusEvent> {
  return publishEvent(tx, {
    kind,
    projectId: row.projectId,
    resourceType: 'Volume',
    resourceId: row.id,
    payload: { ...row, ...Object.fromEntries(DATES.map((f) => [f, row[f].toISOString()])) },
  });
}

/** The row a volume event carried. */
export function volumeFromEvent(event: StratusEvent): VolumeRow {
  const p = event.payload as Record<string, unknown>;
  return {
    ...(p as unknown as VolumeRow),
    createdAt: new Date(p.createdAt as string),
    updatedAt: new Date(p.updatedAt as string),
  };
}

export function publishSnapshotEvent(
  tx: Tx,
  kind: string,
  row: SnapshotRow,
): Promise<StratusEvent> {
  return publishEvent(tx, {
    kind,
    projectId: row.projectId,
    resourceType: 'VolumeSnapshot',
    resourceId: row.id,
    payload: { ...row, ...Object.fromEntries(DATES.map((f) => [f, row[f].toISOString()])) },
  });
}
