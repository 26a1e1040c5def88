import { StratusError } from '../errors';

/** The volume's (or snapshot's) status does not allow the action (Cinder's 400 "Invalid volume"). */
export class VolumeStateError extends StratusError {
  constructor(
    readonly resource: 'volume' | 'snapshot',
    readonly resourceId: string,
    readonly action: string,
    readonly status: string,
    /** What the action needs, e.g. "available". */
    readonly expected: readonly string[],
  ) {
    super(
      'CONFLICT',
      `Cannot '${action}' ${resource} ${resourceId} while it is ${status} (it must be ${expected.join(' or ')})`,
    );
  }
}

/** Deleting a volume that has snapshots, without `cascade` (Cinder's "Volume has snapshots"). */
export class VolumeHasSnapshotsError extends StratusError {
  constructor(
    readonly volumeId: string,
    readonly snapshotCount: number,
  ) {
    super(
      'CONFLICT',
      `Volume ${volumeId} has ${snapshotCount} snapshot(s): delete them first or pass cascade: true`,
    );
  }
}
