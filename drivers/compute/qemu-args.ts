import path from 'node:path';
import type { KernelSpec, NicSpec, VolumeAttachmentSpec } from './types';

/**
 * QEMU's command line, built section by section by small pure functions (Incus's shape): each
 * takes exactly what it needs and returns its argv slice, so tests check them without QEMU.
 */

/** Where an instance keeps everything it has on the host: one folder per instance. */
export interface InstancePaths {
  dir: string;
  /** The qcow2 overlay over the cached base image. */
  disk: string;
  qmpSocket: string;
  consoleLog: string;
  pidfile: string;
  userData: string;
  metaData: string;
  /** The spec (without user data) the instance was spawned with: what `start` relaunches. */
  spec: string;
  /** Present while the instance is suspended (a frozen guest reported as `suspended`). */
  suspendedMark: string;
  /** `instance.json` from before a resize; present exactly while a resize is pending. */
  specPreResize: string;
  /** A copy of the overlay from before a resize, for `revertResize` (diskless: none). */
  diskPreResize: string;
}

/** The folder holding one folder per instance. */
export function instancesDir(stateDir: string): string {
  return path.join(stateDir, 'instances');
}

/** The paths of instance `instanceId` under `stateDir`. */
export function instancePaths(stateDir: string, instanceId: string): InstancePaths {
  const dir = path.join(instancesDir(stateDir), instanceId);
  return {
    dir,
    disk: path.join(dir, 'disk.qcow2'),
    qmpSocket: path.join(dir, 'qmp.sock'),
    consoleLog: path.join(dir, 'console.log'),
    pidfile: path.join(dir, 'qemu.pid'),
    userData: path.join(dir, 'user-data'),
    metaData: path.join(dir, 'meta-data.json'),
    spec: path.join(dir, 'instance.json'),
    suspendedMark: path.join(dir, 'suspended'),
    specPreResize: path.join(dir, 'instance.json.pre-resize'),
    diskPreResize: path.join(dir, 'disk.qcow2.pre-resize'),
  };
}

/** Longest unix socket path the kernel takes (sun_path is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Escapes a value inside a QEMU option list (`key=value,key=value`): a comma is doubled, so
 * a path like `/srv/a,b` stays one value instead of starting a new key.
 */
export function optionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

/** Options every instance gets: no default devices, no config files, no display. */
export function baseArgs(): string[] {
  return ['-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none'];
}

/** The display name and the SMBIOS UUID (the guest sees its server id there). */
export function nameArgs(input: { instanceId: string; name: string }): string[] {
  return ['-name', `guest=${optionValue(input.name)}`, '-uuid', input.instanceId];
}

/** Machine type and accelerator. */
export function machineArgs(input: {
  machine?: 'q35' | 'pc';
  accelerator: 'kvm' | 'tcg';
}): string[] {
  return ['-machine', input.machine ?? 'q35', '-accel', input.accelerator];
}

/** Guest memory in MiB. */
export function memoryArgs(input: { memoryMib: number }): string[] {
  return ['-m', `${input.memoryMib}M`];
}

/** Virtual CPUs. */
export function cpuArgs(input: { vcpus: number }): string[] {
  return ['-smp', String(input.vcpus)];
}

/** The root disk overlay on virtio-blk, or nothing for a diskless instance. */
export function diskArgs(input: { diskPath: string | null }): string[] {
  if (input.diskPath === null) return [];
  return ['-drive', `file=${optionValue(input.diskPath)},if=virtio,format=qcow2`];
}

/** How many PCIe root ports for volumes each instance gets (`MAX_ATTACHED_VOLUMES` in base.ts). */
export const VOLUME_SLOTS = 8;

/** The PCIe root port of volume slot `slot` (0-based). */
export function slotPort(slot: number): string {
  return `hp${slot}`;
}

/**
 * Empty PCIe root ports, one per volume slot, as functions of one multifunction slot of the
 * root bus (0x10). WARNING: q35's root bus takes no hot-plug; only devices behind root ports
 * can be hot-plugged and unplugged (ACPI hot-plug, QEMU's default on q35 since 6.1), so every
 * volume (at boot or later) goes behind one. `io-reserve=0`: virtio devices need no I/O ports,
 * and eight I/O windows would not fit. They come before any other device so that automatic
 * addresses never take slot 0x10.
 */
export function hotplugPortArgs(): string[] {
  const args: string[] = [];
  for (let slot = 0; slot < VOLUME_SLOTS; slot++) {
    const multifunction = slot === 0 ? ',multifunction=on' : '';
    args.push(
      '-device',
      `pcie-root-port,id=${slotPort(slot)},chassis=${slot + 1},bus=pcie.0,addr=0x10.${slot}${multifunction},io-reserve=0`,
    );
  }
  return args;
}

/**
 * QEMU names of one volume, derived from its id (a UUID): node names and device ids must be
 * at most 31 characters starting with a letter, so they take 24 hex digits of the id; the
 * virtio serial is the first 20 characters of the id (the guest's /dev/disk/by-id/virtio-...,
 * as with Nova).
 */
export interface VolumeNames {
  fileNode: string;
  formatNode: string;
  deviceId: string;
  serial: string;
}

export function volumeNames(volumeId: string): VolumeNames {
  const key = volumeId.replaceAll('-', '').slice(0, 24).toLowerCase();
  return {
    fileNode: `file-${key}`,
    formatNode: `vol-${key}`,
    deviceId: `disk-${key}`,
    serial: volumeId.slice(0, 20),
  };
}

/** A volume as QEMU opens it: the spec, plus whether its path is a block device (LVM). */
export interface OpenedVolume extends VolumeAttachmentSpec {
  blockDevice: boolean;
}

/** The `blockdev-add` arguments of a volume: its file node, then its format node. */
export function volumeBlockdevs(volume: OpenedVolume): Record<string, unknown>[] {
  const names = volumeNames(volume.volumeId);
  return [
    {
      driver: volume.blockDevice ? 'host_device' : 'file',
      'node-name': names.fileNode,
      filename: volume.path,
    },
    { driver: volume.driver, 'node-name': names.formatNode, file: names.fileNode },
  ];
}

/** The `device_add` arguments of a volume: virtio-blk in the root port of `slot` (null: root bus). */
export function volumeDevice(volumeId: string, slot: number | null): Record<string, unknown> {
  const names = volumeNames(volumeId);
  return {
    driver: 'virtio-blk-pci',
    id: names.deviceId,
    drive: names.formatNode,
    serial: names.serial,
    ...(slot === null ? {} : { bus: slotPort(slot) }),
  };
}

/** `key=value` form of QMP-style arguments, values escaped for QEMU's option parser. */
function optionList(args: Record<string, unknown>): string {
  return Object.entries(args)
    .map(([key, value]) => `${key}=${optionValue(String(value))}`)
    .join(',');
}

/**
 * A volume opened at boot: the same nodes and device `attachVolume` hot-plugs, so a later
 * detach finds them by the same names. `slot` null puts it on the root bus (the root volume,
 * which is never unplugged).
 */
export function volumeArgs(volume: OpenedVolume, slot: number | null): string[] {
  const args: string[] = [];
  for (const node of volumeBlockdevs(volume)) args.push('-blockdev', optionList(node));
  const { driver, ...device } = volumeDevice(volume.volumeId, slot);
  args.push('-device', `${driver},${optionList(device)}`);
  return args;
}

/**
 * NICs in guest order: each an existing tap (made by the network driver; `script=no`: QEMU
 * configures nothing) and a virtio-net device with the port's MAC.
 */
export function nicArgs(input: { nics: NicSpec[] }): string[] {
  return input.nics.flatMap((nic, index) => [
    '-netdev',
    `tap,id=net${index},ifname=${nic.tapName},script=no,downscript=no`,
    '-device',
    `virtio-net-pci,netdev=net${index},mac=${nic.mac},id=nic${index}`,
  ]);
}

/** True when `cmdline` already sends the console to the first serial port. */
export function hasSerialConsole(cmdline: string): boolean {
  return /(^|\s)console=ttyS0(,\S*)?(\s|$)/.test(cmdline);
}

/** Direct kernel boot; the command line always carries `console=ttyS0`. */
export function kernelArgs(input: { kernel?: KernelSpec }): string[] {
  const { kernel } = input;
  if (!kernel) return [];
  const cmdline = kernel.cmdline?.trim() ?? '';
  const append = hasSerialConsole(cmdline)
    ? cmdline
    : [cmdline, 'console=ttyS0'].filter(Boolean).join(' ');
  return [
    '-kernel',
    kernel.kernelPath,
    ...(kernel.initrdPath ? ['-initrd', kernel.initrdPath] : []),
    '-append',
    append,
  ];
}

/** The QMP monitor on a unix socket that QEMU listens on (one client at a time). */
export function qmpArgs(input: { socketPath: string }): string[] {
  return [
    '-chardev',
    `socket,id=qmp,path=${optionValue(input.socketPath)},server=on,wait=off`,
    '-mon',
    'chardev=qmp,mode=control',
  ];
}

/** The first serial port (ttyS0) into a log file, appended to across boots. */
export function serialArgs(input: { logPath: string }): string[] {
  return [
    '-chardev',
    `file,id=serial0,path=${optionValue(input.logPath)},append=on`,
    '-serial',
    'chardev:serial0',
  ];
}

/** User data and metadata as fw_cfg files the guest reads under `opt/stratus/`. */
export function fwCfgArgs(input: { userDataPath?: string; metaDataPath?: string }): string[] {
  const args: string[] = [];
  if (input.userDataPath !== undefined) {
    args.push('-fw_cfg', `name=opt/stratus/user-data,file=${optionValue(input.userDataPath)}`);
  }
  if (input.metaDataPath !== undefined) {
    args.push('-fw_cfg', `name=opt/stratus/meta-data,file=${optionValue(input.metaDataPath)}`);
  }
  return args;
}

/**
 * Detaches QEMU from Stratus (`-daemonize`: the process outlives us and is adopted after a
 * restart) and writes its pid; `-S` creates the machine frozen before its first instruction.
 */
export function daemonArgs(input: { pidfilePath: string; startPaused: boolean }): string[] {
  return ['-daemonize', '-pidfile', input.pidfilePath, ...(input.startPaused ? ['-S'] : [])];
}

/** Everything `qemuArgv` needs to know about one launch. */
export interface LaunchInput {
  instanceId: string;
  name: string;
  vcpus: number;
  memoryMib: number;
  accelerator: 'kvm' | 'tcg';
  paths: InstancePaths;
  /** The root disk: the overlay in the instance folder, a volume, or none. */
  rootDisk: 'overlay' | OpenedVolume | null;
  /** Volumes attached at boot, each in its slot. */
  volumes: { volume: OpenedVolume; slot: number }[];
  nics: NicSpec[];
  kernel?: KernelSpec;
  hasUserData: boolean;
  hasMetaData: boolean;
  startPaused: boolean;
}

/** The whole argv (without the binary) of one instance launch. */
export function qemuArgv(input: LaunchInput): string[] {
  const { paths } = input;
  return [
    ...nameArgs(input),
    ...machineArgs({ accelerator: input.accelerator }),
    ...memoryArgs(input),
    ...cpuArgs(input),
    ...baseArgs(),
    ...hotplugPortArgs(),
    ...qmpArgs({ socketPath: paths.qmpSocket }),
    ...serialArgs({ logPath: paths.consoleLog }),
    ...diskArgs({ diskPath: input.rootDisk === 'overlay' ? paths.disk : null }),
    ...(input.rootDisk !== null && input.rootDisk !== 'overlay'
      ? volumeArgs(input.rootDisk, null)
      : []),
    ...input.volumes.flatMap(({ volume, slot }) => volumeArgs(volume, slot)),
    ...nicArgs(input),
    ...kernelArgs({ kernel: input.kernel }),
    ...fwCfgArgs({
      userDataPath: input.hasUserData ? paths.userData : undefined,
      metaDataPath: input.hasMetaData ? paths.metaData : undefined,
    }),
    ...daemonArgs({ pidfilePath: paths.pidfile, startPaused: input.startPaused }),
  ];
}
