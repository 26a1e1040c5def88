import { DriverError } from '../errors';

/** No volume with this id exists in the backend. */
export class VolumeNotFoundError extends DriverError {
  constructor(readonly volumeId: string) {
    super('VOLUME_NOT_FOUND', `volume "${volumeId}" does not exist`);
  }
}

/** No snapshot with this id exists in the backend. */
export class SnapshotNotFoundError extends DriverError {
  constructor(readonly snapshotId: string) {
    super('VOLUME_SNAPSHOT_NOT_FOUND', `snapshot "${snapshotId}" does not exist`);
  }
}

/** A create of a volume or snapshot id that already exists; the existing one is untouched. */
export class VolumeExistsError extends DriverError {
  constructor(
    readonly kind: 'volume' | 'snapshot',
    readonly id: string,
  ) {
    super('VOLUME_EXISTS', `${kind} "${id}" already exists`);
  }
}

/** A malformed argument (id, size, path, format), named by `field`. */
export class InvalidVolumeSpecError extends DriverError {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super('VOLUME_INVALID_SPEC', `invalid volume spec: "${field}" ${reason}`);
  }
}

/** `delete` without `cascade` of a volume that still has snapshots. */
export class VolumeBusyError extends DriverError {
  constructor(
    readonly volumeId: string,
    readonly snapshotIds: readonly string[],
  ) {
    super(
      'VOLUME_BUSY',
      `volume "${volumeId}" has ${snapshotIds.length} snapshot(s) (${snapshotIds.join(', ')}): delete them first or pass { cascade: true }`,
    );
  }
}

/** A host tool (qemu-img, lvcreate, ...) failed; `stderr` is what it printed, trimmed. */
export class VolumeCommandError extends DriverError {
  constructor(
    readonly id: string | null,
    readonly operation: string,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(
      'VOLUME_COMMAND_FAILED',
      `${operation}${id === null ? '' : ` of "${id}"`} failed${stderr ? `: ${stderr}` : ''}`,
      options,
    );
  }
}
