import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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
  InvalidInstanceSpecError,
  VolumeAlreadyAttachedError,
  VolumeDetachTimeoutError,
  VolumeNotAttachedError,
  VolumeSlotsExhaustedError,
} from './errors';
import { fakeStats } from './stats-fake';
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
  ListOptions,
  PowerOffOptions,
  PowerOffResult,
  RebootOptions,
  RebootResult,
  RebuildSpec,
  ResizeSpec,
  SnapshotResult,
  VolumeAttachmentSpec,
} from './types';

/** Knobs of the fake driver; all optional. */
export interface FakeComputeOptions {
  /** How long `spawn` takes; default 0. */
  spawnDelayMs?: number;
  /** How long every other changing operation takes; default 0. */
  operationDelayMs?: number;
  /** Make `spawn` fail (after its delay, leaving nothing): always, or for names matching. */
  failSpawn?: boolean | RegExp;
  /** Make `resize` fail (after its delay, changing nothing): always, or for names matching. */
  failResize?: boolean | RegExp;
  /** Make `rebuild` fail (after its delay, changing nothing): always, or for names matching. */
  failRebuild?: boolean | RegExp;
  /** Make `stats` fail (a counter that cannot be read): always, or for names matching. */
  failStats?: boolean | RegExp;
  /** The simulated guests do not react to the ACPI power button (graceful falls back to quit). */
  guestIgnoresAcpi?: boolean;
  /**
   * The simulated guests never release a volume (they ignore the ACPI eject), so every
   * `detachVolume` of a running instance times out. Without it they release at once when
   * running; a frozen guest (paused, suspended, spawned paused) never answers until thawed,
   * as with qemu, which is the other way for tests to make a detach time out.
   */
  guestIgnoresDetach?: boolean;
  /**
   * The simulated host. Pass the same `FakeHost` to a new driver to simulate a Stratus restart:
   * the instances are still "running" there, to be listed and adopted.
   */
  host?: FakeHost;
  /** What `probe` reports, over big defaults (128 vCPUs, 1 TiB, 100000 GiB, kvm). */
  resources?: Partial<HostResources>;
}

/** QMP-like run states of a live fake instance. */
type FakeRunState = 'running' | 'paused' | 'prelaunch';

interface FakeInstance {
  spec: InstanceSpec;
  /** The simulated process id, or null when shut off. */
  pid: number | null;
  runState: FakeRunState;
  suspended: boolean;
  console: string;
  /** The spec from before a pending resize (what `revertResize` restores), else null. */
  preResize: InstanceSpec | null;
  /** Volumes attached besides the root disk (the definition; `spec.volumes` is not used). */
  attachments: FakeAttachment[];
  /** Size of the root volume (boot from volume), when known. */
  rootVolumeBytes: number | null;
}

interface FakeAttachment {
  volume: VolumeAttachmentSpec;
  slot: number;
  /** Bytes, when known (read from the file at attach, or set by extend). */
  sizeBytes: number | null;
  /** A detach timed out: the guest will release it when it runs again. */
  unplugPending: boolean;
  /** The running guest released it; the definition still has it until detached again. */
  unplugged: boolean;
}

/** The instances of one simulated host, which outlive any one driver. */
export class FakeHost {
  readonly instances = new Map<string, FakeInstance>();
  nextPid = 100_000;
}

/**
 * A compute driver without processes: an in-memory state machine that answers like the qemu
 * driver (same statuses, same events in the same order, same errors), for unit tests and for
 * simulating thousands of servers in benchmarks. Never the default behind `npm start`.
 *
 * Its guests behave like the test guest (`scripts/build-test-guest`): each boot writes
 * `STRATUS-GUEST-BOOT-OK`, the user data between `STRATUS-USERDATA-BEGIN`/`END` (or
 * `STRATUS-USERDATA-NONE`) and a `STRATUS-BLOCK:` line to the console log, and they power off
 * on the ACPI button unless `guestIgnoresAcpi`. Before those, like the test guest's kernel, a
 * boot prints its memory (`Memory: ...K/<memoryMib * 1024>K available`), its CPUs
 * (`smp: Brought up 1 node, <vcpus> CPUs`) and its disk (`[vda] <sectors> 512-byte logical
 * blocks`), so a resize shows. `snapshot` writes an empty qcow2 of the root disk's size (a
 * valid image, so it can be uploaded to Glance), not the guest's data;
 * `rebuild` cannot check that the base image exists.
 *
 * Volumes and NICs: kept in memory with the qemu driver's rules (slots, typed errors, root
 * volume). The guest prints `STRATUS-BLOCK: vda vdb ...`, `STRATUS-BLOCKSIZE: vda=<sectors>
 * ...` and `STRATUS-NET: eth0=<mac> ...` at each boot and after each attach, detach and extend
 * (the test guest prints them every 2 s). Sizes come from the volume file when it can be read
 * (a qcow2 header or a raw file's length), else they are left out. Paths and taps are not
 * checked (the fake has no host). A detach times out when the guest is frozen (paused,
 * suspended, spawned paused: it releases the volume once thawed, and the next detach succeeds
 * at once) or always with `guestIgnoresDetach`; the fake then waits `timeoutMs` for real.
 */
export class FakeComputeDriver extends BaseComputeDriver {
  readonly host: FakeHost;
  /** Instances whose events this driver forwards (spawned, started or adopted by it). */
  private readonly attached = new Set<string>();
  /** When `stats` first read each instance process (`<id>/<pid>`), for its counters. */
  private readonly statsSince = new Map<string, number>();

  constructor(private readonly options: FakeComputeOptions = {}) {
    super();
    this.host = options.host ?? new FakeHost();
  }

  /** The fake offers every optional operation. */
  info(): ComputeDriverInfo {
    return {
      name: 'fake',
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

  /** Reports the simulated host's resources; never fails. */
  async probe(): Promise<HostResources> {
    return {
      hostname: os.hostname(),
      vcpus: 128,
      memoryMib: 1024 * 1024,
      diskGib: 100_000,
      accelerator: 'kvm',
      ...this.options.resources,
    };
  }

  /** Ids of the simulated instances that "run" (all of them with `all: true`). */
  async list(options: ListOptions = {}): Promise<string[]> {
    return [...this.host.instances]
      .filter(([, instance]) => options.all || instance.pid !== null)
      .map(([id]) => id);
  }

  /** Stops forwarding events; the simulated instances keep their state on the host. */
  async close(): Promise<void> {
    this.attached.clear();
  }

  // --- test hooks ---

  /** Simulates `kill -9` of the instance's process: it is off, and `GONE` is sent. */
  crash(instanceId: string): void {
    const instance = this.get(instanceId);
    if (instance.pid === null) return;
    const pid = instance.pid;
    this.off(instance);
    this.send(instanceId, 'GONE', `process ${pid} exited without shutting down`);
  }

  /** Simulates the guest powering itself off (`poweroff` inside it). */
  guestPowerOff(instanceId: string): void {
    const instance = this.get(instanceId);
    if (instance.pid === null) return;
    this.send(instanceId, 'SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
    this.off(instance);
  }

  /** Simulates the guest rebooting itself (`reboot` inside it). */
  guestReboot(instanceId: string): void {
    const instance = this.get(instanceId);
    if (instance.pid === null || instance.runState !== 'running') return;
    this.send(instanceId, 'RESET', { guest: true, reason: 'guest-reset' });
    this.boot(instance);
  }

  // --- operations ---

  protected async spawnInstance(spec: InstanceSpec): Promise<InstanceHandle> {
    const id = spec.instanceId;
    if (this.host.instances.has(id)) throw new InstanceExistsError(id);
    // Reserve the id at once: a second spawn of it during the delay must fail.
    const { volumes, ...rest } = structuredClone(spec);
    const instance: FakeInstance = {
      spec: rest,
      pid: null,
      runState: 'prelaunch',
      suspended: false,
      console: '',
      preResize: null,
      attachments: (volumes ?? []).map((volume, slot) => ({
        volume,
        slot,
        sizeBytes: null,
        unplugPending: false,
        unplugged: false,
      })),
      rootVolumeBytes: null,
    };
    this.host.instances.set(id, instance);
    return Reverter.run(async (revert) => {
      revert.add(() => {
        this.host.instances.delete(id);
        this.attached.delete(id);
      });
      await this.delay(this.options.spawnDelayMs);
      if (matches(this.options.failSpawn, spec.name)) {
        throw new HypervisorCommandError(id, 'starting qemu', 'fake: spawn failure injected');
      }
      for (const attachment of instance.attachments) {
        attachment.sizeBytes = await sizeOf(attachment.volume.path);
      }
      if (isVolumeRootDisk(spec.rootDisk)) {
        instance.rootVolumeBytes = await sizeOf(spec.rootDisk.volume.path);
      }
      this.launch(instance, spec.startPaused ?? false);
      this.attached.add(id);
      return this.handle(id, instance);
    });
  }

  protected async destroyInstance(instanceId: string): Promise<void> {
    const instance = this.host.instances.get(instanceId);
    if (!instance) return;
    await this.delay(this.options.operationDelayMs);
    if (instance.pid !== null) this.send(instanceId, 'SHUTDOWN', QUIT);
    this.host.instances.delete(instanceId);
    this.attached.delete(instanceId);
  }

  protected async startInstance(instanceId: string): Promise<InstanceHandle> {
    const instance = this.attach(instanceId);
    await this.delay(this.options.operationDelayMs);
    if (instance.pid === null) this.launch(instance, false);
    else this.cont(instanceId, instance);
    return this.handle(instanceId, instance);
  }

  protected async powerOffInstance(
    instanceId: string,
    options: Required<PowerOffOptions>,
  ): Promise<PowerOffResult> {
    const instance = this.attach(instanceId);
    await this.delay(this.options.operationDelayMs);
    if (instance.pid === null) return { method: 'already-off' };
    if (options.graceful && instance.runState === 'running') {
      this.send(instanceId, 'POWERDOWN');
      if (!this.options.guestIgnoresAcpi) {
        instance.console += 'STRATUS-POWEROFF\n';
        this.send(instanceId, 'SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
        this.off(instance);
        return { method: 'acpi' };
      }
    }
    this.send(instanceId, 'SHUTDOWN', QUIT);
    this.off(instance);
    return { method: 'quit' };
  }

  protected async rebootInstance(
    instanceId: string,
    options: Required<RebootOptions>,
  ): Promise<RebootResult> {
    const instance = this.attach(instanceId);
    await this.delay(this.options.operationDelayMs);
    if (instance.pid === null) {
      this.launch(instance, false);
      return { method: 'boot' };
    }
    const wasRunning = instance.runState === 'running';
    if (!options.hard && wasRunning) {
      this.send(instanceId, 'POWERDOWN');
      if (!this.options.guestIgnoresAcpi) {
        instance.console += 'STRATUS-POWEROFF\n';
        this.send(instanceId, 'SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
        this.off(instance);
        this.launch(instance, false);
        this.send(instanceId, 'RESET', { reason: 'soft-reboot' });
        return { method: 'acpi' };
      }
    }
    this.send(instanceId, 'RESET', { guest: false, reason: 'host-qmp-system-reset' });
    if (wasRunning) this.boot(instance);
    else this.cont(instanceId, instance);
    return { method: 'reset' };
  }

  protected async pauseInstance(instanceId: string): Promise<void> {
    const instance = this.live(instanceId, 'pause');
    await this.delay(this.options.operationDelayMs);
    this.stop(instanceId, instance);
  }

  protected async unpauseInstance(instanceId: string): Promise<void> {
    const instance = this.live(instanceId, 'unpause');
    await this.delay(this.options.operationDelayMs);
    this.cont(instanceId, instance);
  }

  protected async suspendInstance(instanceId: string): Promise<void> {
    const instance = this.live(instanceId, 'suspend');
    await this.delay(this.options.operationDelayMs);
    this.stop(instanceId, instance);
    instance.suspended = true;
  }

  protected async resumeInstance(instanceId: string): Promise<void> {
    const instance = this.live(instanceId, 'resume');
    await this.delay(this.options.operationDelayMs);
    this.cont(instanceId, instance);
  }

  protected async instanceStatus(instanceId: string): Promise<InstanceStatus> {
    const instance = this.get(instanceId);
    if (instance.pid !== null) this.attached.add(instanceId);
    return this.statusOf(instance);
  }

  /** Counters from `fakeStats`, counted from the first read of this process (pid). */
  protected async instanceStats(instanceId: string): Promise<InstanceStats> {
    const instance = this.live(instanceId, 'stats');
    const fail = this.options.failStats;
    if (fail === true || (fail instanceof RegExp && fail.test(instance.spec.name))) {
      throw new HypervisorCommandError(instanceId, 'stats', 'the simulated counters failed');
    }
    const key = `${instanceId}/${instance.pid}`;
    const now = Date.now();
    const since = this.statsSince.get(key) ?? now;
    this.statsSince.set(key, since);
    const devices = instance.spec.rootDisk ? ['vda'] : [];
    const present = instance.attachments.filter((a) => !a.unplugged).map((a) => a.slot);
    for (const slot of [...present].sort((a, b) => a - b)) {
      const device = guessDevice(instance.spec.rootDisk !== null, present, slot);
      devices.push(device.slice('/dev/'.length));
    }
    return fakeStats(instance.spec, devices, now - since);
  }

  protected async adoptInstance(instanceId: string): Promise<InstanceHandle> {
    const instance = this.get(instanceId);
    if (instance.pid === null) throw new InstanceStateError(instanceId, 'adopt', 'shut off');
    this.attached.add(instanceId);
    return this.handle(instanceId, instance);
  }

  protected async readConsoleLog(instanceId: string, lastLines?: number): Promise<string> {
    const { console } = this.get(instanceId);
    const text = console.length > MAX_CONSOLE_BYTES ? console.slice(-MAX_CONSOLE_BYTES) : console;
    return lastLinesOf(text, lastLines);
  }

  protected async snapshotInstance(instanceId: string, destPath: string): Promise<SnapshotResult> {
    const instance = this.attach(instanceId);
    const rootDisk = instance.spec.rootDisk;
    if (!rootDisk) {
      throw new InstanceStateError(instanceId, 'snapshot', 'diskless (it has no root disk)');
    }
    if (isVolumeRootDisk(rootDisk)) {
      throw new InstanceStateError(
        instanceId,
        'snapshot',
        'booted from a volume (snapshot the volume instead)',
      );
    }
    const frozen = instance.pid !== null && instance.runState === 'running';
    if (frozen) this.stop(instanceId, instance);
    try {
      await this.delay(this.options.operationDelayMs);
      const body = emptyQcow2(rootDisk.sizeGib);
      const temporary = path.join(
        path.dirname(destPath),
        `.${path.basename(destPath)}.${randomUUID()}.tmp`,
      );
      try {
        await fs.writeFile(temporary, body);
        await fs.rename(temporary, destPath);
      } catch (err) {
        await fs.rm(temporary, { force: true });
        throw new HypervisorCommandError(instanceId, 'snapshot', (err as Error).message, {
          cause: err,
        });
      }
      return { format: 'qcow2', sizeBytes: body.length };
    } finally {
      if (frozen && instance.pid !== null) this.cont(instanceId, instance);
    }
  }

  protected async resizeInstance(instanceId: string, spec: ResizeSpec): Promise<void> {
    const instance = this.shutOff(instanceId, 'resize');
    if (instance.preResize) {
      throw new InstanceStateError(
        instanceId,
        'resize',
        'already resized (a resize is pending: confirm or revert it first)',
      );
    }
    await this.delay(this.options.operationDelayMs);
    if (matches(this.options.failResize, instance.spec.name)) {
      throw new HypervisorCommandError(
        instanceId,
        'growing the root disk',
        'fake: resize failure injected',
      );
    }
    instance.preResize = structuredClone(instance.spec);
    instance.spec.vcpus = spec.vcpus;
    instance.spec.memoryMib = spec.memoryMib;
    const disk = instance.spec.rootDisk;
    if (disk && !isVolumeRootDisk(disk)) disk.sizeGib = Math.max(disk.sizeGib, spec.rootDiskGib);
  }

  protected async confirmResizeInstance(instanceId: string): Promise<void> {
    const instance = this.pendingResize(instanceId, 'confirm the resize of');
    await this.delay(this.options.operationDelayMs);
    instance.preResize = null;
  }

  protected async revertResizeInstance(instanceId: string): Promise<void> {
    const instance = this.pendingResize(instanceId, 'revert the resize of');
    this.shutOff(instanceId, 'revert the resize of');
    await this.delay(this.options.operationDelayMs);
    if (instance.preResize) instance.spec = instance.preResize;
    instance.preResize = null;
  }

  protected async hasPendingResizeInstance(instanceId: string): Promise<boolean> {
    return this.get(instanceId).preResize !== null;
  }

  protected async rebuildInstance(instanceId: string, spec: RebuildSpec): Promise<void> {
    const instance = this.shutOff(instanceId, 'rebuild');
    if (instance.preResize) {
      throw new InstanceStateError(
        instanceId,
        'rebuild',
        'resized (a resize is pending: confirm or revert it first)',
      );
    }
    if (isVolumeRootDisk(instance.spec.rootDisk)) {
      throw new InstanceStateError(
        instanceId,
        'rebuild',
        'booted from a volume (re-image the volume instead)',
      );
    }
    if (spec.rootDisk === null && instance.spec.rootDisk !== null) {
      throw new InvalidInstanceSpecError(
        'rootDisk',
        'is null but the instance has a root disk: a rebuild replaces the disk, it cannot remove it',
      );
    }
    await this.delay(this.options.operationDelayMs);
    if (matches(this.options.failRebuild, instance.spec.name)) {
      throw new HypervisorCommandError(
        instanceId,
        'creating the disk overlay',
        'fake: rebuild failure injected',
      );
    }
    const { kernel: _oldKernel, ...kept } = instance.spec;
    instance.spec = {
      ...kept,
      rootDisk: structuredClone(spec.rootDisk),
      ...(spec.kernel ? { kernel: structuredClone(spec.kernel) } : {}),
    };
  }

  // --- volumes ---

  protected async attachVolumeInstance(
    instanceId: string,
    volume: VolumeAttachmentSpec,
  ): Promise<AttachVolumeResult> {
    const instance = this.attach(instanceId);
    for (const other of this.volumesOf(instance)) {
      if (other.volumeId === volume.volumeId) {
        throw new VolumeAlreadyAttachedError(instanceId, volume.volumeId);
      }
      if (other.path === volume.path) {
        throw new InvalidInstanceSpecError(
          'volume.path',
          `is already attached as volume ${other.volumeId}`,
        );
      }
    }
    const used = instance.attachments.map((a) => a.slot);
    const slot = freeSlot(used);
    if (slot === null) throw new VolumeSlotsExhaustedError(instanceId, MAX_ATTACHED_VOLUMES);
    await this.delay(this.options.operationDelayMs);
    instance.attachments.push({
      volume: structuredClone(volume),
      slot,
      sizeBytes: await sizeOf(volume.path),
      unplugPending: false,
      unplugged: false,
    });
    const device = guessDevice(instance.spec.rootDisk !== null, used, slot);
    if (instance.pid === null) return { device, method: 'definition' };
    if (instance.runState === 'running') this.printDevices(instance);
    return { device, method: 'hot-plug' };
  }

  protected async detachVolumeInstance(
    instanceId: string,
    volumeId: string,
    options: Required<DetachVolumeOptions>,
  ): Promise<DetachVolumeResult> {
    const instance = this.attach(instanceId);
    const { rootDisk } = instance.spec;
    if (isVolumeRootDisk(rootDisk) && rootDisk.volume.volumeId === volumeId) {
      throw new InstanceStateError(
        instanceId,
        `detach volume "${volumeId}" from`,
        'booted from it (the root disk cannot be detached)',
      );
    }
    const attachment = instance.attachments.find((a) => a.volume.volumeId === volumeId);
    if (!attachment) throw new VolumeNotAttachedError(instanceId, volumeId);
    await this.delay(this.options.operationDelayMs);
    const drop = () => {
      instance.attachments = instance.attachments.filter((a) => a !== attachment);
    };
    if (instance.pid === null) {
      drop();
      return { method: 'definition' };
    }
    const answers = instance.runState === 'running' && !this.options.guestIgnoresDetach;
    if (!attachment.unplugged && !answers) {
      attachment.unplugPending = true;
      await sleep(options.timeoutMs);
      throw new VolumeDetachTimeoutError(instanceId, volumeId, options.timeoutMs);
    }
    drop();
    if (!attachment.unplugged) this.printDevices(instance);
    return { method: 'hot-unplug' };
  }

  protected async extendVolumeInstance(
    instanceId: string,
    volumeId: string,
    newSizeBytes: number,
  ): Promise<void> {
    const instance = this.attach(instanceId);
    const { rootDisk } = instance.spec;
    const isRoot = isVolumeRootDisk(rootDisk) && rootDisk.volume.volumeId === volumeId;
    const attachment = instance.attachments.find((a) => a.volume.volumeId === volumeId);
    if (!isRoot && !attachment) throw new VolumeNotAttachedError(instanceId, volumeId);
    const current = isRoot ? instance.rootVolumeBytes : (attachment?.sizeBytes ?? null);
    if (current !== null && newSizeBytes < current) {
      throw new InvalidInstanceSpecError(
        'newSizeBytes',
        `is ${newSizeBytes} bytes, smaller than the volume (${current} bytes): volumes only grow`,
      );
    }
    await this.delay(this.options.operationDelayMs);
    if (isRoot) instance.rootVolumeBytes = newSizeBytes;
    else if (attachment) attachment.sizeBytes = newSizeBytes;
    if (instance.pid !== null && instance.runState === 'running') this.printDevices(instance);
  }

  protected async attachedVolumesOf(instanceId: string): Promise<string[]> {
    return this.volumesOf(this.get(instanceId)).map((v) => v.volumeId);
  }

  /** The instance's volumes, root volume first, then by slot (as qemu lists them). */
  private volumesOf(instance: FakeInstance): VolumeAttachmentSpec[] {
    const { rootDisk } = instance.spec;
    const root = isVolumeRootDisk(rootDisk) ? [rootDisk.volume] : [];
    const attached = [...instance.attachments].sort((a, b) => a.slot - b.slot);
    return [...root, ...attached.map((a) => a.volume)];
  }

  // --- the state machine ---

  private launch(instance: FakeInstance, paused: boolean): void {
    instance.pid = this.host.nextPid++;
    instance.suspended = false;
    instance.runState = 'prelaunch';
    this.attached.add(instance.spec.instanceId);
    if (!paused) {
      instance.runState = 'running';
      this.boot(instance);
    }
  }

  /** What the test guest (and its kernel) prints on each boot. */
  private boot(instance: FakeInstance): void {
    const { name, userData, vcpus, memoryMib, rootDisk } = instance.spec;
    const kib = memoryMib * 1024;
    instance.console += `[fake] booting ${name}\n`;
    instance.console += `[fake] Memory: ${Math.floor(kib * 0.8)}K/${kib}K available\n`;
    instance.console += `[fake] smp: Brought up 1 node, ${vcpus} CPU${vcpus === 1 ? '' : 's'}\n`;
    if (rootDisk && !isVolumeRootDisk(rootDisk)) {
      const { sizeGib } = rootDisk;
      const gb = ((sizeGib * 1024 ** 3) / 1e9).toFixed(2);
      instance.console += `[fake] virtio_blk virtio0: [vda] ${sizeGib * 2 * 1024 ** 2} 512-byte logical blocks (${gb} GB/${sizeGib.toFixed(2)} GiB)\n`;
    }
    instance.console += 'STRATUS-GUEST-BOOT-OK\n';
    if (userData === undefined) {
      instance.console += 'STRATUS-USERDATA-NONE\n';
    } else {
      const body = userData === '' || userData.endsWith('\n') ? userData : `${userData}\n`;
      instance.console += `STRATUS-USERDATA-BEGIN\n${body}STRATUS-USERDATA-END\n`;
    }
    for (const attachment of instance.attachments) {
      attachment.unplugged = false;
      attachment.unplugPending = false;
    }
    this.printDevices(instance);
  }

  /**
   * What the test guest prints every 2 s (here: at boot and after each volume change): its
   * disks, their sizes in sectors (when known) and its NICs.
   */
  private printDevices(instance: FakeInstance): void {
    const disks: [string, number | null][] = [];
    const { rootDisk, nics } = instance.spec;
    if (rootDisk) {
      disks.push([
        'vda',
        isVolumeRootDisk(rootDisk) ? instance.rootVolumeBytes : rootDisk.sizeGib * 1024 ** 3,
      ]);
    }
    const present = instance.attachments
      .filter((a) => !a.unplugged)
      .sort((a, b) => a.slot - b.slot);
    for (const attachment of present) {
      const used = present.map((a) => a.slot);
      const device = guessDevice(rootDisk !== null, used, attachment.slot);
      disks.push([device.slice('/dev/'.length), attachment.sizeBytes]);
    }
    instance.console += `STRATUS-BLOCK:${disks.map(([name]) => ` ${name}`).join('')}\n`;
    const sizes = disks.filter(([, bytes]) => bytes !== null);
    instance.console += `STRATUS-BLOCKSIZE:${sizes.map(([name, bytes]) => ` ${name}=${(bytes ?? 0) / 512}`).join('')}\n`;
    const macs = (nics ?? []).map((nic, i) => ` eth${i}=${nic.mac}`).join('');
    instance.console += `STRATUS-NET:${macs}\n`;
  }

  private stop(instanceId: string, instance: FakeInstance): void {
    if (instance.runState === 'running') {
      instance.runState = 'paused';
      this.send(instanceId, 'STOP');
    }
  }

  private cont(instanceId: string, instance: FakeInstance): void {
    instance.suspended = false;
    if (instance.runState === 'running') return;
    const firstRun = instance.runState === 'prelaunch';
    instance.runState = 'running';
    this.send(instanceId, 'RESUME');
    if (firstRun) {
      this.boot(instance);
    } else if (!this.options.guestIgnoresDetach) {
      // The thawed guest answers the ejects it was asked for while frozen.
      const pending = instance.attachments.filter((a) => a.unplugPending);
      for (const attachment of pending) {
        attachment.unplugPending = false;
        attachment.unplugged = true;
      }
      if (pending.length > 0) this.printDevices(instance);
    }
  }

  private off(instance: FakeInstance): void {
    for (const attachment of instance.attachments) {
      attachment.unplugPending = false;
      attachment.unplugged = false;
    }
    instance.pid = null;
    instance.runState = 'prelaunch';
    instance.suspended = false;
  }

  private statusOf(instance: FakeInstance): InstanceStatus {
    if (instance.pid === null) {
      return { running: false, qmpStatus: null, pid: null, powerState: 'shutdown' };
    }
    return {
      running: true,
      qmpStatus: instance.runState,
      pid: instance.pid,
      powerState: powerStateOf(instance.runState, instance.suspended),
    };
  }

  private handle(instanceId: string, instance: FakeInstance): InstanceHandle {
    return { instanceId, ...this.statusOf(instance) };
  }

  private get(instanceId: string): FakeInstance {
    const instance = this.host.instances.get(instanceId);
    if (!instance) throw new InstanceNotFoundError(instanceId);
    return instance;
  }

  /** The instance, now attached when it runs (as the qemu driver attaches on any operation). */
  private attach(instanceId: string): FakeInstance {
    const instance = this.get(instanceId);
    if (instance.pid !== null) this.attached.add(instanceId);
    return instance;
  }

  /** The instance, refusing `operation` unless it is shut off. */
  private shutOff(instanceId: string, operation: string): FakeInstance {
    const instance = this.attach(instanceId);
    if (instance.pid !== null) {
      const { powerState } = this.statusOf(instance);
      throw new InstanceStateError(instanceId, operation, `${powerState} (it must be shut off)`);
    }
    return instance;
  }

  private pendingResize(instanceId: string, operation: string): FakeInstance {
    const instance = this.attach(instanceId);
    if (!instance.preResize) {
      throw new InstanceStateError(instanceId, operation, 'not resized (no resize is pending)');
    }
    return instance;
  }

  private live(instanceId: string, operation: string): FakeInstance {
    const instance = this.attach(instanceId);
    if (instance.pid === null) throw new InstanceStateError(instanceId, operation, 'shut off');
    return instance;
  }

  private send(instanceId: string, kind: ComputeEvent['kind'], detail?: object | string): void {
    if (!this.attached.has(instanceId)) return;
    const event: ComputeEvent = { instanceId, kind };
    if (detail !== undefined) {
      event.detail = typeof detail === 'string' ? detail : JSON.stringify(detail);
    }
    this.emit(event);
  }

  private async delay(ms: number | undefined): Promise<void> {
    if (ms && ms > 0) await sleep(ms);
  }
}

const QUIT = { guest: false, reason: 'host-qmp-quit' };

/** Whether an injected-failure knob applies to the instance named `name`. */
function matches(knob: boolean | RegExp | undefined, name: string): boolean {
  return knob === true || (knob instanceof RegExp && knob.test(name));
}

/**
 * The virtual size of the image at `file` when it can be read (a qcow2 header's size, or a raw
 * file's length), else null: the fake never requires the file to exist.
 */
async function sizeOf(file: string): Promise<number | null> {
  try {
    const handle = await fs.open(file, 'r');
    try {
      const header = Buffer.alloc(32);
      const { bytesRead } = await handle.read(header, 0, 32, 0);
      if (bytesRead === 32 && header.toString('latin1', 0, 4) === 'QFI\xfb') {
        return Number(header.readBigUInt64BE(24));
      }
      const stats = await handle.stat();
      return stats.isFile() ? stats.size : null;
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
}

/**
 * The smallest valid qcow2 (version 2) of `sizeGib` with no data: header, refcount table,
 * refcount block and L1 table, one 64 KiB cluster each. `qemu-img check` finds no errors.
 */
export function emptyQcow2(sizeGib: number): Buffer {
  const cluster = 65_536;
  const size = BigInt(sizeGib) * 1024n ** 3n;
  const perL2 = BigInt(cluster) * BigInt(cluster / 8);
  const l1Size = Number((size + perL2 - 1n) / perL2);
  const buf = Buffer.alloc(4 * cluster);
  buf.write('QFI\xfb', 0, 'latin1');
  buf.writeUInt32BE(2, 4); // version
  buf.writeUInt32BE(16, 20); // cluster_bits
  buf.writeBigUInt64BE(size, 24);
  buf.writeUInt32BE(l1Size, 36);
  buf.writeBigUInt64BE(BigInt(3 * cluster), 40); // l1_table_offset
  buf.writeBigUInt64BE(BigInt(cluster), 48); // refcount_table_offset
  buf.writeUInt32BE(1, 56); // refcount_table_clusters
  buf.writeBigUInt64BE(BigInt(2 * cluster), cluster); // the one refcount block
  for (let i = 0; i < 4; i++) buf.writeUInt16BE(1, 2 * cluster + 2 * i);
  return buf;
}
