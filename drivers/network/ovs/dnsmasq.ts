import fs from 'node:fs/promises';
import path from 'node:path';
import { dnsmasqOptLine } from '../extra-dhcp-opts';
import type { DhcpHost, NetworkSpec, SubnetSpec } from '../types';
import { run } from './run';

/*
 * DHCP for one network as Neutron's DHCP agent runs it: dnsmasq inside `qdhcp-<network>`,
 * static leases only (each known MAC gets exactly its fixed IPs; unknown MACs get nothing),
 * options per subnet from a file. Host and option files are re-read on SIGHUP; a change of
 * the command line (subnets, interface, MTU) restarts it. IPv6 subnets are served stateful
 * DHCPv6 the same way (MAC-matched static leases); router advertisements are not sent.
 */

export interface DnsmasqFiles {
  dir: string;
  hosts: string;
  opts: string;
  leases: string;
  pid: string;
  cmdline: string;
  /** dnsmasq's log: one line per DHCP message, for an operator asking why a guest got nothing. */
  log: string;
}

export function dnsmasqFiles(dir: string): DnsmasqFiles {
  return {
    dir,
    hosts: path.join(dir, 'host'),
    opts: path.join(dir, 'opts'),
    leases: path.join(dir, 'leases'),
    pid: path.join(dir, 'pid'),
    cmdline: path.join(dir, 'cmdline'),
    log: path.join(dir, 'log'),
  };
}

const tag = (s: SubnetSpec) => `subnet-${s.subnetId}`;
/** The tag a host's dhcp-host line sets when it has extra options (Neutron tags by port id). */
const hostTag = (h: DhcpHost) => `port-${h.portId}`;

/** The dnsmasq arguments (without the namespace wrapper). */
export function dnsmasqArgs(spec: NetworkSpec, iface: string, files: DnsmasqFiles): string[] {
  const args = [
    '--no-hosts',
    '--no-resolv',
    // DHCP only: no DNS server (the subnets' dnsNameservers are handed out instead).
    '--port=0',
    '--conf-file=/dev/null',
    `--pid-file=${files.pid}`,
    `--dhcp-hostsfile=${files.hosts}`,
    `--dhcp-optsfile=${files.opts}`,
    `--dhcp-leasefile=${files.leases}`,
    '--bind-interfaces',
    `--interface=${iface}`,
    '--except-interface=lo',
    // Root keeps the state folder (which may be private to root) readable after a SIGHUP.
    '--user=root',
    '--group=root',
    `--dhcp-option-force=option:mtu,${spec.mtu}`,
    '--domain=openstacklocal',
    `--log-facility=${files.log}`,
    // iPXE clients (option 175, user class "iPXE") get tag `ipxe`, as Neutron sets it for
    // Ironic: per-port options `tag:ipxe,bootfile-name` then reach only iPXE.
    '--dhcp-match=set:ipxe,175',
    '--dhcp-userclass=set:ipxe,iPXE',
  ];
  for (const subnet of dhcpSubnets(spec)) {
    const [network, prefix] = subnet.cidr.split('/');
    const size = subnet.ipVersion === 4 ? prefixToNetmask(Number(prefix)) : prefix;
    args.push(`--dhcp-range=set:${tag(subnet)},${network},static,${size},86400s`);
  }
  args.push(`--dhcp-lease-max=${Math.max(16, spec.hosts.length * 2)}`);
  return args;
}

export function dhcpSubnets(spec: NetworkSpec): SubnetSpec[] {
  return spec.subnets.filter((s) => s.enableDhcp);
}

/** `--dhcp-hostsfile`: one static lease per fixed IP on a DHCP subnet. */
export function hostsFile(spec: NetworkSpec): string {
  const served = new Set(dhcpSubnets(spec).map((s) => s.subnetId));
  const lines: string[] = [];
  for (const host of spec.hosts) {
    if (spec.dhcpPort && host.portId === spec.dhcpPort.portId) continue;
    for (const ip of host.fixedIps) {
      if (!served.has(ip.subnetId)) continue;
      const name = `host-${ip.ip.replace(/[.:]/g, '-')}`;
      const address = ip.ipVersion === 6 ? `[${ip.ip}]` : ip.ip;
      const set = host.extraDhcpOpts?.length ? `set:${hostTag(host)},` : '';
      lines.push(`${host.mac.toLowerCase()},${set}${name},${address}`);
    }
  }
  return lines.map((l) => `${l}\n`).join('');
}

/** `--dhcp-optsfile`: router, DNS servers and classless static routes per subnet. */
export function optsFile(spec: NetworkSpec): string {
  const lines: string[] = [];
  for (const subnet of dhcpSubnets(spec)) {
    const t = `tag:${tag(subnet)}`;
    if (subnet.ipVersion === 6) {
      if (subnet.dnsNameservers.length > 0)
        lines.push(
          `${t},option6:dns-server,${subnet.dnsNameservers.map((d) => `[${d}]`).join(',')}`,
        );
      continue;
    }
    if (subnet.dnsNameservers.length > 0)
      lines.push(`${t},option:dns-server,${subnet.dnsNameservers.join(',')}`);
    if (subnet.hostRoutes.length > 0) {
      // A client that takes classless routes ignores the router option: repeat the default.
      const routes = subnet.hostRoutes.map((r) => `${r.destination},${r.nexthop}`);
      if (subnet.gatewayIp) routes.push(`0.0.0.0/0,${subnet.gatewayIp}`);
      lines.push(`${t},option:classless-static-route,${routes.join(',')}`);
      lines.push(`${t},249,${routes.join(',')}`);
    }
    // An empty router option tells the client there is no gateway.
    lines.push(subnet.gatewayIp ? `${t},option:router,${subnet.gatewayIp}` : `${t},option:router`);
  }
  // Per-port options after the subnets' ones: dnsmasq lets the more specific tag set win.
  for (const host of spec.hosts) {
    for (const opt of host.extraDhcpOpts ?? []) lines.push(dnsmasqOptLine(hostTag(host), opt));
  }
  return lines.map((l) => `${l}\n`).join('');
}

function prefixToNetmask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 255).join('.');
}

/** The pid of a live dnsmasq of this folder, or null. */
export async function runningPid(files: DnsmasqFiles): Promise<number | null> {
  let pid: number;
  try {
    pid = Number((await fs.readFile(files.pid, 'utf8')).trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return cmdline.includes(files.pid) && state !== 'Z' ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Makes the dnsmasq of one network serve `spec`: writes its files, then starts it, signals it
 * to re-read them (SIGHUP), or restarts it when its command line changed.
 */
export async function syncDnsmasq(
  spec: NetworkSpec,
  namespace: string,
  iface: string,
  files: DnsmasqFiles,
): Promise<void> {
  await fs.mkdir(files.dir, { recursive: true });
  await writeAtomic(files.hosts, hostsFile(spec));
  await writeAtomic(files.opts, optsFile(spec));
  const args = dnsmasqArgs(spec, iface, files);
  const cmdline = `${namespace}\n${args.join('\n')}\n`;
  const previous = await fs.readFile(files.cmdline, 'utf8').catch(() => null);
  let pid = await runningPid(files);
  if (pid !== null && previous === cmdline) {
    process.kill(pid, 'SIGHUP');
    return;
  }
  if (pid !== null) await stopDnsmasq(files);
  // dnsmasq checks its configuration, forks and returns; the daemon outlives Stratus.
  await run('ip', ['netns', 'exec', namespace, 'dnsmasq', ...args], { detachedOutput: true });
  pid = await runningPid(files);
  if (pid === null) throw new Error(`dnsmasq in ${namespace} did not stay up`);
  await writeAtomic(files.cmdline, cmdline);
}

/** Stops the network's dnsmasq (TERM, then KILL after 3 s) and forgets its files. */
export async function stopDnsmasq(files: DnsmasqFiles): Promise<void> {
  const pid = await runningPid(files);
  if (pid !== null) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
    for (let i = 0; i < 60 && (await runningPid(files)) !== null; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if ((await runningPid(files)) !== null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
  await fs.rm(files.pid, { force: true });
  await fs.rm(files.cmdline, { force: true });
}

async function writeAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp`;
  await fs.writeFile(tmp, content);
  await fs.rename(tmp, file);
}
