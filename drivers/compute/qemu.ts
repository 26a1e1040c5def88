import { randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DriverUnavailableError } from '../errors';
import { Reverter } from '../reverter';
import {
  BaseComputeDriver,
  freeSlot,
  guessDevice,
  isVolumeRootDisk,
  lastLinesOf,
  MAX_ATTACHED_VOLUMES,
  MAX_CONSOLE_BYTES,
  powerStateOf,
} from './base';
import {
  HypervisorCommandError,
  InstanceExistsError,
  InstanceNotFoundError,
  InstanceStateError,
  InstanceStuckError,
  InvalidInstanceSpecError,
  VolumeAlreadyAttachedError,
  VolumeDetachTimeoutError,
  VolumeNotAttachedError,
  VolumeSlotsExhaustedError,
} from './errors';
import {
  isAlive,
  isAliveWith,
  readPidfile,
  runTool,
  signal,
  ToolFailure,
  waitForExit,
} from './host-process';
import {
  type InstancePaths,
  instancePaths,
  instancesDir,
  MAX_SOCKET_PATH_BYTES,
  type OpenedVolume,
  qemuArgv,
  volumeBlockdevs,
  volumeDevice,
  volumeNames,
} from './qemu-args';
import { QmpClient, type QmpEvent } from './qmp/client';
import { QmpDisconnectedError, QmpError } from './qmp/errors';
import {
  type BlockstatsEntry,
  diskStatsOf,
  nicStatsOf,
  processCpuNs,
  processRssMib,
} from './stats';
import type {
  AttachVolumeResult,
  ComputeDriverInfo,
  ComputeEvent,
  DetachVolumeOptions,
  DetachVolumeResult,
  HostResources,
  InstanceHandle,
  InstanceSpec,
  InstanceStats,
  InstanceStatus,
  KernelSpec,
  ListOptions,
  NicSpec,
  PowerOffOptions,
  PowerOffResult,
  RebootOptions,
  RebootResult,
  RebuildSpec,
  ResizeSpec,
  RootDiskSpec,
  SnapshotResult,
  VolumeAttachmentSpec,
  VolumeRootDiskSpec,
} from './types';

/** Configuration of the qemu compute driver (validated strictly by `index.ts`). */
export interface QemuConfig {
  /** Folder for instance folders (`<stateDir>/instances/<id>/`); created when missing. */
  stateDir: string;
  /** `auto`: kvm when /dev/kvm is usable, else tcg. */
  accelerator: 'kvm' | 'tcg' | 'auto';
  /** Default `qemu-system-x86_64` (looked up on PATH). */
  qemuBinary?: string;
  /** Default `qemu-img`. */
  qemuImgBinary?: string;
}

const QMP_CONNECT_TIMEOUT_MS = 5_000;
const QMP_COMMAND_TIMEOUT_MS = 30_000;
const LAUNCH_TIMEOUT_MS = 60_000;
const QUIT_TIMEOUT_MS = 10_000;
const KILL_TIMEOUT_MS = 5_000;
const WATCH_INTERVAL_MS = 1_000;
const SNAPSHOT_TIMEOUT_MS = 60 * 60 * 1000;
const GIB = 1024 ** 3;
const UUID_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The QMP events forwarded to `onEvent` listeners, by their QMP name. */
const FORWARDED_EVENTS: ReadonlySet<string> = new Set<ComputeEvent['kind']>([
  'SHUTDOWN',
  'STOP',
  'RESUME',
  'RESET',
  'POWERDOWN',
]);

/** QMP run states of a guest that is frozen and thawed by `cont`. */
const FROZEN_STATES: ReadonlySet<string> = new Set([
  'paused',
  'prelaunch',
  'debug',
  'inmigrate',
  'postmigrate',
  'finish-migrate',
  'restore-vm',
  'save-vm',
  'watchdog',
  'colo',
]);

/** What `instance.json` holds: the spec without user data, to launch the instance again. */
interface StoredInstance {
  version: 1;
  instanceId: string;
  name: string;
  vcpus: number;
  memoryMib: number;
  /** An overlay (`disk.qcow2`), a volume used in place (boot from volume), or none. */
  rootDisk: RootDiskSpec | VolumeRootDiskSpec | null;
  kernel?: KernelSpec;
  hasUserData: boolean;
  hasMetaData: boolean;
  /** Volumes attached besides the root disk, each in its PCIe root port (slot). */
  volumes?: StoredVolume[];
  /** NICs in guest order. */
  nics?: NicSpec[];
}

/** An attached volume in `instance.json`: what QEMU opens, and the root port it sits in. */
interface StoredVolume extends VolumeAttachmentSpec {
  slot: number;
}

/** One attached instance: its process, its QMP connection and the watch on its pid. */
interface Session {
  instanceId: string;
  paths: InstancePaths;
  pid: number;
  qmp: QmpClient;
  watch: NodeJS.Timeout | null;
  /** A SHUTDOWN came or the driver ended the process itself: its exit is no news. */
  exitExpected: boolean;
  detached: boolean;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/** Writes `text` to `file` through a temporary file renamed into place (same folder). */
async function writeAtomic(file: string, text: string): Promise<void> {
  const temporary = `${file}.tmp`;
  try {
    await fs.writeFile(temporary, text, { mode: 0o600 });
    await fs.rename(temporary, file);
  } catch (err) {
    await fs.rm(temporary, { force: true }).catch(() => {});
    throw err;
  }
}

/** Copies `source` to `dest` through a temporary file renamed into place (a reflink if it can). */
async function copyAtomic(source: string, dest: string): Promise<void> {
  const temporary = `${dest}.tmp`;
  try {
    await fs.copyFile(source, temporary, fsConstants.COPYFILE_FICLONE);
    await fs.rename(temporary, dest);
  } catch (err) {
    await fs.rm(temporary, { force: true }).catch(() => {});
    throw err;
  }
}

function storedText(stored: StoredInstance): string {
  return `${JSON.stringify(stored, null, 2)}\n`;
}

/**
 * Checks that a volume's path names a file or a block device (`field` names it in the error)
 * and says which, for the file node's driver (`file` or `host_device`).
 */
async function openVolume(volume: VolumeAttachmentSpec, field: string): Promise<OpenedVolume> {
  let stats: Awaited<ReturnType<typeof fs.stat>>;
  try {
    stats = await fs.stat(volume.path);
  } catch {
    throw new InvalidInstanceSpecError(
      `${field}.path`,
      `names no file or block device: ${JSON.stringify(volume.path)}`,
    );
  }
  if (!stats.isFile() && !stats.isBlockDevice()) {
    throw new InvalidInstanceSpecError(
      `${field}.path`,
      `is neither a file nor a block device: ${JSON.stringify(volume.path)}`,
    );
  }
  const { volumeId, driver, path: file } = volume;
  return { volumeId, driver, path: file, blockDevice: stats.isBlockDevice() };
}

/** A stored volume for a launch: a path that vanished is left for QEMU to report. */
async function openedForLaunch(volume: VolumeAttachmentSpec): Promise<OpenedVolume> {
  const { volumeId, driver, path: file } = volume;
  const blockDevice = await fs.stat(file).then(
    (stats) => stats.isBlockDevice(),
    () => false,
  );
  return { volumeId, driver, path: file, blockDevice };
}

/**
 * Refuses a NIC whose tap does not exist: QEMU (as root) would create a fresh tap of that
 * name, plugged into nothing, and the guest would silently have no network.
 */
async function checkTap(nic: NicSpec, field: string): Promise<void> {
  if (!(await exists(path.join('/sys/class/net', nic.tapName)))) {
    throw new InvalidInstanceSpecError(
      `${field}.tapName`,
      `names no network device "${nic.tapName}": the network driver must create the tap first`,
    );
  }
}

/** The volumes of a definition, root volume first (boot from volume), then by slot. */
function volumesOf(stored: StoredInstance): VolumeAttachmentSpec[] {
  const root = isVolumeRootDisk(stored.rootDisk) ? [stored.rootDisk.volume] : [];
  const attached = [...(stored.volumes ?? [])].sort((a, b) => a.slot - b.slot);
  return [...root, ...attached];
}

/** QMP's answer when an unplug is already pending, or the device is gone already. */
function isPendingUnplug(err: unknown): boolean {
  return err instanceof QmpError && /in progress|pending|in the process of/i.test(err.desc);
}
function isGone(err: unknown): boolean {
  return (
    err instanceof QmpError &&
    (err.errorClass === 'DeviceNotFound' || /not found|cannot find/i.test(err.desc))
  );
}

/**
 * Real QEMU VMs (`qemu-system-x86_64`), one daemonized process per instance with a QMP socket
 * in the instance folder. Every lifecycle operation goes through QMP; signals are used only
 * when QMP cannot be reached or QEMU ignores `quit` (a wedged process must still go away).
 */
export class QemuComputeDriver extends BaseComputeDriver {
  private readonly stateDir: string;
  private readonly qemuBinary: string;
  private readonly qemuImgBinary: string;
  private accelerator: 'kvm' | 'tcg' | null = null;
  private readonly sessions = new Map<string, Session>();
  private readonly attaching = new Map<string, Promise<Session | null>>();

  constructor(private readonly config: QemuConfig) {
    super();
    this.stateDir = path.resolve(config.stateDir);
    this.qemuBinary = config.qemuBinary ?? 'qemu-system-x86_64';
    this.qemuImgBinary = config.qemuImgBinary ?? 'qemu-img';
  }

  /** qemu offers every optional operation; see `ComputeDriverInfo` for what suspend means. */
  info(): ComputeDriverInfo {
    return {
      name: 'qemu',
      capabilities: {
        pause: true,
        suspend: true,
        snapshot: true,
        consoleLog: true,
        softReboot: true,
        resize: true,
        rebuild: true,
        volumes: true,
        nics: true,
      },
    };
  }

  /**
   * Checks the state folder is writable (creating it) and short enough for QMP socket paths,
   * that QEMU and qemu-img run, and that the accelerator is usable; returns the host's
   * resources. Throws `DriverUnavailableError` naming what is wrong.
   */
  async probe(): Promise<HostResources> {
    const dir = instancesDir(this.stateDir);
    try {
      await fs.mkdir(dir, { recursive: true });
      await fs.access(dir, fsConstants.W_OK);
    } catch (err) {
      throw new DriverUnavailableError(
        'qemu',
        `state folder ${this.stateDir} is not writable: ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.checkSocketPath(instancePaths(this.stateDir, '00000000-0000-0000-0000-000000000000'));
    for (const binary of [this.qemuBinary, this.qemuImgBinary]) {
      try {
        await runTool(binary, ['--version'], { timeoutMs: 10_000 });
      } catch (err) {
        throw new DriverUnavailableError('qemu', (err as Error).message, { cause: err });
      }
    }
    const accelerator = await this.resolveAccelerator();
    const disk = await fs.statfs(this.stateDir);
    return {
      hostname: os.hostname(),
      vcpus: os.availableParallelism(),
      memoryMib: Math.floor(os.totalmem() / 1024 ** 2),
      diskGib: Math.floor((disk.blocks * disk.bsize) / GIB),
      accelerator,
    };
  }

  /** Instance ids with a folder under the state folder: with a live QEMU, or all of them. */
  async list(options: ListOptions = {}): Promise<string[]> {
    let names: string[];
    try {
      const entries = await fs.readdir(instancesDir(this.stateDir), { withFileTypes: true });
      names = entries.filter((e) => e.isDirectory() && UUID_NAME.test(e.name)).map((e) => e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    if (options.all) return names;
    const running: string[] = [];
    for (const id of names) {
      const session = this.sessions.get(id);
      if (session && !session.detached && (await isAlive(session.pid))) {
        running.push(id);
        continue;
      }
      const paths = instancePaths(this.stateDir, id);
      const pid = await readPidfile(paths.pidfile);
      if (pid !== null && (await isAliveWith(pid, paths.qmpSocket))) running.push(id);
    }
    return running;
  }

  /** Closes every QMP connection and stops watching; the VMs keep running. */
  async close(): Promise<void> {
    await Promise.allSettled(this.attaching.values());
    const sessions = [...this.sessions.values()];
    for (const session of sessions) this.detach(session);
    await Promise.all(sessions.map((s) => s.qmp.close()));
  }

  protected async spawnInstance(spec: InstanceSpec): Promise<InstanceHandle> {
    const id = spec.instanceId;
    const accelerator = await this.resolveAccelerator();
    const paths = instancePaths(this.stateDir, id);
    this.checkSocketPath(paths);
    if (await exists(paths.dir)) throw new InstanceExistsError(id);
    const stored: StoredInstance = {
      version: 1,
      instanceId: id,
      name: spec.name,
      vcpus: spec.vcpus,
      memoryMib: spec.memoryMib,
      rootDisk: spec.rootDisk,
      ...(spec.kernel ? { kernel: spec.kernel } : {}),
      hasUserData: spec.userData !== undefined,
      hasMetaData: spec.metadata !== undefined,
      ...(spec.volumes ? { volumes: spec.volumes.map((v, slot) => ({ ...v, slot })) } : {}),
      ...(spec.nics ? { nics: spec.nics } : {}),
    };
    const overlay = spec.rootDisk && !isVolumeRootDisk(spec.rootDisk) ? spec.rootDisk : null;
    if (overlay) await this.checkBaseImage(id, overlay);
    if (isVolumeRootDisk(spec.rootDisk)) await openVolume(spec.rootDisk.volume, 'rootDisk.volume');
    for (const [i, volume] of (spec.volumes ?? []).entries()) {
      await openVolume(volume, `volumes[${i}]`);
    }
    for (const [i, nic] of (spec.nics ?? []).entries()) await checkTap(nic, `nics[${i}]`);

    return Reverter.run(async (revert) => {
      // 1. The instance folder: everything below lives in it.
      await fs.mkdir(instancesDir(this.stateDir), { recursive: true });
      try {
        await fs.mkdir(paths.dir, { mode: 0o700 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new InstanceExistsError(id);
        throw err;
      }
      revert.add(() => fs.rm(paths.dir, { recursive: true, force: true }));

      // 2. The root disk: a qcow2 overlay over the cached base image (a volume is used as is).
      if (overlay) {
        const { baseImagePath, format, sizeGib } = overlay;
        await this.qemuImg(id, 'creating the disk overlay', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-F',
          format,
          '-b',
          baseImagePath,
          paths.disk,
          `${sizeGib}G`,
        ]);
        revert.add(() => fs.rm(paths.disk, { force: true }));
      }

      // 3. User data and metadata, served to the guest by fw_cfg.
      if (spec.userData !== undefined) {
        await fs.writeFile(paths.userData, spec.userData, { mode: 0o600 });
        revert.add(() => fs.rm(paths.userData, { force: true }));
      }
      if (spec.metadata !== undefined) {
        await fs.writeFile(paths.metaData, JSON.stringify(spec.metadata), { mode: 0o600 });
        revert.add(() => fs.rm(paths.metaData, { force: true }));
      }

      // 4. What `start` launches again after a power-off.
      await fs.writeFile(paths.spec, storedText(stored), { mode: 0o600 });
      revert.add(() => fs.rm(paths.spec, { force: true }));

      // 5. The QEMU process, then its QMP connection.
      const session = await this.launch(
        stored,
        paths,
        accelerator,
        spec.startPaused ?? false,
        revert,
      );
      return this.handle(session);
    });
  }

  protected async destroyInstance(instanceId: string): Promise<void> {
    const paths = instancePaths(this.stateDir, instanceId);
    if (!(await exists(paths.dir))) return;
    let session: Session | null = null;
    try {
      session = await this.session(instanceId, paths);
    } catch {
      // QMP is unusable (another client holds it, QEMU is wedged): fall back to the pid.
    }
    if (session) {
      await this.endProcess(session);
    } else {
      const pid = await readPidfile(paths.pidfile);
      if (pid !== null) await this.killUnattached(instanceId, pid, paths);
    }
    await fs.rm(paths.dir, { recursive: true, force: true });
  }

  protected async startInstance(instanceId: string): Promise<InstanceHandle> {
    const paths = await this.existing(instanceId);
    const session = await this.session(instanceId, paths);
    if (!session) return this.handle(await this.relaunch(instanceId, paths));
    const { status } = await this.queryStatus(session);
    if (status === 'suspended') {
      await session.qmp.execute('system_wakeup');
    } else if (status !== 'running') {
      if (!FROZEN_STATES.has(status)) await session.qmp.execute('system_reset');
      await session.qmp.execute('cont');
    }
    await fs.rm(paths.suspendedMark, { force: true });
    return this.handle(session);
  }

  protected async powerOffInstance(
    instanceId: string,
    options: Required<PowerOffOptions>,
  ): Promise<PowerOffResult> {
    const paths = await this.existing(instanceId);
    const session = await this.session(instanceId, paths);
    if (!session) {
      await fs.rm(paths.suspendedMark, { force: true });
      return { method: 'already-off' };
    }
    if (options.graceful) {
      const { status } = await this.queryStatus(session);
      // A frozen guest cannot see the power button: it goes straight to `quit`.
      if (status === 'running') {
        await this.pressPowerButton(session);
        if (await waitForExit(session.pid, options.timeoutMs)) {
          this.detach(session);
          await fs.rm(paths.suspendedMark, { force: true });
          return { method: 'acpi' };
        }
      }
    }
    await this.endProcess(session);
    return { method: 'quit' };
  }

  protected async rebootInstance(
    instanceId: string,
    options: Required<RebootOptions>,
  ): Promise<RebootResult> {
    const paths = await this.existing(instanceId);
    const session = await this.session(instanceId, paths);
    if (!session) {
      await this.relaunch(instanceId, paths);
      return { method: 'boot' };
    }
    const { status } = await this.queryStatus(session);
    if (!options.hard && status === 'running') {
      // Nova's soft reboot: ask the guest to power off, boot it again once it is down.
      await this.pressPowerButton(session);
      if (await waitForExit(session.pid, options.timeoutMs)) {
        this.detach(session);
        await this.relaunch(instanceId, paths);
        this.emit({ instanceId, kind: 'RESET', detail: JSON.stringify({ reason: 'soft-reboot' }) });
        return { method: 'acpi' };
      }
    }
    // Hard reboot, a frozen guest (it cannot see ACPI), or a guest that ignored the button.
    await session.qmp.execute('system_reset');
    if (status !== 'running') await session.qmp.execute('cont');
    await fs.rm(paths.suspendedMark, { force: true });
    return { method: 'reset' };
  }

  protected async pauseInstance(instanceId: string): Promise<void> {
    const session = await this.runningSession(instanceId, 'pause');
    await session.qmp.execute('stop');
  }

  protected async unpauseInstance(instanceId: string): Promise<void> {
    const session = await this.runningSession(instanceId, 'unpause');
    await session.qmp.execute('cont');
    await fs.rm(session.paths.suspendedMark, { force: true });
  }

  protected async suspendInstance(instanceId: string): Promise<void> {
    const session = await this.runningSession(instanceId, 'suspend');
    await session.qmp.execute('stop');
    await fs.writeFile(session.paths.suspendedMark, `${new Date().toISOString()}\n`);
  }

  protected async resumeInstance(instanceId: string): Promise<void> {
    const session = await this.runningSession(instanceId, 'resume');
    await session.qmp.execute('cont');
    await fs.rm(session.paths.suspendedMark, { force: true });
  }

  protected async instanceStatus(instanceId: string): Promise<InstanceStatus> {
    const paths = await this.existing(instanceId);
    return this.statusOf(await this.session(instanceId, paths), paths);
  }

  /** CPU and RSS of the process, QMP block counters, tap counters (drivers/compute/stats.ts). */
  protected async instanceStats(instanceId: string): Promise<InstanceStats> {
    const paths = await this.existing(instanceId);
    const session = await this.session(instanceId, paths);
    if (!session) throw new InstanceStateError(instanceId, 'stats', 'shut off');
    const stored = await this.readStored(instanceId, paths);
    const [cpuTimeNs, memoryUsageMib, blockstats, nics] = await Promise.all([
      processCpuNs(session.pid),
      processRssMib(session.pid),
      session.qmp.execute<BlockstatsEntry[]>('query-blockstats'),
      nicStatsOf(stored.nics ?? []),
    ]);
    const rootOverlay = stored.rootDisk !== null && !isVolumeRootDisk(stored.rootDisk);
    return {
      cpuTimeNs,
      vcpus: stored.vcpus,
      memoryMib: stored.memoryMib,
      memoryUsageMib,
      disks: diskStatsOf(blockstats, rootOverlay, volumesOf(stored)),
      nics,
    };
  }

  protected async adoptInstance(instanceId: string): Promise<InstanceHandle> {
    const paths = await this.existing(instanceId);
    const session = await this.session(instanceId, paths);
    if (!session) throw new InstanceStateError(instanceId, 'adopt', 'shut off');
    return this.handle(session);
  }

  protected async readConsoleLog(instanceId: string, lastLines?: number): Promise<string> {
    const paths = await this.existing(instanceId);
    let file: fs.FileHandle;
    try {
      file = await fs.open(paths.consoleLog, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
    try {
      const { size } = await file.stat();
      const start = Math.max(0, size - MAX_CONSOLE_BYTES);
      const buffer = Buffer.alloc(size - start);
      await file.read(buffer, 0, buffer.length, start);
      let text = buffer.toString('utf8');
      // Cut at most 1 MiB: drop the partial first line rather than show half of it.
      if (start > 0) text = text.slice(text.indexOf('\n') + 1);
      return lastLinesOf(text, lastLines);
    } finally {
      await file.close();
    }
  }

  protected async snapshotInstance(instanceId: string, destPath: string): Promise<SnapshotResult> {
    const paths = await this.existing(instanceId);
    const stored = await this.readStored(instanceId, paths);
    if (!stored.rootDisk) {
      throw new InstanceStateError(instanceId, 'snapshot', 'diskless (it has no root disk)');
    }
    if (isVolumeRootDisk(stored.rootDisk)) {
      throw new InstanceStateError(
        instanceId,
        'snapshot',
        'booted from a volume (snapshot the volume instead)',
      );
    }
    const session = await this.session(instanceId, paths);
    let frozen = false;
    if (session && (await this.queryStatus(session)).status === 'running') {
      // Stopping drains and flushes QEMU's block layer: the overlay on disk is consistent.
      await session.qmp.execute('stop');
      frozen = true;
    }
    const temporary = path.join(
      path.dirname(destPath),
      `.${path.basename(destPath)}.${randomUUID()}.tmp`,
    );
    let failure: unknown = null;
    try {
      await Reverter.run(async (revert) => {
        revert.add(() => fs.rm(temporary, { force: true }));
        // -U: QEMU holds the image lock; reading is safe while the guest is frozen.
        await this.qemuImg(
          instanceId,
          'snapshot',
          ['convert', '-U', '-f', 'qcow2', '-O', 'qcow2', paths.disk, temporary],
          SNAPSHOT_TIMEOUT_MS,
        );
        await fs.rename(temporary, destPath);
      });
    } catch (err) {
      failure = err;
    }
    if (frozen && session && !session.detached) {
      try {
        await session.qmp.execute('cont');
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== null) throw failure;
    const { size } = await fs.stat(destPath);
    return { format: 'qcow2', sizeBytes: size };
  }

  /**
   * Resize of a shut-off instance. Order matters for a crash half-way: the disk copy first,
   * then `instance.json.pre-resize` (the mark that a resize is pending, so a revert is
   * possible from here on), then the growth and the new `instance.json`.
   */
  protected async resizeInstance(instanceId: string, spec: ResizeSpec): Promise<void> {
    const paths = await this.existing(instanceId);
    await this.refuseRunning(instanceId, paths, 'resize');
    if (await exists(paths.specPreResize)) {
      throw new InstanceStateError(
        instanceId,
        'resize',
        'already resized (a resize is pending: confirm or revert it first)',
      );
    }
    const stored = await this.readStored(instanceId, paths);
    // A volume as root disk keeps its size (Nova ignores the flavor's disk for it).
    const overlay = stored.rootDisk && !isVolumeRootDisk(stored.rootDisk) ? stored.rootDisk : null;
    let grow = false;
    if (overlay) {
      const current = await this.virtualSize(instanceId, paths.disk, 'reading the root disk');
      grow = spec.rootDiskGib * GIB > current;
    }
    const resized: StoredInstance = {
      ...stored,
      vcpus: spec.vcpus,
      memoryMib: spec.memoryMib,
      rootDisk: overlay
        ? { ...overlay, sizeGib: Math.max(overlay.sizeGib, spec.rootDiskGib) }
        : stored.rootDisk,
    };
    await Reverter.run(async (revert) => {
      if (overlay) {
        revert.add(() => fs.rm(paths.diskPreResize, { force: true }));
        await copyAtomic(paths.disk, paths.diskPreResize);
      }
      revert.add(() => fs.rm(paths.specPreResize, { force: true }));
      await copyAtomic(paths.spec, paths.specPreResize);
      if (grow) {
        // A failed resize may have half-written the overlay: put the copy back.
        revert.add(() => fs.rename(paths.diskPreResize, paths.disk));
        await this.qemuImg(instanceId, 'growing the root disk', [
          'resize',
          '-q',
          '-f',
          'qcow2',
          paths.disk,
          `${spec.rootDiskGib}G`,
        ]);
      }
      await writeAtomic(paths.spec, storedText(resized));
    });
  }

  protected async confirmResizeInstance(instanceId: string): Promise<void> {
    const paths = await this.existing(instanceId);
    await this.requirePendingResize(instanceId, paths, 'confirm the resize of');
    // The mark first: once it is gone the resize is confirmed, whatever happens next.
    await fs.rm(paths.specPreResize);
    await fs.rm(paths.diskPreResize, { force: true });
  }

  protected async revertResizeInstance(instanceId: string): Promise<void> {
    const paths = await this.existing(instanceId);
    await this.requirePendingResize(instanceId, paths, 'revert the resize of');
    await this.refuseRunning(instanceId, paths, 'revert the resize of');
    // The disk first, then the definition (whose rename also ends the pending resize). A
    // missing copy with the mark still there: an earlier revert got this far and stopped.
    if (await exists(paths.diskPreResize)) await fs.rename(paths.diskPreResize, paths.disk);
    // Volumes attached or detached since the resize stay as they are now (only the size
    // reverts): the old definition gets the current attachments, then replaces the new one.
    const current = await this.readStored(instanceId, paths);
    const previous = JSON.parse(await fs.readFile(paths.specPreResize, 'utf8')) as StoredInstance;
    const { volumes: _oldVolumes, ...kept } = previous;
    await writeAtomic(
      paths.specPreResize,
      storedText({ ...kept, ...(current.volumes ? { volumes: current.volumes } : {}) }),
    );
    await fs.rename(paths.specPreResize, paths.spec);
  }

  protected async hasPendingResizeInstance(instanceId: string): Promise<boolean> {
    const paths = await this.existing(instanceId);
    return exists(paths.specPreResize);
  }

  /**
   * Rebuild of a shut-off instance: the new overlay is created beside the old one, then
   * swapped in by `rename` (the old one stays reachable through a hard link until the new
   * `instance.json` is in place), so a failure at any step leaves the old disk.
   */
  protected async rebuildInstance(instanceId: string, spec: RebuildSpec): Promise<void> {
    const paths = await this.existing(instanceId);
    await this.refuseRunning(instanceId, paths, 'rebuild');
    if (await exists(paths.specPreResize)) {
      throw new InstanceStateError(
        instanceId,
        'rebuild',
        'resized (a resize is pending: confirm or revert it first)',
      );
    }
    const stored = await this.readStored(instanceId, paths);
    if (isVolumeRootDisk(stored.rootDisk)) {
      throw new InstanceStateError(
        instanceId,
        'rebuild',
        'booted from a volume (re-image the volume instead)',
      );
    }
    if (spec.rootDisk === null && stored.rootDisk !== null) {
      throw new InvalidInstanceSpecError(
        'rootDisk',
        'is null but the instance has a root disk: a rebuild replaces the disk, it cannot remove it',
      );
    }
    if (spec.rootDisk) await this.checkBaseImage(instanceId, spec.rootDisk);
    const { kernel: _oldKernel, ...kept } = stored;
    const rebuilt: StoredInstance = {
      ...kept,
      rootDisk: spec.rootDisk,
      ...(spec.kernel ? { kernel: spec.kernel } : {}),
    };
    const fresh = `${paths.disk}.rebuild`;
    const previous = `${paths.disk}.pre-rebuild`;
    await fs.rm(previous, { force: true }); // left by a crash during an earlier rebuild
    await Reverter.run(async (revert) => {
      // 1. The new overlay, beside the old one.
      if (spec.rootDisk) {
        const { baseImagePath, format, sizeGib } = spec.rootDisk;
        revert.add(() => fs.rm(fresh, { force: true }));
        await this.qemuImg(instanceId, 'creating the disk overlay', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-F',
          format,
          '-b',
          baseImagePath,
          fresh,
          `${sizeGib}G`,
        ]);
      }
      // 2. Keep the old overlay reachable, then swap the new one in (one rename: the disk
      // path always names a whole disk).
      if (stored.rootDisk) {
        await this.keepLink(paths.disk, previous);
        revert.add(() => fs.rename(previous, paths.disk));
      }
      if (spec.rootDisk) {
        await fs.rename(fresh, paths.disk);
        if (!stored.rootDisk) revert.add(() => fs.rm(paths.disk, { force: true }));
      }
      // 3. What `start` launches from now on.
      await writeAtomic(paths.spec, storedText(rebuilt));
    });
    // Done: a leftover old disk is no failure (the next rebuild or destroy removes it).
    await fs.rm(previous, { force: true }).catch(() => {});
  }

  // --- volumes ---

  protected async attachVolumeInstance(
    instanceId: string,
    volume: VolumeAttachmentSpec,
  ): Promise<AttachVolumeResult> {
    const paths = await this.existing(instanceId);
    const stored = await this.readStored(instanceId, paths);
    const volumes = stored.volumes ?? [];
    const formatNode = volumeNames(volume.volumeId).formatNode;
    for (const other of volumesOf(stored)) {
      if (other.volumeId === volume.volumeId) {
        throw new VolumeAlreadyAttachedError(instanceId, volume.volumeId);
      }
      if (volumeNames(other.volumeId).formatNode === formatNode) {
        throw new InvalidInstanceSpecError(
          'volume.volumeId',
          `shares its first 24 hex digits with attached volume ${other.volumeId} (QEMU names clash)`,
        );
      }
      if (other.path === volume.path) {
        throw new InvalidInstanceSpecError(
          'volume.path',
          `is already attached as volume ${other.volumeId}`,
        );
      }
    }
    const used = volumes.map((v) => v.slot);
    const slot = freeSlot(used);
    if (slot === null) throw new VolumeSlotsExhaustedError(instanceId, MAX_ATTACHED_VOLUMES);
    const opened = await openVolume(volume, 'volume');
    const updated: StoredInstance = { ...stored, volumes: [...volumes, { ...volume, slot }] };
    const device = guessDevice(stored.rootDisk !== null, used, slot);

    const session = await this.session(instanceId, paths);
    if (!session) {
      await writeAtomic(paths.spec, storedText(updated));
      return { device, method: 'definition' };
    }
    await Reverter.run(async (revert) => {
      const operation = `attaching volume "${volume.volumeId}"`;
      for (const node of volumeBlockdevs(opened)) {
        await this.qmpStep(session, instanceId, operation, 'blockdev-add', node);
        revert.add(() => this.dropNode(session, node['node-name'] as string));
      }
      const deviceArgs = volumeDevice(volume.volumeId, slot);
      await this.qmpStep(session, instanceId, operation, 'device_add', deviceArgs);
      revert.add(async () => {
        await this.unplug(session, deviceArgs.id as string, 5_000);
      });
      await writeAtomic(paths.spec, storedText(updated));
    });
    return { device, method: 'hot-plug' };
  }

  protected async detachVolumeInstance(
    instanceId: string,
    volumeId: string,
    options: Required<DetachVolumeOptions>,
  ): Promise<DetachVolumeResult> {
    const paths = await this.existing(instanceId);
    const stored = await this.readStored(instanceId, paths);
    if (isVolumeRootDisk(stored.rootDisk) && stored.rootDisk.volume.volumeId === volumeId) {
      throw new InstanceStateError(
        instanceId,
        `detach volume "${volumeId}" from`,
        'booted from it (the root disk cannot be detached)',
      );
    }
    const volumes = stored.volumes ?? [];
    if (!volumes.some((v) => v.volumeId === volumeId)) {
      throw new VolumeNotAttachedError(instanceId, volumeId);
    }
    const updated: StoredInstance = {
      ...stored,
      volumes: volumes.filter((v) => v.volumeId !== volumeId),
    };
    const session = await this.session(instanceId, paths);
    if (session) {
      const names = volumeNames(volumeId);
      if (!(await this.unplug(session, names.deviceId, options.timeoutMs))) {
        throw new VolumeDetachTimeoutError(instanceId, volumeId, options.timeoutMs);
      }
      // The process may have ended meanwhile: its nodes went with it.
      for (const node of [names.formatNode, names.fileNode]) await this.dropNode(session, node);
    }
    await writeAtomic(paths.spec, storedText(updated));
    return { method: session ? 'hot-unplug' : 'definition' };
  }

  protected async extendVolumeInstance(
    instanceId: string,
    volumeId: string,
    newSizeBytes: number,
  ): Promise<void> {
    const paths = await this.existing(instanceId);
    const stored = await this.readStored(instanceId, paths);
    const volume = volumesOf(stored).find((v) => v.volumeId === volumeId);
    if (!volume) throw new VolumeNotAttachedError(instanceId, volumeId);
    const operation = `extending volume "${volumeId}"`;
    const refuseShrink = (current: number) => {
      if (newSizeBytes < current) {
        throw new InvalidInstanceSpecError(
          'newSizeBytes',
          `is ${newSizeBytes} bytes, smaller than the volume (${current} bytes): volumes only grow`,
        );
      }
    };
    const session = await this.session(instanceId, paths);
    if (session) {
      const { formatNode } = volumeNames(volumeId);
      const nodes = await this.qmpStep<
        { 'node-name': string; image: { 'virtual-size': number } }[]
      >(session, instanceId, operation, 'query-named-block-nodes', { flat: true });
      const node = nodes.find((n) => n['node-name'] === formatNode);
      if (node) refuseShrink(node.image['virtual-size']);
      // Grows a qcow2 or a raw file itself; a block device must already be this large.
      await this.qmpStep(session, instanceId, operation, 'block_resize', {
        'node-name': formatNode,
        size: newSizeBytes,
      });
      return;
    }
    const { stdout } = await this.qemuImg(instanceId, operation, [
      'info',
      '-U',
      '-f',
      volume.driver,
      '--output=json',
      volume.path,
    ]);
    refuseShrink((JSON.parse(stdout) as { 'virtual-size'?: number })['virtual-size'] ?? 0);
    await this.qemuImg(instanceId, operation, [
      'resize',
      '-q',
      '-f',
      volume.driver,
      volume.path,
      String(newSizeBytes),
    ]);
  }

  protected async attachedVolumesOf(instanceId: string): Promise<string[]> {
    const paths = await this.existing(instanceId);
    return volumesOf(await this.readStored(instanceId, paths)).map((v) => v.volumeId);
  }

  /**
   * Asks QEMU to unplug device `deviceId` and waits up to `timeoutMs` for its
   * `DEVICE_DELETED` (the guest acknowledged the ACPI eject). True when it is gone (also when
   * it was already, or the process ended); false on timeout, the unplug staying pending.
   * An unplug requested earlier (a detach that timed out) is waited for again.
   */
  private async unplug(session: Session, deviceId: string, timeoutMs: number): Promise<boolean> {
    let settle!: (gone: boolean) => void;
    const outcome = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    const offEvent = session.qmp.onEvent((event) => {
      if (event.event === 'DEVICE_DELETED' && event.data.device === deviceId) settle(true);
    });
    const offClose = session.qmp.onClose(() => settle(true));
    const timer = setTimeout(() => settle(false), timeoutMs);
    try {
      try {
        await session.qmp.execute('device_del', { id: deviceId });
      } catch (err) {
        if (isGone(err) || err instanceof QmpDisconnectedError) return true;
        if (!isPendingUnplug(err)) {
          throw new HypervisorCommandError(
            session.instanceId,
            `unplugging ${deviceId}`,
            err instanceof QmpError ? err.desc : String(err),
            { cause: err },
          );
        }
      }
      return await outcome;
    } finally {
      clearTimeout(timer);
      offEvent();
      offClose();
    }
  }

  /** Deletes a block node; one that is gone already (or a process that ended) is fine. */
  private async dropNode(session: Session, nodeName: string): Promise<void> {
    try {
      await session.qmp.execute('blockdev-del', { 'node-name': nodeName });
    } catch (err) {
      if (isGone(err) || err instanceof QmpDisconnectedError) return;
      throw err;
    }
  }

  /** Runs a QMP command of a volume operation; QEMU's refusal becomes HypervisorCommandError. */
  private async qmpStep<T = unknown>(
    session: Session,
    instanceId: string,
    operation: string,
    command: string,
    args: Record<string, unknown>,
  ): Promise<T> {
    try {
      return await session.qmp.execute<T>(command, args);
    } catch (err) {
      if (!(err instanceof QmpError)) throw err;
      throw new HypervisorCommandError(instanceId, `${operation} (${command})`, err.desc, {
        cause: err,
      });
    }
  }

  // --- processes ---

  /**
   * Launches QEMU for `stored` and attaches to it; registers on `revert` how to end both.
   * Stale runtime files of an earlier process (after a kill) are removed first.
   */
  private async launch(
    stored: StoredInstance,
    paths: InstancePaths,
    accelerator: 'kvm' | 'tcg',
    startPaused: boolean,
    revert: Reverter,
  ): Promise<Session> {
    const id = stored.instanceId;
    // A `status` that began attaching before this launch must be done before QEMU starts.
    await this.attaching.get(id)?.catch(() => null);
    await fs.rm(paths.qmpSocket, { force: true });
    await fs.rm(paths.pidfile, { force: true });
    await fs.rm(paths.suspendedMark, { force: true });
    const argv = qemuArgv({
      instanceId: id,
      name: stored.name,
      vcpus: stored.vcpus,
      memoryMib: stored.memoryMib,
      accelerator,
      paths,
      rootDisk: isVolumeRootDisk(stored.rootDisk)
        ? await openedForLaunch(stored.rootDisk.volume)
        : stored.rootDisk && 'overlay',
      volumes: await Promise.all(
        (stored.volumes ?? []).map(async (v) => ({
          volume: await openedForLaunch(v),
          slot: v.slot,
        })),
      ),
      nics: stored.nics ?? [],
      kernel: stored.kernel,
      hasUserData: stored.hasUserData,
      hasMetaData: stored.hasMetaData,
      startPaused,
    });
    // The daemonizing parent exits once the machine is set up: errors (a missing kernel, a
    // locked disk) come back here on stderr with a non-zero exit.
    revert.add(async () => {
      const pid = await readPidfile(paths.pidfile);
      if (pid !== null) await this.killUnattached(id, pid, paths);
    });
    // WARNING: QEMU serves one QMP client at a time. Until this launch has attached, anyone
    // else asking for the session (a `status` poll) waits for this one instead of connecting.
    let settle!: (session: Session | null) => void;
    const launched = new Promise<Session | null>((resolve) => {
      settle = resolve;
    });
    this.attaching.set(id, launched);
    try {
      try {
        await runTool(this.qemuBinary, argv, { timeoutMs: LAUNCH_TIMEOUT_MS });
      } catch (err) {
        if (!(err instanceof ToolFailure)) throw err;
        throw new HypervisorCommandError(id, 'starting qemu', err.stderr, { cause: err });
      }
      const pid = await readPidfile(paths.pidfile);
      if (pid === null) {
        throw new HypervisorCommandError(
          id,
          'starting qemu',
          `QEMU wrote no pid to ${paths.pidfile}`,
        );
      }
      const session = await this.attach(id, paths, pid);
      revert.add(() => this.endProcess(session));
      settle(session);
      return session;
    } catch (err) {
      settle(null);
      throw err;
    } finally {
      if (this.attaching.get(id) === launched) this.attaching.delete(id);
    }
  }

  /** Launches a shut-off instance again from its `instance.json` (power on, soft reboot). */
  private async relaunch(instanceId: string, paths: InstancePaths): Promise<Session> {
    const stored = await this.readStored(instanceId, paths);
    const accelerator = await this.resolveAccelerator();
    return Reverter.run((revert) => this.launch(stored, paths, accelerator, false, revert));
  }

  /**
   * Ends the process through QMP `quit` and waits for it to exit. WARNING: when QEMU ignores
   * `quit` (wedged), SIGKILL is the only way left; `InstanceStuckError` if even that fails.
   */
  private async endProcess(session: Session): Promise<void> {
    session.exitExpected = true;
    try {
      await session.qmp.execute('quit', undefined, QUIT_TIMEOUT_MS);
    } catch {
      // Gone already (disconnected) or not answering: the wait below decides.
    }
    let exited = await waitForExit(session.pid, QUIT_TIMEOUT_MS);
    if (!exited) {
      signal(session.pid, 'SIGKILL');
      exited = await waitForExit(session.pid, KILL_TIMEOUT_MS);
    }
    this.detach(session);
    if (!exited) {
      throw new InstanceStuckError(
        session.instanceId,
        session.pid,
        QUIT_TIMEOUT_MS + KILL_TIMEOUT_MS,
      );
    }
    await fs.rm(session.paths.suspendedMark, { force: true });
  }

  /**
   * Kills a QEMU the driver could not attach to. WARNING: a signal, not QMP: only for undoing
   * a failed launch and for destroying an instance whose QMP is unusable.
   */
  private async killUnattached(instanceId: string, pid: number, paths: InstancePaths) {
    if (!(await isAliveWith(pid, paths.qmpSocket))) return;
    signal(pid, 'SIGKILL');
    if (!(await waitForExit(pid, KILL_TIMEOUT_MS))) {
      throw new InstanceStuckError(instanceId, pid, KILL_TIMEOUT_MS);
    }
  }

  /** Presses the ACPI power button; a process that exits meanwhile is not an error. */
  private async pressPowerButton(session: Session): Promise<void> {
    try {
      await session.qmp.execute('system_powerdown');
    } catch (err) {
      if (!(err instanceof QmpDisconnectedError)) throw err;
    }
  }

  // --- attachment ---

  /**
   * The session of a running instance: the current one, or a new one when its QEMU runs
   * (adopting it); null when no QEMU runs for it. Concurrent callers share one attach (QEMU
   * serves one QMP client at a time).
   */
  private session(instanceId: string, paths: InstancePaths): Promise<Session | null> {
    const current = this.sessions.get(instanceId);
    if (current && !current.detached) return Promise.resolve(current);
    const pending = this.attaching.get(instanceId);
    if (pending) return pending;
    const attempt: Promise<Session | null> = this.attachIfRunning(instanceId, paths).finally(() => {
      if (this.attaching.get(instanceId) === attempt) this.attaching.delete(instanceId);
    });
    this.attaching.set(instanceId, attempt);
    return attempt;
  }

  private async attachIfRunning(instanceId: string, paths: InstancePaths): Promise<Session | null> {
    const pid = await readPidfile(paths.pidfile);
    if (pid === null || !(await isAliveWith(pid, paths.qmpSocket))) return null;
    try {
      return await this.attach(instanceId, paths, pid);
    } catch (err) {
      // It exited between the pid check and the connect.
      if (err instanceof QmpDisconnectedError && !(await isAlive(pid))) return null;
      throw err;
    }
  }

  /** Connects QMP to process `pid`, forwards its events and watches the pid every second. */
  private async attach(instanceId: string, paths: InstancePaths, pid: number): Promise<Session> {
    const qmp = await QmpClient.connect(paths.qmpSocket, {
      timeoutMs: QMP_CONNECT_TIMEOUT_MS,
      commandTimeoutMs: QMP_COMMAND_TIMEOUT_MS,
    });
    qmp.unref();
    const session: Session = {
      instanceId,
      paths,
      pid,
      qmp,
      watch: null,
      exitExpected: false,
      detached: false,
    };
    const previous = this.sessions.get(instanceId);
    if (previous) this.detach(previous);
    this.sessions.set(instanceId, session);
    qmp.onEvent((event) => this.onQmpEvent(session, event));
    qmp.onClose((error) => {
      void this.onQmpClose(session, error);
    });
    session.watch = setInterval(() => {
      void this.checkProcess(session);
    }, WATCH_INTERVAL_MS);
    session.watch.unref();
    if (qmp.closed) void this.onQmpClose(session, new QmpDisconnectedError(null, 'closed at once'));
    return session;
  }

  /** Stops watching the session's instance and closes its QMP connection. */
  private detach(session: Session): void {
    if (session.detached) return;
    session.detached = true;
    if (session.watch) clearInterval(session.watch);
    if (this.sessions.get(session.instanceId) === session) this.sessions.delete(session.instanceId);
    void session.qmp.close();
  }

  private onQmpEvent(session: Session, event: QmpEvent): void {
    // Without -no-shutdown, QEMU exits after SHUTDOWN: that exit is expected, not GONE.
    if (event.event === 'SHUTDOWN') session.exitExpected = true;
    if (!FORWARDED_EVENTS.has(event.event)) return;
    this.emit({
      instanceId: session.instanceId,
      kind: event.event as ComputeEvent['kind'],
      ...(Object.keys(event.data).length > 0 ? { detail: JSON.stringify(event.data) } : {}),
    });
  }

  private async onQmpClose(session: Session, error: QmpDisconnectedError | null): Promise<void> {
    if (session.detached) return;
    this.detach(session);
    if (error === null || session.exitExpected) return;
    const alive = await isAlive(session.pid);
    this.emit({
      instanceId: session.instanceId,
      kind: 'GONE',
      detail: alive
        ? `QMP connection lost while process ${session.pid} still runs: ${error.message}`
        : `process ${session.pid} exited without shutting down`,
    });
  }

  private async checkProcess(session: Session): Promise<void> {
    if (session.detached || (await isAlive(session.pid)) || session.detached) return;
    this.detach(session);
    if (session.exitExpected) return;
    this.emit({
      instanceId: session.instanceId,
      kind: 'GONE',
      detail: `process ${session.pid} exited without shutting down`,
    });
  }

  // --- helpers ---

  private async runningSession(instanceId: string, operation: string): Promise<Session> {
    const paths = await this.existing(instanceId);
    const session = await this.session(instanceId, paths);
    if (!session) throw new InstanceStateError(instanceId, operation, 'shut off');
    return session;
  }

  /** Refuses `operation` unless the instance is shut off (no QEMU process). */
  private async refuseRunning(
    instanceId: string,
    paths: InstancePaths,
    operation: string,
  ): Promise<void> {
    const status = await this.statusOf(await this.session(instanceId, paths), paths);
    if (status.running) {
      throw new InstanceStateError(
        instanceId,
        operation,
        `${status.powerState} (it must be shut off)`,
      );
    }
  }

  private async requirePendingResize(
    instanceId: string,
    paths: InstancePaths,
    operation: string,
  ): Promise<void> {
    if (!(await exists(paths.specPreResize))) {
      throw new InstanceStateError(instanceId, operation, 'not resized (no resize is pending)');
    }
  }

  /**
   * Makes `link` a second name of `file`: a hard link (instant, whatever the size), or a copy
   * where the filesystem has no hard links.
   */
  private async keepLink(file: string, link: string): Promise<void> {
    try {
      await fs.link(file, link);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') {
        throw err;
      }
      await copyAtomic(file, link);
    }
  }

  /** The virtual size in bytes of image `file`. */
  private async virtualSize(instanceId: string, file: string, operation: string): Promise<number> {
    const { stdout } = await this.qemuImg(instanceId, operation, [
      'info',
      '-U',
      '--output=json',
      file,
    ]);
    return (JSON.parse(stdout) as { 'virtual-size'?: number })['virtual-size'] ?? 0;
  }

  private async existing(instanceId: string): Promise<InstancePaths> {
    const paths = instancePaths(this.stateDir, instanceId);
    if (!(await exists(paths.dir))) throw new InstanceNotFoundError(instanceId);
    return paths;
  }

  private queryStatus(session: Session): Promise<{ status: string; running: boolean }> {
    return session.qmp.execute('query-status');
  }

  private async statusOf(session: Session | null, paths: InstancePaths): Promise<InstanceStatus> {
    const off: InstanceStatus = {
      running: false,
      qmpStatus: null,
      pid: null,
      powerState: 'shutdown',
    };
    if (!session) return off;
    let status: string;
    try {
      ({ status } = await this.queryStatus(session));
    } catch (err) {
      if (err instanceof QmpDisconnectedError && !(await isAlive(session.pid))) return off;
      throw err;
    }
    return {
      running: true,
      qmpStatus: status,
      pid: session.pid,
      powerState: powerStateOf(status, await exists(paths.suspendedMark)),
    };
  }

  private async handle(session: Session): Promise<InstanceHandle> {
    return { instanceId: session.instanceId, ...(await this.statusOf(session, session.paths)) };
  }

  private async readStored(instanceId: string, paths: InstancePaths): Promise<StoredInstance> {
    try {
      return JSON.parse(await fs.readFile(paths.spec, 'utf8')) as StoredInstance;
    } catch (err) {
      throw new InstanceStateError(
        instanceId,
        'launch',
        `unreadable (${paths.spec}: ${(err as Error).message})`,
      );
    }
  }

  /** Refuses a base image that is missing, of another format, or larger than the disk. */
  private async checkBaseImage(instanceId: string, disk: RootDiskSpec): Promise<void> {
    try {
      await fs.access(disk.baseImagePath, fsConstants.R_OK);
    } catch {
      throw new InvalidInstanceSpecError(
        'rootDisk.baseImagePath',
        `names no readable file: ${JSON.stringify(disk.baseImagePath)}`,
      );
    }
    const { stdout } = await this.qemuImg(instanceId, 'reading the base image', [
      'info',
      '-U',
      '--output=json',
      disk.baseImagePath,
    ]);
    const info = JSON.parse(stdout) as { format?: string; 'virtual-size'?: number };
    if (info.format !== disk.format) {
      throw new InvalidInstanceSpecError(
        'rootDisk.format',
        `is "${disk.format}" but ${disk.baseImagePath} is a ${info.format ?? 'unknown'} image`,
      );
    }
    const virtualSize = info['virtual-size'] ?? 0;
    if (virtualSize > disk.sizeGib * GIB) {
      throw new InvalidInstanceSpecError(
        'rootDisk.sizeGib',
        `is ${disk.sizeGib} GiB, smaller than the base image (${virtualSize} bytes)`,
      );
    }
  }

  private async qemuImg(
    instanceId: string,
    operation: string,
    args: string[],
    timeoutMs = 120_000,
  ) {
    try {
      return await runTool(this.qemuImgBinary, args, { timeoutMs });
    } catch (err) {
      if (!(err instanceof ToolFailure)) throw err;
      throw new HypervisorCommandError(instanceId, operation, err.stderr, { cause: err });
    }
  }

  private checkSocketPath(paths: InstancePaths): void {
    const bytes = Buffer.byteLength(paths.qmpSocket);
    if (bytes > MAX_SOCKET_PATH_BYTES) {
      throw new DriverUnavailableError(
        'qemu',
        `stateDir ${JSON.stringify(this.stateDir)} is too long: QMP socket paths would be ${bytes} bytes, unix sockets take at most ${MAX_SOCKET_PATH_BYTES}`,
      );
    }
  }

  /** The accelerator for new instances, resolving `auto` once. */
  private async resolveAccelerator(): Promise<'kvm' | 'tcg'> {
    if (this.accelerator) return this.accelerator;
    const wanted = this.config.accelerator;
    const kvmUsable =
      wanted !== 'tcg' &&
      (await fs.access('/dev/kvm', fsConstants.R_OK | fsConstants.W_OK).then(
        () => true,
        () => false,
      ));
    if (wanted === 'kvm' && !kvmUsable) {
      throw new DriverUnavailableError(
        'qemu',
        'accelerator "kvm" needs a readable and writable /dev/kvm',
      );
    }
    this.accelerator = kvmUsable ? 'kvm' : 'tcg';
    return this.accelerator;
  }
}
