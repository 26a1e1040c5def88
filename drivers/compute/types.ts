/**
 * The `compute` driver kind (Nova's virt driver): runs instances on this host. The service
 * layer owns the server records, their vm_state/task_state machine and quotas; a driver only
 * makes a host match what it is told, reports what the host has, and forwards what happens
 * to instances on their own (a guest powering off, a process killed).
 *
 * Identity: every instance is named by the service's server id (a UUID), which also becomes
 * the guest's SMBIOS UUID. Everything an instance has on the host lives under one folder per
 * instance (qemu: `<stateDir>/instances/<instanceId>/`), so `destroy` leaves nothing behind.
 *
 * Instances outlive the Stratus process: after a restart, `list()` says which are still
 * running and `adopt()` (or any operation on them) reconnects to them.
 */

/** Which implementation this is and which optional operations it offers. Branch on this. */
export interface ComputeDriverInfo {
  name: 'qemu' | 'fake';
  capabilities: {
    /** `pause`/`unpause`: the guest is frozen in place (QMP `stop`/`cont`). */
    pause: boolean;
    /**
     * `suspend`/`resume`. WARNING: with qemu this is a frozen guest (QMP `stop`) marked as
     * suspended: its memory stays in the QEMU process, unlike Nova libvirt's managedSave which
     * saves it to disk and ends the process. The instance is reported `suspended` rather than
     * `paused`, and `resume` thaws it; a host reboot loses it.
     */
    suspend: boolean;
    /** `snapshot`: a standalone qcow2 of the root disk (backing chain flattened). */
    snapshot: boolean;
    /** `consoleLog`: what the guest wrote on its serial console (ttyS0). */
    consoleLog: boolean;
    /**
     * `reboot({ hard: false })` asks the guest (ACPI power button) and boots it again once it
     * is down, falling back to a hard reset when it does not react in time (Nova libvirt's
     * soft reboot). Without it, only hard reboots are offered.
     */
    softReboot: boolean;
    /**
     * `resize`/`confirmResize`/`revertResize`/`hasPendingResize`: a new size for a shut-off
     * instance, on this host, with the previous definition and disk kept until confirmed.
     */
    resize: boolean;
    /** `rebuild`: a fresh root disk from another base image for a shut-off instance. */
    rebuild: boolean;
    /** attachVolume/detachVolume/extendVolume, and rootDisk from a volume. */
    volumes: boolean;
    /** InstanceSpec.nics: tap devices made by the network driver. */
    nics: boolean;
  };
}

/** What this host offers, for the scheduler and the hypervisors API. */
export interface HostResources {
  hostname: string;
  /** Logical CPUs of the host. */
  vcpus: number;
  /** Physical memory of the host. */
  memoryMib: number;
  /** Size of the filesystem holding instance disks (qemu: the state folder's). */
  diskGib: number;
  /** The accelerator new instances run with (`auto` resolved). */
  accelerator: 'kvm' | 'tcg';
}

/** The root disk: a copy-on-write overlay over a base image cached on this host. */
export interface RootDiskSpec {
  /** Absolute path of the cached base image; it must stay in place while the overlay lives. */
  baseImagePath: string;
  /** Format of the base image. */
  format: 'qcow2' | 'raw';
  /** Virtual size of the overlay; at least the base image's virtual size. */
  sizeGib: number;
}

/**
 * A NIC: a tap device that already exists (made by the network driver), opened by QEMU.
 * `tapName` is 1-15 characters of `[A-Za-z0-9_-]`; `mac` a unicast `xx:xx:xx:xx:xx:xx`.
 */
export interface NicSpec {
  portId: string;
  tapName: string;
  mac: string;
}

/**
 * A volume as QEMU opens it (the volume driver's connectionInfo plus the volume id, a UUID).
 * `path` is a file or a block device; QEMU opens it read-write and locks it, so one volume
 * can be open in one instance only.
 */
export interface VolumeAttachmentSpec {
  volumeId: string;
  driver: 'qcow2' | 'raw';
  path: string;
}

/**
 * Root disk that is a volume (boot from volume): used in place as vda (no overlay, no base
 * image), never deleted by destroy. Such an instance cannot be snapshotted or rebuilt
 * (`InstanceStateError`: snapshot or re-image the volume instead); resize changes only its
 * vCPUs and memory (the root disk size is the volume's).
 */
export interface VolumeRootDiskSpec {
  volume: VolumeAttachmentSpec;
}

/** What `attachVolume` did. */
export interface AttachVolumeResult {
  /**
   * Best guess of the guest device, like Nova: /dev/vdb ... (the root disk is vda; attached
   * volumes follow in the order of their PCI slots, which is what the guest's kernel uses).
   */
  device: string;
  /** `hot-plug`: the running guest got the device now; `definition`: it gets it on next boot. */
  method: 'hot-plug' | 'definition';
}

export interface DetachVolumeOptions {
  /** How long to wait for DEVICE_DELETED (default 30000). */
  timeoutMs?: number;
}

/** What `detachVolume` did: unplugged from the running guest, or only from the definition. */
export interface DetachVolumeResult {
  method: 'hot-unplug' | 'definition';
}

/** Direct kernel boot (no bootloader in the image). */
export interface KernelSpec {
  kernelPath: string;
  initrdPath?: string;
  /** Kernel command line; `console=ttyS0` is added when absent so `consoleLog` sees the boot. */
  cmdline?: string;
}

/** What to run. The driver validates it and throws `InvalidInstanceSpecError` naming the field. */
export interface InstanceSpec {
  /** The server's id, a UUID (lowercase or not; stored lowercase). */
  instanceId: string;
  /** Display name (QEMU `-name guest=`), 1-255 characters without control characters. */
  name: string;
  /** Virtual CPUs, 1-255. */
  vcpus: number;
  /** Guest memory, 16-1048576 MiB. */
  memoryMib: number;
  /**
   * The root disk: an overlay over a base image, a volume (boot from volume; needs
   * `capabilities.volumes`), or null for a diskless instance (then `kernel` is required).
   */
  rootDisk: RootDiskSpec | VolumeRootDiskSpec | null;
  kernel?: KernelSpec;
  /**
   * Opaque user data (cloud-init and the like), at most 64 KiB; the guest reads it from
   * QEMU's fw_cfg entry `opt/stratus/user-data`.
   */
  userData?: string;
  /** String pairs the guest reads as JSON from fw_cfg `opt/stratus/meta-data`, at most 64 KiB. */
  metadata?: Record<string, string>;
  /** Create the instance frozen before its first instruction; `start` runs it. */
  startPaused?: boolean;
  /**
   * NICs in guest order (eth0, eth1, ...); their taps must exist. They stay in the
   * definition, so `start` after a power-off reopens the same taps. Needs `capabilities.nics`.
   */
  nics?: NicSpec[];
  /**
   * Volumes attached at boot, after the root disk (vdb, vdc, ...), at most
   * `MAX_ATTACHED_VOLUMES` (8). Needs `capabilities.volumes`.
   */
  volumes?: VolumeAttachmentSpec[];
}

/** What `resize` changes (Nova's new flavor). The driver validates it like `InstanceSpec`. */
export interface ResizeSpec {
  /** New virtual CPUs, 1-255. */
  vcpus: number;
  /** New guest memory, 16-1048576 MiB. */
  memoryMib: number;
  /**
   * New virtual size of the root disk in GiB (1-65536); the disk is grown to it, never shrunk
   * (a smaller value leaves it as is). Ignored for a diskless instance.
   */
  rootDiskGib: number;
}

/** What `rebuild` replaces (Nova's rebuild with a new image). Validated like `InstanceSpec`. */
export interface RebuildSpec {
  /**
   * The new root disk: a fresh overlay over this base image (the old disk is discarded). Null
   * keeps a diskless instance diskless (null for an instance with a disk is refused:
   * `InvalidInstanceSpecError` on `rootDisk`); a diskless instance given a disk gets one.
   */
  rootDisk: RootDiskSpec | null;
  /** Direct kernel boot for the new image, or undefined to boot from the disk. */
  kernel?: KernelSpec;
}

/**
 * Nova's power states as this driver sees them: `shutdown` covers "no process" as well
 * (a shut-off instance whose disk is still on the host).
 */
export type PowerState = 'running' | 'paused' | 'suspended' | 'shutdown' | 'crashed';

/** What `status` reports. */
export interface InstanceStatus {
  /** The hypervisor process is alive (whatever the guest does inside it). */
  running: boolean;
  /**
   * QMP's run state (`running`, `paused`, `prelaunch`, `shutdown`, `internal-error`,
   * `guest-panicked`, ...), or null when there is no process.
   */
  qmpStatus: string | null;
  /** The hypervisor process id, or null when there is none. */
  pid: number | null;
  /** The Nova power state to record for the server. */
  powerState: PowerState;
}

/** What `spawn` and `adopt` return: the instance and its status at that moment. */
export interface InstanceHandle extends InstanceStatus {
  instanceId: string;
}

export interface PowerOffOptions {
  /**
   * Ask the guest first (ACPI power button, QMP `system_powerdown`) and wait up to
   * `timeoutMs` for it to power itself off; then (or at once when false) end the process
   * (QMP `quit`). A frozen guest cannot react to ACPI, so it goes straight to `quit`.
   */
  graceful: boolean;
  /** How long the guest gets to power itself off; default 60000 ms (Nova's shutdown_timeout). */
  timeoutMs?: number;
}

/** How an instance was powered off: by the guest itself, by `quit`, or it already was off. */
export interface PowerOffResult {
  method: 'acpi' | 'quit' | 'already-off';
}

export interface RebootOptions {
  /** Hard: reset the machine at once (QMP `system_reset`). Soft: see `capabilities.softReboot`. */
  hard: boolean;
  /** How long a soft reboot waits for the guest to power off; default 120000 ms. */
  timeoutMs?: number;
}

/**
 * How the reboot happened: `reset` (machine reset; hard, or a soft one the guest ignored),
 * `acpi` (the guest powered off when asked and was booted again, in a new process) or `boot`
 * (the instance was shut off and was started).
 */
export interface RebootResult {
  method: 'reset' | 'acpi' | 'boot';
}

/** What `snapshot` wrote. */
export interface SnapshotResult {
  /** Always qcow2, standalone (no backing file). */
  format: 'qcow2';
  sizeBytes: number;
}

/**
 * Something that happened to an instance, forwarded from QMP or noticed by the driver:
 * - `SHUTDOWN`: the machine shut down (guest poweroff, or `quit`); the process then exits.
 *   `detail` is QMP's data, e.g. `{"guest":true,"reason":"guest-shutdown"}`.
 * - `STOP` / `RESUME`: the guest was frozen / thawed (pause, suspend, snapshot, start).
 * - `RESET`: the machine reset (hard reboot, a reboot inside the guest); also sent after a
 *   soft reboot booted the instance again, with detail `{"reason":"soft-reboot"}`.
 * - `POWERDOWN`: the ACPI power button was pressed (graceful power-off, soft reboot).
 * - `GONE`: the process vanished without shutting down (killed, crashed) or its QMP socket
 *   closed unexpectedly; noticed within about a second. Not sent after `SHUTDOWN`, nor for
 *   exits the driver itself caused.
 * Events come for instances the driver is attached to: those it spawned or started, and
 * those it adopted (explicitly or by operating on them) since it was loaded.
 */
export interface ComputeEvent {
  instanceId: string;
  kind: 'SHUTDOWN' | 'STOP' | 'RESUME' | 'RESET' | 'POWERDOWN' | 'GONE';
  detail?: string;
}

export type ComputeEventListener = (event: ComputeEvent) => void;

export interface ListOptions {
  /** Also list instances whose folder exists but whose process does not run (shut off). */
  all?: boolean;
}

/** One disk's counters since its process started (QMP `query-blockstats`). */
export interface DiskStats {
  /** Guest device name: vda is the root disk, then vdb, vdc, ... in slot order. */
  device: string;
  readBytes: number;
  writeBytes: number;
  readRequests: number;
  writeRequests: number;
}

/** One NIC's counters as the guest sees them (a tap's rx is the guest's outgoing). */
export interface NicStats {
  portId: string;
  tapName: string;
  incomingBytes: number;
  outgoingBytes: number;
  incomingPackets: number;
  outgoingPackets: number;
}

/** What `stats` reads from a running instance, for metering (Ceilometer's compute pollster). */
export interface InstanceStats {
  /** CPU time the instance's process used, in ns (libvirt's cpu_time: utime + stime). */
  cpuTimeNs: number;
  vcpus: number;
  /** Memory the guest has, from its definition. */
  memoryMib: number;
  /** Memory in use: the process's resident set. */
  memoryUsageMib: number;
  disks: DiskStats[];
  nics: NicStats[];
}

export interface ComputeDriver {
  // --- identity and host ---

  /** Which implementation this is and its capabilities. */
  info(): ComputeDriverInfo;
  /**
   * Checks the host can run instances (tools present, state folder writable, accelerator
   * usable) and reports its resources; throws `DriverUnavailableError` with the reason.
   */
  probe(): Promise<HostResources>;

  // --- creation and removal ---

  /**
   * Creates and boots an instance: its folder, the disk overlay, the user data, the process,
   * the QMP connection. On any failure every completed step is undone (nothing is left) and
   * the error is thrown: `InvalidInstanceSpecError`, `InstanceExistsError`,
   * `HypervisorCommandError`, or a QMP error.
   */
  spawn(spec: InstanceSpec): Promise<InstanceHandle>;
  /**
   * Ends the process if any (QMP `quit`, waiting for it to exit) and removes everything the
   * instance had on the host, disk included. Destroying an unknown id succeeds (idempotent).
   */
  destroy(instanceId: string): Promise<void>;

  // --- power ---

  /**
   * Makes the instance run: thaws a frozen one (`cont`), boots a shut-off one again in a new
   * process from its disk (Nova's start). Running already: nothing happens.
   */
  start(instanceId: string): Promise<InstanceHandle>;
  /** Powers the instance off (see `PowerOffOptions`); its disk stays. Idempotent. */
  powerOff(instanceId: string, options: PowerOffOptions): Promise<PowerOffResult>;
  /** Reboots the instance (see `RebootOptions`); a shut-off instance is started. */
  reboot(instanceId: string, options: RebootOptions): Promise<RebootResult>;
  /** Freezes the guest in place (`stop`). Needs `capabilities.pause`. */
  pause(instanceId: string): Promise<void>;
  /** Thaws a paused guest (`cont`). Needs `capabilities.pause`. */
  unpause(instanceId: string): Promise<void>;
  /** Suspends the guest (see `capabilities.suspend`). */
  suspend(instanceId: string): Promise<void>;
  /** Thaws a suspended guest. Needs `capabilities.suspend`. */
  resume(instanceId: string): Promise<void>;

  // --- inspection ---

  /** The instance's process and power state; throws `InstanceNotFoundError` for an unknown id. */
  status(instanceId: string): Promise<InstanceStatus>;
  /**
   * What the guest wrote on its serial console, across boots, at most the last 1 MiB; only
   * the last `lastLines` lines when given. Needs `capabilities.consoleLog`.
   */
  consoleLog(instanceId: string, lastLines?: number): Promise<string>;
  /**
   * Writes a standalone qcow2 of the root disk to `destPath` (atomically: a temporary file
   * renamed into place). A running guest is frozen for the copy and thawed after it.
   * Needs `capabilities.snapshot`; throws `InstanceStateError` for a diskless instance.
   */
  snapshot(instanceId: string, destPath: string): Promise<SnapshotResult>;
  /**
   * Counters of a running instance for metering; `InstanceNotFoundError` for an unknown id,
   * `InstanceStateError` when its process does not run. Not serialised with other operations.
   */
  stats(instanceId: string): Promise<InstanceStats>;
  /**
   * Ids of the instances on this host whose process runs (all of them with `all: true`), for
   * the reconciler after a restart. Order is unspecified.
   */
  list(options?: ListOptions): Promise<string[]>;

  // --- resize and rebuild ---

  /**
   * Nova resize on this host: the instance must be shut off (InstanceStateError otherwise,
   * also when a resize is pending). Applies the new size to what `start` launches next and
   * grows the root disk; keeps the previous definition and a copy of the previous disk until
   * confirmResize or revertResize. On failure nothing changes. Needs `capabilities.resize`.
   */
  resize(instanceId: string, spec: ResizeSpec): Promise<void>;
  /**
   * Drops what resize kept for a revert; the instance may be running. No pending resize:
   * InstanceStateError. Needs `capabilities.resize`.
   */
  confirmResize(instanceId: string): Promise<void>;
  /**
   * Restores the definition and disk from before the resize (what the guest wrote since is
   * lost, as in Nova); the instance must be shut off. No pending resize: InstanceStateError.
   * Needs `capabilities.resize`.
   */
  revertResize(instanceId: string): Promise<void>;
  /**
   * Whether a resize is pending (kept for confirm/revert), for the reconciler. Waits for the
   * operations in flight on the instance (unlike `status`), so the answer is never the middle
   * of a resize. Needs `capabilities.resize`.
   */
  hasPendingResize(instanceId: string): Promise<boolean>;
  /**
   * Nova rebuild: the instance must be shut off (InstanceStateError otherwise, also while a
   * resize is pending, as Nova allows no rebuild of a resized server); replaces its root disk
   * (and kernel) per `spec`, keeping its id, name, size, user data, metadata and console log.
   * The base image is checked like `spawn` checks it. On failure nothing changes (the old disk
   * stays). Needs `capabilities.rebuild`.
   */
  rebuild(instanceId: string, spec: RebuildSpec): Promise<void>;

  // --- volumes (need capabilities.volumes) ---

  /**
   * Attaches a volume. Running (or frozen) instance: QMP `blockdev-add` (file node + format
   * node, named after the volume id) then `device_add virtio-blk-pci` with `serial` = the
   * first 20 characters of the volume id, in a free PCIe root port; shut-off instance: only
   * the definition (`method: 'definition'`). Either way the attachment is kept in the
   * definition, so start, reboot, resize, rebuild and adopt keep it. Throws
   * `VolumeAlreadyAttachedError`, `VolumeSlotsExhaustedError` (8 volumes attached),
   * `InvalidInstanceSpecError` (field `volume.*`, e.g. a path naming no file) or
   * `HypervisorCommandError` (QEMU refused: a locked or malformed image); a failure half-way
   * leaves nothing (no node, no device, no definition change).
   */
  attachVolume(instanceId: string, volume: VolumeAttachmentSpec): Promise<AttachVolumeResult>;
  /**
   * Detaches a volume. Running instance: `device_del`, waits up to `timeoutMs` for QEMU's
   * `DEVICE_DELETED` (the guest must answer the ACPI eject), then `blockdev-del` and drops it
   * from the definition. No answer in time: `VolumeDetachTimeoutError`, and the volume stays
   * attached in the definition (the device is still in the guest); a later call tries again
   * (waiting for the unplug already requested). Shut-off instance: definition only. Throws
   * `VolumeNotAttachedError` for a volume that is not attached, `InstanceStateError` for the
   * root volume of an instance booted from a volume.
   */
  detachVolume(
    instanceId: string,
    volumeId: string,
    options?: DetachVolumeOptions,
  ): Promise<DetachVolumeResult>;
  /**
   * Makes an attached volume `newSizeBytes` large (a multiple of 512; never smaller than it
   * is: `InvalidInstanceSpecError` on `newSizeBytes`). Running instance: QMP `block_resize`
   * of the format node, which grows a qcow2 or raw FILE itself and tells the guest (its disk
   * grows online). Shut-off instance: `qemu-img resize` of the file. For an attached file
   * volume the service calls ONLY this (the volume driver's own `qemu-img resize` would fail
   * on QEMU's image lock); a block device (LVM) must be grown by the volume driver first
   * (`lvextend` is safe while open), then this tells QEMU and the guest.
   * `VolumeNotAttachedError` for a volume that is not attached (the root volume counts).
   */
  extendVolume(instanceId: string, volumeId: string, newSizeBytes: number): Promise<void>;
  /**
   * Ids of the volumes in the instance's definition: the root volume first (boot from
   * volume), then the attached ones in slot order. A volume whose detach timed out is still
   * listed.
   */
  attachedVolumes(instanceId: string): Promise<string[]>;

  // --- attachment and events ---

  /**
   * Attaches to an instance that already runs (after a Stratus restart): reconnects QMP and
   * watches its process, so its events flow again. Already attached: returns its status.
   * Throws `InstanceNotFoundError`, or `InstanceStateError` when its process does not run.
   */
  adopt(instanceId: string): Promise<InstanceHandle>;
  /** Calls `listener` for every instance event; returns the function that unsubscribes. */
  onEvent(listener: ComputeEventListener): () => void;
  /**
   * Detaches from every instance (closes QMP connections, stops watching processes) WITHOUT
   * touching them: they keep running for the next Stratus to adopt.
   */
  close(): Promise<void>;
}
