import fs from 'node:fs/promises';
import path from 'node:path';
import { runTool, ToolFailure } from '../compute/host-process';
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

export interface FileVolumeConfig {
  /** Folder holding `volumes/` and `snapshots/`; a relative one is resolved against the cwd. */
  root: string;
  /** Default `qemu-img`. */
  qemuImgBinary?: string;
}

const QCOW2 = /^([0-9a-f-]{36})\.qcow2$/;

/**
 * Volumes as qcow2 files: `<root>/volumes/<id>.qcow2`, snapshots as standalone qcow2 copies
 * `<root>/snapshots/<id>.qcow2` with `<id>.json` naming the volume they were taken of.
 * Everything is written under a `.part` name and renamed into place, so `list` never sees
 * half a volume.
 */
export class FileVolumeDriver implements VolumeDriver {
  private readonly root: string;
  private readonly qemuImgBinary: string;

  constructor(config: FileVolumeConfig) {
    this.root = path.resolve(config.root);
    this.qemuImgBinary = config.qemuImgBinary ?? 'qemu-img';
  }

  info(): VolumeDriverInfo {
    return {
      name: 'file',
      capabilities: {
        snapshot: true,
        createFromImage: true,
        extend: true,
        independentSnapshots: true,
      },
    };
  }

  async probe(): Promise<VolumeCapacity> {
    try {
      await runTool(this.qemuImgBinary, ['--version']);
    } catch (err) {
      throw new DriverUnavailableError('file', (err as Error).message, { cause: err });
    }
    try {
      await fs.mkdir(this.volumesDir, { recursive: true });
      await fs.mkdir(this.snapshotsDir, { recursive: true });
      await fs.access(this.volumesDir, fs.constants.W_OK);
      await fs.access(this.snapshotsDir, fs.constants.W_OK);
      const stats = await fs.statfs(this.root);
      return {
        totalGib: (stats.blocks * stats.bsize) / GIB,
        freeGib: (stats.bavail * stats.bsize) / GIB,
      };
    } catch (err) {
      throw new DriverUnavailableError(
        'file',
        `root ${JSON.stringify(this.root)} is not a writable folder: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async create(spec: CreateVolumeSpec): Promise<VolumeHandle> {
    const volumeId = checkId('volumeId', spec?.volumeId);
    const sizeGib = checkSize('sizeGib', spec.sizeGib);
    await this.mustNotExist('volume', volumeId);
    return this.writeVolume(volumeId, sizeGib, (part) =>
      this.qemuImg(volumeId, 'creating the volume', [
        'create',
        '-q',
        '-f',
        'qcow2',
        part,
        `${sizeGib}G`,
      ]).then(() => {}),
    );
  }

  async createFromImage(spec: CreateFromImageSpec): Promise<VolumeHandle> {
    const volumeId = checkId('volumeId', spec?.volumeId);
    const sizeGib = checkSize('sizeGib', spec.sizeGib);
    checkImage(spec.imagePath, spec.imageFormat);
    await this.mustNotExist('volume', volumeId);
    const virtualSize = await this.imageSize(spec.imagePath, spec.imageFormat, volumeId);
    if (virtualSize > sizeGib * GIB) {
      throw new InvalidVolumeSpecError(
        'sizeGib',
        `is ${sizeGib} GiB, smaller than the image (${virtualSize} bytes)`,
      );
    }
    return this.writeVolume(volumeId, sizeGib, (part) =>
      this.copyInto(part, spec.imagePath, spec.imageFormat, virtualSize, sizeGib, volumeId),
    );
  }

  async createFromSnapshot(spec: CreateFromSnapshotSpec): Promise<VolumeHandle> {
    const volumeId = checkId('volumeId', spec?.volumeId);
    const snapshotId = checkId('snapshotId', spec.snapshotId);
    const sizeGib = checkSize('sizeGib', spec.sizeGib);
    await this.mustNotExist('volume', volumeId);
    const source = this.snapshotPath(snapshotId);
    if (!(await exists(source))) throw new SnapshotNotFoundError(snapshotId);
    const virtualSize = await this.imageSize(source, 'qcow2', snapshotId);
    if (virtualSize > sizeGib * GIB) {
      throw new InvalidVolumeSpecError(
        'sizeGib',
        `is ${sizeGib} GiB, smaller than the snapshot (${virtualSize} bytes)`,
      );
    }
    return this.writeVolume(volumeId, sizeGib, (part) =>
      this.copyInto(part, source, 'qcow2', virtualSize, sizeGib, volumeId),
    );
  }

  async delete(volumeIdArg: string, options?: DeleteVolumeOptions): Promise<void> {
    const volumeId = checkId('volumeId', volumeIdArg);
    const { cascade } = checkOptions(options);
    const snapshots = (await this.list()).snapshots
      .filter((s) => s.volumeId === volumeId)
      .map((s) => s.snapshotId);
    if (snapshots.length > 0) {
      if (!cascade) throw new VolumeBusyError(volumeId, snapshots);
      for (const snapshotId of snapshots) await this.deleteSnapshot(snapshotId);
    }
    await fs.rm(this.volumePath(volumeId), { force: true });
  }

  async extend(volumeIdArg: string, newSizeGib: number): Promise<VolumeHandle> {
    const volumeId = checkId('volumeId', volumeIdArg);
    const size = checkSize('newSizeGib', newSizeGib);
    const file = this.volumePath(volumeId);
    if (!(await exists(file))) throw new VolumeNotFoundError(volumeId);
    const current = await this.imageSize(file, 'qcow2', volumeId);
    if (size * GIB <= current) {
      throw new InvalidVolumeSpecError(
        'newSizeGib',
        `is ${size} GiB, not larger than the volume (${current / GIB} GiB): volumes only grow`,
      );
    }
    await this.qemuImg(volumeId, 'growing the volume', ['resize', '-f', 'qcow2', file, `${size}G`]);
    return { volumeId, sizeGib: size };
  }

  async snapshot(spec: SnapshotSpec): Promise<void> {
    const volumeId = checkId('volumeId', spec?.volumeId);
    const snapshotId = checkId('snapshotId', spec.snapshotId);
    const source = this.volumePath(volumeId);
    if (!(await exists(source))) throw new VolumeNotFoundError(volumeId);
    await this.mustNotExist('snapshot', snapshotId);
    await Reverter.run(async (revert) => {
      const target = this.snapshotPath(snapshotId);
      const part = await this.part(target, revert);
      await this.qemuImg(snapshotId, 'copying the volume', [
        'convert',
        '-f',
        'qcow2',
        '-O',
        'qcow2',
        source,
        part,
      ]);
      const sidecar = this.sidecarPath(snapshotId);
      revert.add(() => fs.rm(sidecar, { force: true }));
      await fs.writeFile(sidecar, `${JSON.stringify({ volumeId })}\n`);
      await this.publish(part, target, revert);
    });
  }

  async deleteSnapshot(snapshotIdArg: string): Promise<void> {
    const snapshotId = checkId('snapshotId', snapshotIdArg);
    await fs.rm(this.snapshotPath(snapshotId), { force: true });
    await fs.rm(this.sidecarPath(snapshotId), { force: true });
  }

  async connectionInfo(volumeIdArg: string): Promise<VolumeConnectionInfo> {
    const volumeId = checkId('volumeId', volumeIdArg);
    const file = this.volumePath(volumeId);
    if (!(await exists(file))) throw new VolumeNotFoundError(volumeId);
    return { driver: 'qcow2', path: file };
  }

  async list(): Promise<VolumeInventory> {
    const volumes = (await readdir(this.volumesDir))
      .map((name) => QCOW2.exec(name)?.[1])
      .filter((id): id is string => id !== undefined);
    const snapshots: VolumeInventory['snapshots'] = [];
    for (const name of await readdir(this.snapshotsDir)) {
      const snapshotId = QCOW2.exec(name)?.[1];
      if (snapshotId === undefined) continue;
      let volumeId: string | null = null;
      try {
        const parsed = JSON.parse(await fs.readFile(this.sidecarPath(snapshotId), 'utf8'));
        if (typeof parsed?.volumeId === 'string') volumeId = parsed.volumeId;
      } catch {}
      snapshots.push({ snapshotId, volumeId });
    }
    return { volumes, snapshots };
  }

  // --- helpers ---

  private get volumesDir() {
    return path.join(this.root, 'volumes');
  }
  private get snapshotsDir() {
    return path.join(this.root, 'snapshots');
  }
  private volumePath(id: string) {
    return path.join(this.volumesDir, `${id}.qcow2`);
  }
  private snapshotPath(id: string) {
    return path.join(this.snapshotsDir, `${id}.qcow2`);
  }
  private sidecarPath(id: string) {
    return path.join(this.snapshotsDir, `${id}.json`);
  }

  private async mustNotExist(kind: 'volume' | 'snapshot', id: string): Promise<void> {
    const file = kind === 'volume' ? this.volumePath(id) : this.snapshotPath(id);
    if (await exists(file)) throw new VolumeExistsError(kind, id);
  }

  /** Writes a new volume through a `.part` file renamed into place; a failure leaves nothing. */
  private writeVolume(
    volumeId: string,
    sizeGib: number,
    write: (part: string) => Promise<void>,
  ): Promise<VolumeHandle> {
    return Reverter.run(async (revert) => {
      const part = await this.part(this.volumePath(volumeId), revert);
      await write(part);
      await this.publish(part, this.volumePath(volumeId), revert);
      return { volumeId, sizeGib };
    });
  }

  /** Copies an image (or snapshot) into a standalone qcow2 at `part`, grown to `sizeGib`. */
  private async copyInto(
    part: string,
    source: string,
    format: 'raw' | 'qcow2',
    virtualSize: number,
    sizeGib: number,
    volumeId: string,
  ): Promise<void> {
    await this.qemuImg(volumeId, 'copying the image', [
      'convert',
      '-f',
      format,
      '-O',
      'qcow2',
      source,
      part,
    ]);
    if (virtualSize < sizeGib * GIB) {
      await this.qemuImg(volumeId, 'sizing the volume', [
        'resize',
        '-f',
        'qcow2',
        part,
        `${sizeGib}G`,
      ]);
    }
  }

  /** A fresh `.part` path beside `target` (its folder created), removed on failure. */
  private async part(target: string, revert: Reverter): Promise<string> {
    await fs.mkdir(path.dirname(target), { recursive: true });
    const part = `${target}.part`;
    revert.add(() => fs.rm(part, { force: true }));
    await fs.rm(part, { force: true });
    return part;
  }

  /** Renames `part` to `target`; on a later failure the target is removed again. */
  private async publish(part: string, target: string, revert: Reverter): Promise<void> {
    await fs.rename(part, target);
    revert.add(() => fs.rm(target, { force: true }));
  }

  /** The virtual size of an image in bytes; a missing image is `InvalidVolumeSpecError`. */
  private async imageSize(file: string, format: 'raw' | 'qcow2', id: string): Promise<number> {
    if (!(await exists(file))) {
      throw new InvalidVolumeSpecError('imagePath', `does not exist: ${JSON.stringify(file)}`);
    }
    const { stdout } = await this.qemuImg(id, 'reading the image', [
      'info',
      '-U',
      '--output=json',
      '-f',
      format,
      file,
    ]);
    const size = JSON.parse(stdout)['virtual-size'];
    if (typeof size !== 'number') {
      throw new VolumeCommandError(id, 'reading the image', 'qemu-img info gave no virtual-size');
    }
    return size;
  }

  private async qemuImg(id: string, operation: string, args: string[]) {
    try {
      return await runTool(this.qemuImgBinary, args, { timeoutMs: 30 * 60_000 });
    } catch (err) {
      if (!(err instanceof ToolFailure)) throw err;
      throw new VolumeCommandError(id, operation, err.stderr, { cause: err });
    }
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

async function readdir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
