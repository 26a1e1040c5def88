import path from 'node:path';
import type { KernelSpec } from './types';

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
  hasDisk: boolean;
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
    ...qmpArgs({ socketPath: paths.qmpSocket }),
    ...serialArgs({ logPath: paths.consoleLog }),
    ...diskArgs({ diskPath: input.hasDisk ? paths.disk : null }),
    ...kernelArgs({ kernel: input.kernel }),
    ...fwCfgArgs({
      userDataPath: input.hasUserData ? paths.userData : undefined,
      metaDataPath: input.hasMetaData ? paths.metaData : undefined,
    }),
    ...daemonArgs({ pidfilePath: paths.pidfile, startPaused: input.startPaused }),
  ];
}
