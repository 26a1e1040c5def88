import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BmcSpec } from '../../drivers/baremetal';
import { BUILD_GUEST, GUEST_DIR, REPO } from './host-tools';

/**
 * A lab of simulated bare-metal machines: each is an OpenIPMI `ipmi_sim` BMC on
 * 127.0.0.1:<free UDP port> whose chassis (scripts/bmc-sim-chassis) boots the test guest in a
 * QEMU VM (TCG) at power on and kills it at power off. Several run at once, each with its own
 * port and state folder under the lab's root; `stopAll` ends every process and removes it.
 */

export const CHASSIS = path.join(REPO, 'scripts/bmc-sim-chassis');

/** Why the simulated BMC tests cannot run here, or null. Always null under CI=true. */
export function bmcSimSkipReason(): string | null {
  if (process.env.CI === 'true') return null;
  const missing = ['ipmitool', 'ipmi_sim', 'qemu-system-x86_64'].filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    return `${missing.join(', ')} missing; scripts/install-deps installs them`;
  }
  if (!existsSync(BUILD_GUEST)) return 'scripts/build-test-guest is missing';
  return null;
}

export interface BmcSimOptions {
  username?: string;
  password?: string;
  /** The folder with the test guest's vmlinuz and initrd.img; default GUEST_DIR. */
  guestDir?: string;
  memoryMb?: number;
  /**
   * Netboot mode: no kernel of its own; one NIC on `tap` (which must exist) with `mac`, booted
   * over the network by its iPXE ROM when the boot device is pxe, and `disk` (a qcow2 file) as
   * its local disk.
   */
  netboot?: { tap: string; mac: string; disk?: string };
}

export interface BmcSim {
  readonly name: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly stateDir: string;
  /** The spec the driver takes to reach this BMC. */
  spec(overrides?: Partial<BmcSpec>): BmcSpec;
  /** The running VM's pid (not a zombie), or null when the machine is off. */
  vmPid(): number | null;
  /** The VM's serial console since its last power on. */
  console(): string;
  /** Resolves when the console matches `pattern`; rejects after `timeoutMs`. */
  waitForConsole(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** SIGKILLs the BMC (ipmi_sim) only, as a BMC that dies; the VM keeps running. */
  killBmc(): Promise<void>;
  /** Starts the BMC again (same port, users, chassis) after `killBmc`; the VM is untouched. */
  restartBmc(): Promise<void>;
  /** Kills the VM and the BMC and waits until both are gone. */
  stop(): Promise<void>;
}

export class BmcLab {
  readonly root = mkdtempSync(path.join(os.tmpdir(), 'stratus-bmc-lab-'));
  private readonly sims: BmcSim[] = [];
  private count = 0;

  /** Starts one simulated machine, powered off, and resolves once its BMC listens. */
  async start(options: BmcSimOptions = {}): Promise<BmcSim> {
    const name = `bmc${++this.count}`;
    const stateDir = path.join(this.root, name);
    mkdirSync(stateDir);
    const username = options.username ?? 'admin';
    const password = options.password ?? `pw-${name}-${process.pid}`;
    const guestDir = options.guestDir ?? GUEST_DIR;
    const netboot = options.netboot;
    await writeFile(
      path.join(stateDir, 'machine.env'),
      [
        ...(netboot
          ? [
              `NETBOOT_TAP=${shellQuote(netboot.tap)}`,
              `NETBOOT_MAC=${shellQuote(netboot.mac)}`,
              ...(netboot.disk ? [`DISK=${shellQuote(netboot.disk)}`] : []),
            ]
          : [
              `KERNEL=${shellQuote(path.join(guestDir, 'vmlinuz'))}`,
              `INITRD=${shellQuote(path.join(guestDir, 'initrd.img'))}`,
            ]),
        `MEMORY_MB=${options.memoryMb ?? 256}`,
        '',
      ].join('\n'),
    );
    // ipmi_sim takes the first free port we find; a rare collision fails the start loudly.
    const port = await freeUdpPort();
    const conf = path.join(stateDir, 'lan.conf');
    await writeFile(conf, lanConf(name, port, username, password, stateDir), { mode: 0o600 });
    const emu = path.join(stateDir, 'sim.emu');
    await writeFile(emu, SIM_EMU);
    const bmc = spawn('ipmi_sim', ['-c', conf, '-f', emu, '-s', stateDir, '-n'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    bmc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const respawn = () =>
      spawn('ipmi_sim', ['-c', conf, '-f', emu, '-s', stateDir, '-n'], { stdio: 'ignore' });
    const sim = makeSim(name, port, username, password, stateDir, bmc, respawn);
    this.sims.push(sim);
    await waitUntil(
      () => udpListening(port) || exited(bmc),
      10_000,
      () => `ipmi_sim did not listen on 127.0.0.1:${port}: ${stderr}`,
    );
    if (exited(bmc)) throw new Error(`ipmi_sim exited at start: ${stderr}`);
    return sim;
  }

  /** Stops every machine of the lab and removes its root. */
  async stopAll(): Promise<void> {
    await Promise.all(this.sims.splice(0).map((sim) => sim.stop()));
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Pids of live (non-zombie) processes whose command line names a path in the lab's root. */
  leftovers(): number[] {
    return processesMentioning(this.root);
  }
}

function makeSim(
  name: string,
  port: number,
  username: string,
  password: string,
  stateDir: string,
  firstBmc: ChildProcess,
  respawn: () => ChildProcess,
): BmcSim {
  let bmc = firstBmc;
  const readConsole = () => {
    try {
      return readFileSync(path.join(stateDir, 'console.log'), 'utf8').replace(/\r/g, '');
    } catch {
      return '';
    }
  };
  const vmPid = () => {
    try {
      const pid = Number(readFileSync(path.join(stateDir, 'vm.pid'), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
    } catch {
      return null;
    }
  };
  const killBmc = async () => {
    if (!exited(bmc)) bmc.kill('SIGKILL');
    await waitUntil(
      () => exited(bmc),
      10_000,
      () => `ipmi_sim ${bmc.pid} did not exit`,
    );
  };
  return {
    name,
    port,
    username,
    password,
    stateDir,
    spec: (overrides = {}) => ({
      address: '127.0.0.1',
      port,
      username,
      password,
      interface: 'lanplus',
      ...overrides,
    }),
    vmPid,
    console: readConsole,
    waitForConsole: (pattern, timeoutMs) =>
      waitUntil(
        () => pattern.test(readConsole()),
        timeoutMs,
        () => `console of ${name} never matched ${pattern}:\n${readConsole().slice(-2000)}`,
      ),
    killBmc,
    async restartBmc() {
      await killBmc();
      bmc = respawn();
      await waitUntil(
        () => udpListening(port) || exited(bmc),
        10_000,
        () => `ipmi_sim did not listen again on 127.0.0.1:${port}`,
      );
      if (exited(bmc)) throw new Error(`ipmi_sim ${name} exited at restart`);
    },
    async stop() {
      await killBmc();
      // The VM is a daemonized QEMU (not our child): kill it by its pid file, and any chassis
      // run still in flight, until nothing of this machine is left.
      await waitUntil(
        () => {
          const pids = processesMentioning(stateDir);
          for (const pid of pids) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {}
          }
          return pids.length === 0;
        },
        10_000,
        () => `processes of ${name} survive: ${processesMentioning(stateDir).join(', ')}`,
      );
    },
  };
}

const SIM_EMU = `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
`;

/** ipmi_lan(5): one LAN channel on loopback, one admin user, our chassis as power control. */
function lanConf(
  name: string,
  port: number,
  username: string,
  password: string,
  stateDir: string,
): string {
  for (const value of [username, password]) {
    if (!/^[A-Za-z0-9._-]+$/.test(value)) throw new Error('lab credentials: [A-Za-z0-9._-] only');
  }
  return `name "${name}"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "${CHASSIS} ${stateDir}"
  user 2 true "${username}" "${password}" admin 10 none md2 md5 straight
`;
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Whether something is bound to 127.0.0.1:`port`/udp (from /proc/net/udp). */
function udpListening(port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/udp', 'utf8')
    .split('\n')
    .some((line) => line.trim().split(/\s+/)[1] === local);
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Alive and not a zombie (an orphaned QEMU may stay one where nobody reaps). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    // `text` as a whole path or argument: bmc1 must not match bmc10.
    const named = cmdline.includes(`${text}/`) || cmdline.includes(`${text}\0`);
    if (named && alive(pid)) pids.push(pid);
  }
  return pids;
}

async function waitUntil(
  done: () => boolean,
  timeoutMs: number,
  message: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(message());
    await sleep(50);
  }
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => existsSync(path.join(dir, command)));
}
