import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { FixedIp, NetworkSpec, PortSpec } from '../../drivers/network/types';
import { runs } from '../support/host-tools';

/** Shared pieces of the OVS driver tests (real OVS, dnsmasq, namespaces; see README there). */

const TOOLS = ['ovs-vsctl', 'ovs-ofctl', 'ovs-vswitchd', 'ovsdb-server', 'dnsmasq'];

/**
 * Why the OVS tests cannot run here, or null. Under CI=true always null: a missing tool must
 * fail the run there (the driver's probe says which), not skip it.
 */
export function ovsSkipReason(): string | null {
  if (process.env.CI === 'true') return null;
  const missing = TOOLS.filter((t) => !runs(t));
  if (!runsIp()) missing.push('ip');
  // The tests ping with busybox (busybox-static): Debian's ping is not installed here.
  if (!existsSync('/bin/busybox')) missing.push('/bin/busybox');
  if (missing.length > 0)
    return `${missing.join(', ')} missing; scripts/install-deps installs them`;
  if (process.getuid && process.getuid() !== 0) return 'needs root (taps, namespaces, OVS)';
  return null;
}

function runsIp(): boolean {
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A bridge name of its own per test file: br-t + 8 hex characters. */
export function testBridge(): string {
  return `br-t${randomBytes(4).toString('hex')}`;
}

export function fixedIp(subnetId: string, ip: string, prefixLength = 24): FixedIp {
  return { subnetId, ip, prefixLength, ipVersion: 4 };
}

/** A MAC in Neutron's fa:16:3e range. */
export function randomMac(): string {
  const b = randomBytes(3);
  return `fa:16:3e:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
}

/** A network with one IPv4 /24 subnet with DHCP, its DHCP port at .2, gateway .1. */
export function networkSpec(
  cidrBase: string,
  segmentationId: number,
  hosts: PortSpec[] = [],
  overrides: Partial<NetworkSpec> = {},
): NetworkSpec {
  const subnetId = randomUUID();
  return {
    networkId: randomUUID(),
    segmentationId,
    mtu: 1450,
    subnets: [
      {
        subnetId,
        cidr: `${cidrBase}.0/24`,
        ipVersion: 4,
        gatewayIp: `${cidrBase}.1`,
        enableDhcp: true,
        dnsNameservers: [],
        hostRoutes: [],
      },
    ],
    dhcpPort: {
      portId: randomUUID(),
      mac: randomMac(),
      fixedIps: [fixedIp(subnetId, `${cidrBase}.2`)],
    },
    hosts: hosts.map((p) => ({ portId: p.portId, mac: p.mac, fixedIps: p.fixedIps })),
    hostGateway: null,
    ...overrides,
  };
}

/** Open egress, ingress ICMP from anywhere. */
export const PING_RULES: PortSpec['rules'] = [
  {
    direction: 'egress',
    ethertype: 'IPv4',
    protocol: null,
    portRangeMin: null,
    portRangeMax: null,
    remoteIps: null,
  },
  {
    direction: 'ingress',
    ethertype: 'IPv4',
    protocol: 1,
    portRangeMin: null,
    portRangeMax: null,
    remoteIps: null,
  },
];

/** A server port on `network` with address `ip` in its first subnet. */
export function portSpec(
  network: NetworkSpec,
  ip: string,
  overrides: Partial<PortSpec> = {},
): PortSpec {
  return {
    portId: randomUUID(),
    networkId: network.networkId,
    segmentationId: network.segmentationId,
    mtu: network.mtu,
    mac: randomMac(),
    fixedIps: [fixedIp(network.subnets[0].subnetId, ip)],
    adminStateUp: true,
    portSecurityEnabled: true,
    rules: PING_RULES,
    allowedAddressPairs: [],
    ...overrides,
  };
}

/** Runs a command, returning its stdout (throws on failure). */
export function sh(binary: string, args: string[]): string {
  return execFileSync(binary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Whether a command succeeds. */
export function succeeds(binary: string, args: string[]): boolean {
  try {
    execFileSync(binary, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

export function namespaces(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

/** Processes whose command line mentions `text` (e.g. a state folder), as pids. */
export function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(text)) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

/** Polls `probe` every 200 ms until it returns a truthy value or `ms` pass. */
export async function until<T>(
  probe: () => T | Promise<T>,
  what: string,
  ms = 30_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
