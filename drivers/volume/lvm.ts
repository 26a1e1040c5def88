import { runTool, type ToolOutput } from '../compute/host-process';
import { DriverUnavailableError } from '../errors';
import { Reverter } from '../reverter';
import {
  InvalidVolumeSpecError,
  SnapshotNotFoundError,
  VolumeBusyError,
  VolumeCommandError,
  VolumeExistsError,
  VolumeNotFoundError,
} from './errors';
import type {
  CreateFromImageSpec,
  CreateFromSnapshotSpec,
  CreateVolumeSpec,
  DeleteVolumeOptions,
  SnapshotSpec,
  VolumeCapacity,
  VolumeConnectionInfo,
  VolumeDriver,
  VolumeDriverInfo,
  VolumeHandle,
  VolumeInventory,
} from './types';
import { checkId, checkImage, checkOptions, checkSize, GIB } from './validate';

/**
 * Runs a host command (no shell) and resolves with its output; rejects when it cannot run or
 * exits non-zero (the default, `runTool`, rejects with a `ToolFailure` carrying `stderr`).
 * Injectable so the command sequences are unit-tested with a recording fake.
 */
export type CommandRunner = (binary: string, args: string[]) => Promise<ToolOutput>;

export interface LvmVolumeConfig {
  /** The LVM volume group holding the volumes (it must exist). */
  volumeGroup: string;
  /** Default `qemu-img`. */
  qemuImgBinary?: string;
}

export interface LvmVolumeOptions extends LvmVolumeConfig {
  runner?: CommandRunner;
}

const VOLUME_LV = /^volume-([0-9a-f-]{36})$/;
const SNAPSHOT_LV = /^snapshot-([0-9a-f-]{36})$/;

interface LogicalVolume {
  name: string;
  /** The origin LV of a snapshot, '' otherwise. */
  origin: string;
  sizeGib: number;
}

/**
 * Volumes as logical volumes `volume-<id>` of one volume group, snapshots as LVM (thick,
 * copy-on-write) snapshots `snapshot-<id>` of them, attached as raw block devices
 * `/dev/<vg>/volume-<id>`.
 */
export class LvmVolumeDriver implements VolumeDriver {
  private readonly vg: string;
  private readonly qemuImgBinary: string;
  private readonly runner: CommandRunner;

  constructor(options: LvmVolumeOptions) {
    this.vg = options.volumeGroup;
    this.qemuImgBinary = options.qemuImgBinary ?? 'qemu-img';
    this.runner =
      options.runner ?? ((binary, args) => runTool(binary, args, { timeoutMs: 30 * 60_000 }));
  }

  info(): VolumeDriverInfo {
    return {
      name: 'lvm',
      capabilities: {
        snapshot: true,
        createFromImage: true,
        extend: true,
        independentSnapshots: false,
      },
    };
  }

  async probe(): Promise<VolumeCapacity> {
    let stdout: string;
    try {
      ({ stdout } = await this.runner('vgs', [
        '--noheadings',
        '--units',
        'g',
        '-o',
        'vg_size,vg_free',
        this.vg,
      ]));
    } catch (err) {
      throw new DriverUnavailableError(
        'lvm',
        `volume group ${JSON.stringify(this.vg)} is not usable: ${failureText(err)}`,
        { cause: err },
      );
    }
    const [total, free] = stdout.trim().split(/\s+/).map(parseGib);
    if (!Number.isFinite(total) || !Number.isFinite(free)) {
      throw new DriverUnavailableError('lvm', `vgs printed ${JSON.stringify(stdout.trim())}`);
    }
    return { totalGib: total, freeGib: free };
  }

  async create(spec: CreateVolumeSpec): Promise<VolumeHandle> {
    const volumeId = checkId('volumeId', spec?.volumeId);
    const sizeGib = checkSize('sizeGib', spec.sizeGib);
    const lvs = await this.lvs();
    if (lvs.has(volumeLv(volumeId))) throw new VolumeExistsError('volume', volumeId);
    await Reverter.run(async (revert) => {
      await this.createLv(volumeId, sizeGib, revert);
    });
    return { volumeId, sizeGib };
  }

  async createFromImage(spec: CreateFromImageSpec): Promise<VolumeHandle> {
    const volumeId = checkId('volumeId', spec?.volumeId);
    const sizeGib = checkSize('sizeGib', spec.sizeGib);
    checkImage(spec.imagePath, spec.imageFormat);
    const lvs = await this.lvs();
    if (lvs.has(volumeLv(volumeId))) throw new VolumeExistsError('volume', volumeId);
    const { stdout } = await this.run(volumeId, 'reading the image', this.qemuImgBinary, [
      'info',
      '-U',
      '--output=json',
      '-f',
      spec.imageFormat,
      spec.imagePath,
    ]).catch((err: unknown) => {
      if (err instanceof VolumeCommandError && /No such file/i.test(err.stderr)) {
        throw new InvalidVolumeSpecError(
          'imagePath',
          `does not exist: ${JSON.stringify(spec.imagePath)}`,
        );
      }
      throw err;
    });
    const virtualSize = Number(JSON.parse(stdout)['virtual-size']);
    if (!(virtualSize <= sizeGib * GIB)) {
      throw new InvalidVolumeSpecError(
        'sizeGib',
        `is ${sizeGib} GiB, smaller than the image (${virtualSize} bytes)`,
      );
    }
    await Reverter.run(async (revert) => {
      await this.createLv(volumeId, sizeGib, revert);
      await this.run(volumeId, 'copying the image', this.qemuImgBinary, [
        'convert',
        '-f',
        spec.imageFormat,
        '-O',
        'raw',
        spec.imagePath,
        this.devicePath(volumeLv(volumeId)),
      ]);
    });
    return { volumeId, sizeGib };
  }

  async createFromSnapshot(spec: CreateFromSnapshotSpec): Promise<VolumeHandle> {
    const volumeId = checkId('volumeId', spec?.volumeId);
    const snapshotId = checkId('snapshotId', spec.snapshotId);
    const sizeGib = checkSize('sizeGib', spec.sizeGib);
    const lvs = await this.lvs();
    if (lvs.has(volumeLv(volumeId))) throw new VolumeExistsError('volume', volumeId);
    const snapshot = lvs.get(snapshotLv(snapshotId));
    if (!snapshot) throw new SnapshotNotFoundError(snapshotId);
    // A snapshot's own LV size is its copy-on-write space; its content has the origin's size.
    const origin = lvs.get(snapshot.origin);
    const contentGib = origin?.sizeGib ?? snapshot.sizeGib;
    if (contentGib > sizeGib) {
      throw new InvalidVolumeSpecError(
        'sizeGib',
        `is ${sizeGib} GiB, smaller than the snapshot (${contentGib} GiB)`,
      );
    }
    await Reverter.run(async (revert) => {
      await this.createLv(volumeId, sizeGib, revert);
      await this.run(volumeId, 'copying the snapshot', this.qemuImgBinary, [
        'convert',
        '-f',
        'raw',
        '-O',
        'raw',
        this.devicePath(snapshotLv(snapshotId)),
        this.devicePath(volumeLv(volumeId)),
      ]);
    });
    return { volumeId, sizeGib };
  }

  async delete(volumeIdArg: string, options?: DeleteVolumeOptions): Promise<void> {
    const volumeId = checkId('volumeId', volumeIdArg);
    const { cascade } = checkOptions(options);
    const lvs = await this.lvs();
    const name = volumeLv(volumeId);
    if (!lvs.has(name)) return;
    const snapshots = [...lvs.values()]
      .filter((lv) => lv.origin === name)
      .map((lv) => SNAPSHOT_LV.exec(lv.name)?.[1] ?? lv.name);
    if (snapshots.length > 0 && !cascade) throw new VolumeBusyError(volumeId, snapshots);
    for (const snapshotId of snapshots) {
      await this.run(snapshotId, 'deleting the snapshot', 'lvremove', [
        '-f',
        this.lvPath(snapshotLv(snapshotId)),
      ]);
    }
    await this.run(volumeId, 'deleting the volume', 'lvremove', ['-f', this.lvPath(name)]);
  }

  async extend(volumeIdArg: string, newSizeGib: number): Promise<VolumeHandle> {
    const volumeId = checkId('volumeId', volumeIdArg);
    const size = checkSize('newSizeGib', newSizeGib);
    const lv = (await this.lvs()).get(volumeLv(volumeId));
    if (!lv) throw new VolumeNotFoundError(volumeId);
    if (size <= lv.sizeGib) {
      throw new InvalidVolumeSpecError(
        'newSizeGib',
        `is ${size} GiB, not larger than the volume (${lv.sizeGib} GiB): volumes only grow`,
      );
    }
    await this.run(volumeId, 'growing the volume', 'lvextend', [
      '-L',
      `${size}G`,
      this.lvPath(lv.name),
    ]);
    return { volumeId, sizeGib: size };
  }

  async snapshot(spec: SnapshotSpec): Promise<void> {
    const volumeId = checkId('volumeId', spec?.volumeId);
    const snapshotId = checkId('snapshotId', spec.snapshotId);
    const lvs = await this.lvs();
    const origin = lvs.get(volumeLv(volumeId));
    if (!origin) throw new VolumeNotFoundError(volumeId);
    if (lvs.has(snapshotLv(snapshotId))) throw new VolumeExistsError('snapshot', snapshotId);
    // Copy-on-write space as large as the volume: the snapshot can never overflow (Cinder's).
    await this.run(snapshotId, 'creating the snapshot', 'lvcreate', [
      '-s',
      '-L',
      `${Math.ceil(origin.sizeGib)}G`,
      '-n',
      snapshotLv(snapshotId),
      this.lvPath(origin.name),
    ]);
  }

  async deleteSnapshot(snapshotIdArg: string): Promise<void> {
    const snapshotId = checkId('snapshotId', snapshotIdArg);
    const name = snapshotLv(snapshotId);
    if (!(await this.lvs()).has(name)) return;
    await this.run(snapshotId, 'deleting the snapshot', 'lvremove', ['-f', this.lvPath(name)]);
  }

  async connectionInfo(volumeIdArg: string): Promise<VolumeConnectionInfo> {
    const volumeId = checkId('volumeId', volumeIdArg);
    const name = volumeLv(volumeId);
    if (!(await this.lvs()).has(name)) throw new VolumeNotFoundError(volumeId);
    return { driver: 'raw', path: this.devicePath(name) };
  }

  async list(): Promise<VolumeInventory> {
    const inventory: VolumeInventory = { volumes: [], snapshots: [] };
    for (const lv of (await this.lvs()).values()) {
      const volumeId = VOLUME_LV.exec(lv.name)?.[1];
      if (volumeId) {
        inventory.volumes.push(volumeId);
        continue;
      }
      const snapshotId = SNAPSHOT_LV.exec(lv.name)?.[1];
      if (snapshotId) {
        inventory.snapshots.push({
          snapshotId,
          volumeId: VOLUME_LV.exec(lv.origin)?.[1] ?? null,
        });
      }
    }
    return inventory;
  }

  // --- helpers ---

  private lvPath(name: string): string {
    return `${this.vg}/${name}`;
  }

  private devicePath(name: string): string {
    return `/dev/${this.vg}/${name}`;
  }

  /** `lvcreate` of the volume's LV, registering its removal. */
  private async createLv(volumeId: string, sizeGib: number, revert: Reverter): Promise<void> {
    const name = volumeLv(volumeId);
    await this.run(volumeId, 'creating the volume', 'lvcreate', [
      '-L',
      `${sizeGib}G`,
      '-n',
      name,
      this.vg,
    ]);
    revert.add(async () => {
      await this.run(volumeId, 'removing the volume', 'lvremove', ['-f', this.lvPath(name)]);
    });
  }

  /** The logical volumes of the group by name. */
  private async lvs(): Promise<Map<string, LogicalVolume>> {
    const { stdout } = await this.run(null, 'listing logical volumes', 'lvs', [
      '--noheadings',
      '--separator',
      ',',
      '--units',
      'g',
      '--nosuffix',
      '-o',
      'lv_name,origin,lv_size',
      this.vg,
    ]);
    const lvs = new Map<string, LogicalVolume>();
    for (const line of stdout.split('\n')) {
      if (line.trim() === '') continue;
      const [name, origin, size] = line.split(',').map((field) => field.trim());
      lvs.set(name, { name, origin: origin ?? '', sizeGib: parseGib(size ?? '') });
    }
    return lvs;
  }

  private async run(
    id: string | null,
    operation: string,
    binary: string,
    args: string[],
  ): Promise<ToolOutput> {
    try {
      return await this.runner(binary, args);
    } catch (err) {
      throw new VolumeCommandError(id, operation, failureText(err), { cause: err });
    }
  }
}

function volumeLv(id: string): string {
  return `volume-${id}`;
}

function snapshotLv(id: string): string {
  return `snapshot-${id}`;
}

/** `10.00g` or `10.00` (GiB) as a number; NaN when malformed. */
function parseGib(text: string): number {
  const match = /^(\d+(?:[.,]\d+)?)g?$/i.exec(text.trim());
  return match ? Number(match[1].replace(',', '.')) : Number.NaN;
}

function failureText(err: unknown): string {
  if (err && typeof err === 'object' && 'stderr' in err && typeof err.stderr === 'string') {
    return err.stderr || (err as unknown as Error).message;
  }
  return err instanceof Error ? err.message : String(err);
}
