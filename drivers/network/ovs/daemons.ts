import { existsSync } from 'node:fs';
import { run } from './run';

/** Where Debian's openvswitch-switch puts ovs-ctl (it is not on PATH). */
const OVS_CTL_PATHS = [
  '/usr/share/openvswitch/scripts/ovs-ctl',
  '/usr/local/share/openvswitch/scripts/ovs-ctl',
];

/** The host tools the driver runs; `probe` checks each answers. */
export const REQUIRED_TOOLS: [binary: string, args: string[]][] = [
  ['ovs-vsctl', ['--version']],
  ['ovs-ofctl', ['--version']],
  ['ovs-vswitchd', ['--version']],
  ['ovsdb-server', ['--version']],
  ['ip', ['-V']],
  ['dnsmasq', ['--version']],
  ['iptables-restore', ['--version']],
  ['sysctl', ['--version']],
];

/** Names of the tools that do not run here. */
export async function missingTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const [binary, args] of REQUIRED_TOOLS) {
    try {
      await run(binary, args, { timeoutMs: 10_000 });
    } catch {
      missing.push(binary);
    }
  }
  return missing;
}

async function answers(target: 'ovsdb-server' | 'ovs-vswitchd'): Promise<boolean> {
  try {
    await run('ovs-appctl', ['-t', target, 'version'], { timeoutMs: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts ovsdb-server and ovs-vswitchd when they do not run, detached so they outlive this
 * process. The kernel module is absent on these machines, so `ovs-ctl start` (which loads it)
 * is only used for ovsdb-server; ovs-vswitchd is started directly and only ever serves
 * userspace (netdev) bridges. Userspace TSO is switched on first: with it the datapath passes
 * checksum-offload metadata between veths and taps, without it TCP and UDP from namespaces
 * arrive with unfinished checksums.
 */
export async function ensureOvsRunning(): Promise<void> {
  if (!(await answers('ovsdb-server'))) {
    const ovsCtl = OVS_CTL_PATHS.find((p) => existsSync(p));
    if (!ovsCtl) throw new Error('ovs-ctl was not found (is openvswitch-switch installed?)');
    await run(ovsCtl, ['start', '--no-ovs-vswitchd', '--system-id=random'], {
      timeoutMs: 60_000,
      detachedOutput: true,
    });
  }
  if (!(await answers('ovs-vswitchd'))) {
    await run('ovs-vsctl', [
      '--no-wait',
      'set',
      'Open_vSwitch',
      '.',
      'other_config:userspace-tso-enable=true',
    ]);
    await run('ovs-vswitchd', ['--detach', '--pidfile', '--log-file'], {
      timeoutMs: 60_000,
      detachedOutput: true,
    });
  }
}
