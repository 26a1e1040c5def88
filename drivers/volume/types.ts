/**
 * The `volume` driver kind (Cinder's volume driver, in small): block volumes and their
 * snapshots in one backend. The service layer owns the volume records, their status machine,
 * quotas and attachments; a driver only makes the backend match what it is told and reports
 * what the backend has. No GraphQL, no database.
 *
 * Identity: volumes and snapshots are named by the service's ids (UUIDs, validated, stored
 * lowercase; anything else is `InvalidVolumeSpecError`). Every operation that fails undoes
 * its completed steps (the `Reverter`) and leaves nothing behind.
 */

/** Which implementation this is and what it offers. */
export interface VolumeDriverInfo {
  name: 'file' | 'lvm';
  capabilities: {
    /** `snapshot`/`deleteSnapshot`/`createFromSnapshot`. */
    snapshot: boolean;
    /** `createFromImage`. */
    createFromImage: boolean;
    /** `extend` (grow only). */
    extend: boolean;
    /**
     * Snapshots are standalone copies (file): deleting the volume's data never breaks them.
     * False (lvm): a snapshot is copy-on-write over its volume and lives only as long as it.
     */
    independentSnapshots: boolean;
  };
}

/** Backend capacity, for the scheduler. Sizes in GiB (may be fractional). */
export interface VolumeCapacity {
  totalGib: number;
  freeGib: number;
}

/** A blank volume. */
export interface CreateVolumeSpec {
  volumeId: string;
  /** Virtual size, an integer 1-65536. */
  sizeGib: number;
}

/** A volume holding an image's content. */
export interface CreateFromImageSpec extends CreateVolumeSpec {
  /** Absolute path of the image file on this host. */
  imagePath: string;
  imageFormat: 'raw' | 'qcow2';
}

/** A new volume holding a snapshot's content (at least the snapshot's size). */
export interface CreateFromSnapshotSpec extends CreateVolumeSpec {
  snapshotId: string;
}

export interface SnapshotSpec {
  volumeId: string;
  snapshotId: string;
}

export interface DeleteVolumeOptions {
  /** Delete the volume's snapshots too (otherwise a volume with snapshots is `VolumeBusyError`). */
  cascade?: boolean;
}

/** What QEMU needs to attach the volume (a later `blockdev-add`). */
export interface VolumeConnectionInfo {
  /** The format driver over the file or block device. */
  driver: 'qcow2' | 'raw';
  /** Absolute path of the file (file) or block device (lvm). */
  path: string;
}

/** A volume that exists in the backend. */
export interface VolumeHandle {
  volumeId: string;
  sizeGib: number;
}

/** What the backend holds, for a reconciler. Order is unspecified. */
export interface VolumeInventory {
  volumes: string[];
  /** Each snapshot with the volume it was taken of (null when the backend cannot tell). */
  snapshots: { snapshotId: string; volumeId: string | null }[];
}

export interface VolumeDriver {
  info(): VolumeDriverInfo;
  /**
   * Checks the backend is usable and returns its capacity; throws `DriverUnavailableError`
   * with the reason otherwise (tool missing, folder unwritable, volume group absent).
   */
  probe(): Promise<VolumeCapacity>;
  /** A blank volume. `VolumeExistsError` when the id exists. */
  create(spec: CreateVolumeSpec): Promise<VolumeHandle>;
  /**
   * A volume holding the image's content; `sizeGib` must be at least the image's virtual size
   * (`InvalidVolumeSpecError` on `sizeGib` otherwise, on `imagePath` for a missing image).
   */
  createFromImage(spec: CreateFromImageSpec): Promise<VolumeHandle>;
  /** A volume holding the snapshot's content. `SnapshotNotFoundError` for an unknown snapshot. */
  createFromSnapshot(spec: CreateFromSnapshotSpec): Promise<VolumeHandle>;
  /**
   * Deletes the volume. Idempotent (an unknown id succeeds). A volume with snapshots is
   * refused with `VolumeBusyError` unless `cascade`, which deletes its snapshots first.
   */
  delete(volumeId: string, options?: DeleteVolumeOptions): Promise<void>;
  /**
   * Grows the volume to `newSizeGib`; a size not larger than the current one is
   * `InvalidVolumeSpecError` on `newSizeGib` (never shrinks).
   */
  extend(volumeId: string, newSizeGib: number): Promise<VolumeHandle>;
  /** A snapshot of the volume's current content. */
  snapshot(spec: SnapshotSpec): Promise<void>;
  /** Deletes a snapshot. Idempotent. */
  deleteSnapshot(snapshotId: string): Promise<void>;
  /** What QEMU needs to attach the volume; `VolumeNotFoundError` for an unknown one. */
  connectionInfo(volumeId: string): Promise<VolumeConnectionInfo>;
  /** The volumes and snapshots present in the backend. */
  list(): Promise<VolumeInventory>;
}
