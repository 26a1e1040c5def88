import path from 'node:path';
import { NotSupportedError } from '../errors';
import { InvalidInstanceSpecError } from './errors';
import type {
  AttachVolumeResult,
  ComputeDriver,
  ComputeDriverInfo,
  ComputeEvent,
  ComputeEventListener,
  DetachVolumeOptions,
  DetachVolumeResult,
  HostResources,
  InstanceHandle,
  InstanceSpec,
  InstanceStats,
  InstanceStatus,
  ListOptions,
  NicSpec,
  PowerOffOptions,
  PowerOffResult,
  PowerState,
  RebootOptions,
  RebootResult,
  RebuildSpec,
  ResizeSpec,
  RootDiskSpec,
  SnapshotResult,
  VolumeAttachmentSpec,
  VolumeRootDiskSpec,
} from './types';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f]/;

export const MAX_USER_DATA_BYTES = 64 * 1024;
export const MAX_METADATA_BYTES = 64 * 1024;
export const MAX_CONSOLE_BYTES = 1024 * 1024;
export const DEFAULT_POWER_OFF_TIMEOUT_MS = 60_000;
export const DEFAULT_SOFT_REBOOT_TIMEOUT_MS = 120_000;
export const DEFAULT_DETACH_TIMEOUT_MS = 30_000;
const MAX_TIMEOUT_MS = 60 * 60 * 1000;
/** Largest root disk, in GiB (64 TiB). */
const MAX_DISK_GIB = 64 * 1024;
/** Volumes an instance can have besides its root disk: one PCIe root port each. */
export const MAX_ATTACHED_VOLUMES = 8;
/** NICs an instance can have. */
export const MAX_NICS = 16;
const TAP_NAME = /^[A-Za-z0-9_-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Whether `disk` is a volume (boot from volume) rather than an overlay over a base image. */
export function isVolumeRootDisk(
  disk: RootDiskSpec | VolumeRootDiskSpec | null | undefined,
): disk is VolumeRootDiskSpec {
  return typeof disk === 'object' && disk !== null && 'volume' in disk;
}

/** Throws `InvalidInstanceSpecError` unless `id` is a UUID; returns it lowercase. */
export function validateInstanceId(id: unknown, field = 'instanceId'): string {
  if (typeof id !== 'string' || !UUID.test(id)) {
    throw new InvalidInstanceSpecError(field, `must be a UUID, got ${JSON.stringify(id)}`);
  }
  return id.toLowerCase();
}

function isInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function checkInteger(field: string, value: unknown, min: number, max: number): number {
  if (!isInteger(value, min, max)) {
    throw new InvalidInstanceSpecError(
      field,
      `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function checkAbsolutePath(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidInstanceSpecError(field, 'must be a non-empty path');
  }
  if (!path.isAbsolute(value)) {
    throw new InvalidInstanceSpecError(
      field,
      `must be an absolute path, got ${JSON.stringify(value)}`,
    );
  }
  if (CONTROL.test(value)) {
    throw new InvalidInstanceSpecError(field, 'must not contain control characters');
  }
  return path.normalize(value);
}

function checkObject(field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInstanceSpecError(field, 'must be an object');
  }
  return value as Record<string, unknown>;
}

function checkKeys(field: string, value: Record<string, unknown>, known: string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidInstanceSpecError(
        field ? `${field}.${key}` : key,
        `is not a known field (known: ${known.join(', ')})`,
      );
    }
  }
}

/**
 * Checks a volume as QEMU will open it (`field` names it in errors); returns a normalised copy
 * (volume id lowercase, path normalised).
 */
export function validateVolumeAttachment(volume: unknown, field = 'volume'): VolumeAttachmentSpec {
  const raw = checkObject(field, volume);
  checkKeys(field, raw, ['volumeId', 'driver', 'path']);
  const volumeId = validateInstanceId(raw.volumeId, `${field}.volumeId`);
  if (raw.driver !== 'qcow2' && raw.driver !== 'raw') {
    throw new InvalidInstanceSpecError(
      `${field}.driver`,
      `must be "qcow2" or "raw", got ${JSON.stringify(raw.driver)}`,
    );
  }
  return { volumeId, driver: raw.driver, path: checkAbsolutePath(`${field}.path`, raw.path) };
}

/** Checks one NIC (`field` names it in errors); returns a copy with the MAC lowercase. */
function checkNic(nic: unknown, field: string): NicSpec {
  const raw = checkObject(field, nic);
  checkKeys(field, raw, ['portId', 'tapName', 'mac']);
  const { portId, tapName, mac } = raw;
  if (typeof portId !== 'string' || portId.length === 0 || portId.length > 255) {
    throw new InvalidInstanceSpecError(`${field}.portId`, 'must be a string of 1-255 characters');
  }
  if (CONTROL.test(portId)) {
    throw new InvalidInstanceSpecError(`${field}.portId`, 'must not contain control characters');
  }
  if (typeof tapName !== 'string' || !TAP_NAME.test(tapName)) {
    throw new InvalidInstanceSpecError(
      `${field}.tapName`,
      `must be 1-15 characters of A-Z, a-z, 0-9, "_" and "-" (a Linux interface name), got ${JSON.stringify(tapName)}`,
    );
  }
  if (typeof mac !== 'string' || !MAC.test(mac)) {
    throw new InvalidInstanceSpecError(
      `${field}.mac`,
      `must be a MAC address like fa:16:3e:00:00:01, got ${JSON.stringify(mac)}`,
    );
  }
  if (Number.parseInt(mac.slice(0, 2), 16) & 1) {
    throw new InvalidInstanceSpecError(`${field}.mac`, `must be unicast, got ${mac} (multicast)`);
  }
  return { portId, tapName, mac: mac.toLowerCase() };
}

/** Refuses a second item with the same `key` in a list (`field(i)` names the duplicate). */
function checkUnique<T>(
  items: T[],
  key: (item: T) => string,
  field: (index: number) => string,
  what: string,
  seen = new Set<string>(),
): void {
  items.forEach((item, index) => {
    const value = key(item);
    if (seen.has(value)) {
      throw new InvalidInstanceSpecError(field(index), `repeats ${what} ${JSON.stringify(value)}`);
    }
    seen.add(value);
  });
}

/** What `checkBoot` returns: a spawn's root disk (a volume allowed) and kernel. */
interface CheckedBoot {
  rootDisk: RootDiskSpec | VolumeRootDiskSpec | null;
  kernel?: RebuildSpec['kernel'];
}

/**
 * Checks the root disk (`rootDisk`: required, null for diskless) and the kernel of a spec;
 * `allowVolume` accepts a volume as root disk (spawn, not rebuild).
 */
function checkBoot(raw: Record<string, unknown>, allowVolume: boolean): CheckedBoot {
  const checked: CheckedBoot = { rootDisk: null };
  if (raw.rootDisk === undefined) {
    throw new InvalidInstanceSpecError('rootDisk', 'is required (null for a diskless instance)');
  }
  const volumeRoot =
    typeof raw.rootDisk === 'object' && raw.rootDisk !== null && 'volume' in raw.rootDisk;
  if (volumeRoot && !allowVolume) {
    throw new InvalidInstanceSpecError(
      'rootDisk.volume',
      'is not allowed here: an instance booted from a volume cannot be rebuilt',
    );
  }
  if (volumeRoot) {
    const disk = checkObject('rootDisk', raw.rootDisk);
    checkKeys('rootDisk', disk, ['volume']);
    checked.rootDisk = { volume: validateVolumeAttachment(disk.volume, 'rootDisk.volume') };
  } else if (raw.rootDisk !== null) {
    const disk = checkObject('rootDisk', raw.rootDisk);
    checkKeys('rootDisk', disk, ['baseImagePath', 'format', 'sizeGib']);
    if (disk.format !== 'qcow2' && disk.format !== 'raw') {
      throw new InvalidInstanceSpecError(
        'rootDisk.format',
        `must be "qcow2" or "raw", got ${JSON.stringify(disk.format)}`,
      );
    }
    checked.rootDisk = {
      baseImagePath: checkAbsolutePath('rootDisk.baseImagePath', disk.baseImagePath),
      format: disk.format,
      sizeGib: checkInteger('rootDisk.sizeGib', disk.sizeGib, 1, MAX_DISK_GIB),
    };
  }

  if (raw.kernel !== undefined) {
    const kernel = checkObject('kernel', raw.kernel);
    checkKeys('kernel', kernel, ['kernelPath', 'initrdPath', 'cmdline']);
    checked.kernel = { kernelPath: checkAbsolutePath('kernel.kernelPath', kernel.kernelPath) };
    if (kernel.initrdPath !== undefined) {
      checked.kernel.initrdPath = checkAbsolutePath('kernel.initrdPath', kernel.initrdPath);
    }
    if (kernel.cmdline !== undefined) {
      if (typeof kernel.cmdline !== 'string' || kernel.cmdline.length > 4096) {
        throw new InvalidInstanceSpecError(
          'kernel.cmdline',
          'must be a string of at most 4096 characters',
        );
      }
      if (CONTROL.test(kernel.cmdline)) {
        throw new InvalidInstanceSpecError('kernel.cmdline', 'must not contain control characters');
      }
      checked.kernel.cmdline = kernel.cmdline;
    }
  }
  if (checked.rootDisk === null && checked.kernel === undefined) {
    throw new InvalidInstanceSpecError(
      'rootDisk',
      'is null and no kernel is given: the instance would have nothing to boot',
    );
  }
  return checked;
}

/**
 * Checks `spec` field by field and returns a normalised copy (id lowercase, paths normalised,
 * optional fields absent rather than undefined). Throws `InvalidInstanceSpecError` naming the
 * first bad field, before anything on the host is touched.
 */
export function validateInstanceSpec(spec: unknown): InstanceSpec {
  const raw = checkObject('spec', spec);
  checkKeys('', raw, [
    'instanceId',
    'name',
    'vcpus',
    'memoryMib',
    'rootDisk',
    'kernel',
    'userData',
    'metadata',
    'startPaused',
    'nics',
    'volumes',
  ]);
  const instanceId = validateInstanceId(raw.instanceId);
  const name = raw.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > 255) {
    throw new InvalidInstanceSpecError('name', 'must be a string of 1-255 characters');
  }
  if (CONTROL.test(name)) {
    throw new InvalidInstanceSpecError('name', 'must not contain control characters');
  }
  const checked: InstanceSpec = {
    instanceId,
    name,
    vcpus: checkInteger('vcpus', raw.vcpus, 1, 255),
    memoryMib: checkInteger('memoryMib', raw.memoryMib, 16, 1024 * 1024),
    rootDisk: null,
  };

  const boot = checkBoot(raw, true);
  checked.rootDisk = boot.rootDisk;
  if (boot.kernel) checked.kernel = boot.kernel;

  if (raw.nics !== undefined) {
    if (!Array.isArray(raw.nics) || raw.nics.length > MAX_NICS) {
      throw new InvalidInstanceSpecError('nics', `must be a list of at most ${MAX_NICS} NICs`);
    }
    const nics = raw.nics.map((nic, i) => checkNic(nic, `nics[${i}]`));
    checkUnique(
      nics,
      (n) => n.tapName,
      (i) => `nics[${i}].tapName`,
      'tap',
    );
    checkUnique(
      nics,
      (n) => n.mac,
      (i) => `nics[${i}].mac`,
      'MAC',
    );
    checkUnique(
      nics,
      (n) => n.portId,
      (i) => `nics[${i}].portId`,
      'port',
    );
    checked.nics = nics;
  }
  if (raw.volumes !== undefined) {
    if (!Array.isArray(raw.volumes) || raw.volumes.length > MAX_ATTACHED_VOLUMES) {
      throw new InvalidInstanceSpecError(
        'volumes',
        `must be a list of at most ${MAX_ATTACHED_VOLUMES} volumes`,
      );
    }
    const volumes = raw.volumes.map((v, i) => validateVolumeAttachment(v, `volumes[${i}]`));
    const root = isVolumeRootDisk(checked.rootDisk) ? [checked.rootDisk.volume] : [];
    const ids = new Set(root.map((v) => v.volumeId));
    const paths = new Set(root.map((v) => v.path));
    checkUnique(
      volumes,
      (v) => v.volumeId,
      (i) => `volumes[${i}].volumeId`,
      'volume',
      ids,
    );
    checkUnique(
      volumes,
      (v) => v.path,
      (i) => `volumes[${i}].path`,
      'path',
      paths,
    );
    checked.volumes = volumes;
  }

  if (raw.userData !== undefined) {
    if (typeof raw.userData !== 'string') {
      throw new InvalidInstanceSpecError('userData', 'must be a string');
    }
    const bytes = Buffer.byteLength(raw.userData);
    if (bytes > MAX_USER_DATA_BYTES) {
      throw new InvalidInstanceSpecError(
        'userData',
        `is ${bytes} bytes, at most ${MAX_USER_DATA_BYTES}`,
      );
    }
    checked.userData = raw.userData;
  }
  if (raw.metadata !== undefined) {
    const metadata = checkObject('metadata', raw.metadata);
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new InvalidInstanceSpecError(`metadata.${key}`, 'must be a string');
      }
    }
    const bytes = Buffer.byteLength(JSON.stringify(metadata));
    if (bytes > MAX_METADATA_BYTES) {
      throw new InvalidInstanceSpecError(
        'metadata',
        `is ${bytes} bytes as JSON, at most ${MAX_METADATA_BYTES}`,
      );
    }
    checked.metadata = { ...(metadata as Record<string, string>) };
  }
  if (raw.startPaused !== undefined) {
    if (typeof raw.startPaused !== 'boolean') {
      throw new InvalidInstanceSpecError('startPaused', 'must be true or false');
    }
    checked.startPaused = raw.startPaused;
  }
  return checked;
}

/** Checks a `resize` spec like `validateInstanceSpec` checks a spawn's; returns a copy. */
export function validateResizeSpec(spec: unknown): ResizeSpec {
  const raw = checkObject('spec', spec);
  checkKeys('', raw, ['vcpus', 'memoryMib', 'rootDiskGib']);
  return {
    vcpus: checkInteger('vcpus', raw.vcpus, 1, 255),
    memoryMib: checkInteger('memoryMib', raw.memoryMib, 16, 1024 * 1024),
    rootDiskGib: checkInteger('rootDiskGib', raw.rootDiskGib, 1, MAX_DISK_GIB),
  };
}

/**
 * Checks a `rebuild` spec like `validateInstanceSpec` checks a spawn's root disk and kernel
 * (`rootDisk` required, null needing a kernel); returns a normalised copy.
 */
export function validateRebuildSpec(spec: unknown): RebuildSpec {
  const raw = checkObject('spec', spec);
  checkKeys('', raw, ['rootDisk', 'kernel']);
  return checkBoot(raw, false) as RebuildSpec;
}

/** Checks `detachVolume` options; returns them with the default timeout filled in. */
export function validateDetachOptions(options: unknown): Required<DetachVolumeOptions> {
  if (options === undefined) return { timeoutMs: DEFAULT_DETACH_TIMEOUT_MS };
  const raw = checkObject('options', options);
  checkKeys('options', raw, ['timeoutMs']);
  return {
    timeoutMs: checkTimeout('options.timeoutMs', raw.timeoutMs, DEFAULT_DETACH_TIMEOUT_MS),
  };
}

/** Checks an `extendVolume` size: a positive multiple of 512 bytes, at most 64 TiB. */
export function validateVolumeSize(bytes: unknown, field = 'newSizeBytes'): number {
  const max = MAX_DISK_GIB * 1024 ** 3;
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 512 || bytes > max) {
    throw new InvalidInstanceSpecError(
      field,
      `must be an integer number of bytes from 512 to ${max}, got ${JSON.stringify(bytes)}`,
    );
  }
  if (bytes % 512 !== 0) {
    throw new InvalidInstanceSpecError(field, `must be a multiple of 512, got ${bytes}`);
  }
  return bytes;
}

function checkTimeout(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  return checkInteger(field, value, 0, MAX_TIMEOUT_MS);
}

/** Checks `powerOff` options; returns them with the default timeout filled in. */
export function validatePowerOffOptions(options: unknown): Required<PowerOffOptions> {
  const raw = checkObject('options', options);
  checkKeys('options', raw, ['graceful', 'timeoutMs']);
  if (typeof raw.graceful !== 'boolean') {
    throw new InvalidInstanceSpecError('options.graceful', 'must be true or false');
  }
  return {
    graceful: raw.graceful,
    timeoutMs: checkTimeout('options.timeoutMs', raw.timeoutMs, DEFAULT_POWER_OFF_TIMEOUT_MS),
  };
}

/** Checks `reboot` options; returns them with the default timeout filled in. */
export function validateRebootOptions(options: unknown): Required<RebootOptions> {
  const raw = checkObject('options', options);
  checkKeys('options', raw, ['hard', 'timeoutMs']);
  if (typeof raw.hard !== 'boolean') {
    throw new InvalidInstanceSpecError('options.hard', 'must be true or false');
  }
  return {
    hard: raw.hard,
    timeoutMs: checkTimeout('options.timeoutMs', raw.timeoutMs, DEFAULT_SOFT_REBOOT_TIMEOUT_MS),
  };
}

/**
 * The class every compute driver extends. It validates ids, specs and options before the
 * implementation sees them, runs the operations on one instance one at a time (a `destroy`
 * waits for a `spawn` of the same id to finish), answers optional operations the
 * implementation's `info()` does not claim with `NotSupportedError`, and fans events out to
 * listeners.
 */
export abstract class BaseComputeDriver implements ComputeDriver {
  private readonly listeners = new Set<ComputeEventListener>();
  private readonly locks = new Map<string, Promise<void>>();

  /** Which implementation this is and its capabilities. */
  abstract info(): ComputeDriverInfo;
  /** Checks the host is usable and reports its resources; see `ComputeDriver.probe`. */
  abstract probe(): Promise<HostResources>;
  /** Instance ids on this host; see `ComputeDriver.list`. */
  abstract list(options?: ListOptions): Promise<string[]>;
  /** Detaches from every instance without touching them; see `ComputeDriver.close`. */
  abstract close(): Promise<void>;

  /** Creates and boots the instance `spec` describes; see `ComputeDriver.spawn`. */
  async spawn(spec: InstanceSpec): Promise<InstanceHandle> {
    const checked = validateInstanceSpec(spec);
    if (checked.volumes !== undefined || isVolumeRootDisk(checked.rootDisk)) {
      this.require('volumes', 'volumes');
    }
    if (checked.nics !== undefined) this.require('nics', 'NICs');
    return this.exclusive(checked.instanceId, () => this.spawnInstance(checked));
  }

  /** Removes the instance and everything it had on the host; see `ComputeDriver.destroy`. */
  async destroy(instanceId: string): Promise<void> {
    const id = validateInstanceId(instanceId);
    return this.exclusive(id, () => this.destroyInstance(id));
  }

  /** Makes the instance run; see `ComputeDriver.start`. */
  async start(instanceId: string): Promise<InstanceHandle> {
    const id = validateInstanceId(instanceId);
    return this.exclusive(id, () => this.startInstance(id));
  }

  /** Powers the instance off; see `ComputeDriver.powerOff`. */
  async powerOff(instanceId: string, options: PowerOffOptions): Promise<PowerOffResult> {
    const id = validateInstanceId(instanceId);
    const checked = validatePowerOffOptions(options);
    return this.exclusive(id, () => this.powerOffInstance(id, checked));
  }

  /** Reboots the instance; a soft reboot needs `capabilities.softReboot`. */
  async reboot(instanceId: string, options: RebootOptions): Promise<RebootResult> {
    const id = validateInstanceId(instanceId);
    const checked = validateRebootOptions(options);
    if (!checked.hard) this.require('softReboot', 'soft reboot');
    return this.exclusive(id, () => this.rebootInstance(id, checked));
  }

  /** Freezes the guest; needs `capabilities.pause`. */
  async pause(instanceId: string): Promise<void> {
    const id = validateInstanceId(instanceId);
    this.require('pause', 'pause');
    return this.exclusive(id, () => this.pauseInstance(id));
  }

  /** Thaws a paused guest; needs `capabilities.pause`. */
  async unpause(instanceId: string): Promise<void> {
    const id = validateInstanceId(instanceId);
    this.require('pause', 'unpause');
    return this.exclusive(id, () => this.unpauseInstance(id));
  }

  /** Suspends the guest; needs `capabilities.suspend`. */
  async suspend(instanceId: string): Promise<void> {
    const id = validateInstanceId(instanceId);
    this.require('suspend', 'suspend');
    return this.exclusive(id, () => this.suspendInstance(id));
  }

  /** Thaws a suspended guest; needs `capabilities.suspend`. */
  async resume(instanceId: string): Promise<void> {
    const id = validateInstanceId(instanceId);
    this.require('suspend', 'resume');
    return this.exclusive(id, () => this.resumeInstance(id));
  }

  /** The instance's process and power state (not serialised with other operations). */
  async status(instanceId: string): Promise<InstanceStatus> {
    return this.instanceStatus(validateInstanceId(instanceId));
  }

  /** The guest's serial console output; needs `capabilities.consoleLog`. */
  async consoleLog(instanceId: string, lastLines?: number): Promise<string> {
    const id = validateInstanceId(instanceId);
    this.require('consoleLog', 'console log');
    if (lastLines !== undefined) checkInteger('lastLines', lastLines, 1, 1_000_000);
    return this.readConsoleLog(id, lastLines);
  }

  /** Writes a standalone qcow2 of the root disk to `destPath`; needs `capabilities.snapshot`. */
  async snapshot(instanceId: string, destPath: string): Promise<SnapshotResult> {
    const id = validateInstanceId(instanceId);
    this.require('snapshot', 'snapshot');
    const dest = checkAbsolutePath('destPath', destPath);
    return this.exclusive(id, () => this.snapshotInstance(id, dest));
  }

  /** Gives a shut-off instance a new size, keeping the old one; needs `capabilities.resize`. */
  async resize(instanceId: string, spec: ResizeSpec): Promise<void> {
    const id = validateInstanceId(instanceId);
    this.require('resize', 'resize');
    const checked = validateResizeSpec(spec);
    return this.exclusive(id, () => this.resizeInstance(id, checked));
  }

  /** Drops what `resize` kept; needs `capabilities.resize`. */
  async confirmResize(instanceId: string): Promise<void> {
    const id = validateInstanceId(instanceId);
    this.require('resize', 'confirm resize');
    return this.exclusive(id, () => this.confirmResizeInstance(id));
  }

  /** Restores the size and disk from before `resize`; needs `capabilities.resize`. */
  async revertResize(instanceId: string): Promise<void> {
    const id = validateInstanceId(instanceId);
    this.require('resize', 'revert resize');
    return this.exclusive(id, () => this.revertResizeInstance(id));
  }

  /** Whether a resize awaits confirm or revert (serialised); needs `capabilities.resize`. */
  async hasPendingResize(instanceId: string): Promise<boolean> {
    const id = validateInstanceId(instanceId);
    this.require('resize', 'resize');
    return this.exclusive(id, () => this.hasPendingResizeInstance(id));
  }

  /** Replaces the root disk of a shut-off instance; needs `capabilities.rebuild`. */
  async rebuild(instanceId: string, spec: RebuildSpec): Promise<void> {
    const id = validateInstanceId(instanceId);
    this.require('rebuild', 'rebuild');
    const checked = validateRebuildSpec(spec);
    return this.exclusive(id, () => this.rebuildInstance(id, checked));
  }

  /** Attaches a volume (hot-plug or definition); needs `capabilities.volumes`. */
  async attachVolume(
    instanceId: string,
    volume: VolumeAttachmentSpec,
  ): Promise<AttachVolumeResult> {
    const id = validateInstanceId(instanceId);
    this.require('volumes', 'attach volume');
    const checked = validateVolumeAttachment(volume);
    return this.exclusive(id, () => this.attachVolumeInstance(id, checked));
  }

  /** Detaches a volume (hot-unplug or definition); needs `capabilities.volumes`. */
  async detachVolume(
    instanceId: string,
    volumeId: string,
    options?: DetachVolumeOptions,
  ): Promise<DetachVolumeResult> {
    const id = validateInstanceId(instanceId);
    this.require('volumes', 'detach volume');
    const volume = validateInstanceId(volumeId, 'volumeId');
    const checked = validateDetachOptions(options);
    return this.exclusive(id, () => this.detachVolumeInstance(id, volume, checked));
  }

  /** Grows an attached volume online (or offline); needs `capabilities.volumes`. */
  async extendVolume(instanceId: string, volumeId: string, newSizeBytes: number): Promise<void> {
    const id = validateInstanceId(instanceId);
    this.require('volumes', 'extend volume');
    const volume = validateInstanceId(volumeId, 'volumeId');
    const size = validateVolumeSize(newSizeBytes);
    return this.exclusive(id, () => this.extendVolumeInstance(id, volume, size));
  }

  /** Ids of the volumes in the definition (serialised); needs `capabilities.volumes`. */
  async attachedVolumes(instanceId: string): Promise<string[]> {
    const id = validateInstanceId(instanceId);
    this.require('volumes', 'attached volumes');
    return this.exclusive(id, () => this.attachedVolumesOf(id));
  }

  /** Counters of a running instance for metering (not serialised); see `ComputeDriver.stats`. */
  async stats(instanceId: string): Promise<InstanceStats> {
    return this.instanceStats(validateInstanceId(instanceId));
  }

  /** Attaches to an instance that already runs; see `ComputeDriver.adopt`. */
  async adopt(instanceId: string): Promise<InstanceHandle> {
    const id = validateInstanceId(instanceId);
    return this.exclusive(id, () => this.adoptInstance(id));
  }

  /** Calls `listener` for every instance event; returns the function that unsubscribes. */
  onEvent(listener: ComputeEventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Delivers `event` to every listener; a listener that throws is reported as a warning. */
  protected emit(event: ComputeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        process.emitWarning(
          err instanceof Error ? err : new Error(String(err)),
          'ComputeEventListenerError',
        );
      }
    }
  }

  protected abstract spawnInstance(spec: InstanceSpec): Promise<InstanceHandle>;
  protected abstract destroyInstance(instanceId: string): Promise<void>;
  protected abstract startInstance(instanceId: string): Promise<InstanceHandle>;
  protected abstract powerOffInstance(
    instanceId: string,
    options: Required<PowerOffOptions>,
  ): Promise<PowerOffResult>;
  protected abstract rebootInstance(
    instanceId: string,
    options: Required<RebootOptions>,
  ): Promise<RebootResult>;
  protected abstract instanceStatus(instanceId: string): Promise<InstanceStatus>;
  protected abstract adoptInstance(instanceId: string): Promise<InstanceHandle>;
  protected abstract instanceStats(instanceId: string): Promise<InstanceStats>;

  /** Only called when `info().capabilities.pause` is true. */
  protected pauseInstance(_instanceId: string): Promise<void> {
    throw new NotSupportedError(this.info().name, 'pause');
  }
  /** Only called when `info().capabilities.pause` is true. */
  protected unpauseInstance(_instanceId: string): Promise<void> {
    throw new NotSupportedError(this.info().name, 'unpause');
  }
  /** Only called when `info().capabilities.suspend` is true. */
  protected suspendInstance(_instanceId: string): Promise<void> {
    throw new NotSupportedError(this.info().name, 'suspend');
  }
  /** Only called when `info().capabilities.suspend` is true. */
  protected resumeInstance(_instanceId: string): Promise<void> {
    throw new NotSupportedError(this.info().name, 'resume');
  }
  /** Only called when `info().capabilities.consoleLog` is true. */
  protected readConsoleLog(_instanceId: string, _lastLines?: number): Promise<string> {
    throw new NotSupportedError(this.info().name, 'console log');
  }
  /** Only called when `info().capabilities.snapshot` is true. */
  protected snapshotInstance(_instanceId: string, _destPath: string): Promise<SnapshotResult> {
    throw new NotSupportedError(this.info().name, 'snapshot');
  }
  /** Only called when `info().capabilities.resize` is true; `spec` is validated. */
  protected resizeInstance(_instanceId: string, _spec: ResizeSpec): Promise<void> {
    throw new NotSupportedError(this.info().name, 'resize');
  }
  /** Only called when `info().capabilities.resize` is true. */
  protected confirmResizeInstance(_instanceId: string): Promise<void> {
    throw new NotSupportedError(this.info().name, 'confirm resize');
  }
  /** Only called when `info().capabilities.resize` is true. */
  protected revertResizeInstance(_instanceId: string): Promise<void> {
    throw new NotSupportedError(this.info().name, 'revert resize');
  }
  /** Only called when `info().capabilities.resize` is true. */
  protected hasPendingResizeInstance(_instanceId: string): Promise<boolean> {
    throw new NotSupportedError(this.info().name, 'resize');
  }
  /** Only called when `info().capabilities.rebuild` is true; `spec` is validated. */
  protected rebuildInstance(_instanceId: string, _spec: RebuildSpec): Promise<void> {
    throw new NotSupportedError(this.info().name, 'rebuild');
  }

  /** Only called when `info().capabilities.volumes` is true; `volume` is validated. */
  protected attachVolumeInstance(
    _instanceId: string,
    _volume: VolumeAttachmentSpec,
  ): Promise<AttachVolumeResult> {
    throw new NotSupportedError(this.info().name, 'attach volume');
  }
  /** Only called when `info().capabilities.volumes` is true. */
  protected detachVolumeInstance(
    _instanceId: string,
    _volumeId: string,
    _options: Required<DetachVolumeOptions>,
  ): Promise<DetachVolumeResult> {
    throw new NotSupportedError(this.info().name, 'detach volume');
  }
  /** Only called when `info().capabilities.volumes` is true. */
  protected extendVolumeInstance(
    _instanceId: string,
    _volumeId: string,
    _newSizeBytes: number,
  ): Promise<void> {
    throw new NotSupportedError(this.info().name, 'extend volume');
  }
  /** Only called when `info().capabilities.volumes` is true. */
  protected attachedVolumesOf(_instanceId: string): Promise<string[]> {
    throw new NotSupportedError(this.info().name, 'attached volumes');
  }

  private require(capability: keyof ComputeDriverInfo['capabilities'], operation: string): void {
    if (!this.info().capabilities[capability]) {
      throw new NotSupportedError(this.info().name, operation);
    }
  }

  /**
   * Runs `steps` once every earlier operation on `instanceId` has settled, so operations on
   * one instance never interleave (operations on different instances run concurrently).
   */
  private async exclusive<T>(instanceId: string, steps: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(instanceId) ?? Promise.resolve();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const mine = previous.then(() => gate);
    this.locks.set(instanceId, mine);
    await previous;
    try {
      return await steps();
    } finally {
      release();
      if (this.locks.get(instanceId) === mine) this.locks.delete(instanceId);
    }
  }
}

/**
 * The guest device a volume most likely gets (Nova's best guess): disks are named in PCI
 * order, the root disk (if any) first on the root bus, then the volumes by slot.
 */
export function guessDevice(hasRootDisk: boolean, slots: number[], slot: number): string {
  const index = (hasRootDisk ? 1 : 0) + slots.filter((s) => s < slot).length;
  return `/dev/vd${diskLetters(index)}`;
}

/** Linux's virtio disk suffix for index `n`: a..z, aa..zz, ... */
function diskLetters(n: number): string {
  const letter = String.fromCharCode(97 + (n % 26));
  return n < 26 ? letter : diskLetters(Math.floor(n / 26) - 1) + letter;
}

/** The lowest slot (0..MAX_ATTACHED_VOLUMES-1) not in `used`, or null when all are. */
export function freeSlot(used: number[]): number | null {
  for (let slot = 0; slot < MAX_ATTACHED_VOLUMES; slot++) if (!used.includes(slot)) return slot;
  return null;
}

/** The last `lines` lines of `text` (all of it when undefined); a final newline is kept. */
export function lastLinesOf(text: string, lines?: number): string {
  if (lines === undefined) return text;
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  const parts = body.split('\n');
  const tail = parts.slice(Math.max(0, parts.length - lines)).join('\n');
  return text.endsWith('\n') ? `${tail}\n` : tail;
}

/**
 * The Nova power state for QMP run state `qmpStatus`; `suspendedMark` says the driver froze it
 * as a suspend rather than a pause.
 */
export function powerStateOf(qmpStatus: string, suspendedMark: boolean): PowerState {
  switch (qmpStatus) {
    case 'running':
      return 'running';
    case 'shutdown':
      return 'shutdown';
    case 'suspended': // the guest's own ACPI S3 sleep
      return 'suspended';
    case 'internal-error':
    case 'io-error':
    case 'guest-panicked':
      return 'crashed';
    default:
      return suspendedMark ? 'suspended' : 'paused';
  }
}
