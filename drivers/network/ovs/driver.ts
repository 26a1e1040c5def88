import fs from 'node:fs/promises';
import path from 'node:path';
import { DriverUnavailableError } from '../../errors';
import { Reverter } from '../../reverter';
import type {
  NetworkDriver,
  NetworkDriverInfo,
  NetworkInventory,
  NetworkSpec,
  PluggedPort,
  PortSpec,
  RouterSpec,
} from '../types';
import { KeyedLock } from './batcher';
import { ensureOvsRunning, missingTools } from './daemons';
import { dnsmasqFiles, runningPid, stopDnsmasq, syncDnsmasq } from './dnsmasq';
import { baseFlows, DEAD_VLAN, serverPortFlows, unfilteredPortFlows } from './flows';
import {
  deleteLink,
  deleteNamespace,
  ensureNamespace,
  ensureTap,
  ensureVeth,
  linkExists,
  syncAddresses,
} from './links';
import {
  BASE_COOKIE,
  type BridgePortKind,
  dhcpBridgeEnd,
  dhcpNamespace,
  dhcpNamespaceEnd,
  hostGatewayBridgeEnd,
  hostGatewayEnd,
  portCookie,
  routerGatewayBridgeEnd,
  routerGatewayEnd,
  routerInterfaceBridgeEnd,
  routerInterfaceEnd,
  routerNamespace,
  tapName,
} from './names';
import { Bridge, externalIds } from './ovs';
import { applyNat, enableForwarding } from './router';
import { run } from './run';
import {
  checkId,
  checkIdOrPrefix,
  checkNetworkSpec,
  checkPortSpec,
  checkRouterSpec,
} from './validate';

/** Configuration of the ovs network driver. */
export interface OvsNetworkConfig {
  /** The integration bridge (default `br-int`); created on the userspace datapath if absent. */
  bridge?: string;
  /** Where the driver keeps its files: dnsmasq host/option/lease/pid files, router markers. */
  stateDir: string;
}

const UUID_PREFIX = /^[0-9a-f-]{11}$/;

/**
 * Neutron's L2, DHCP and L3 agents and its openvswitch firewall on one host, over Open vSwitch's
 * userspace datapath (see drivers/network/README.md).
 */
export class OvsNetworkDriver implements NetworkDriver {
  readonly bridge: Bridge;
  private readonly stateDir: string;
  private readonly locks = new KeyedLock();

  constructor(config: OvsNetworkConfig) {
    this.bridge = new Bridge(config.bridge ?? 'br-int');
    this.stateDir = path.resolve(config.stateDir);
  }

  info(): NetworkDriverInfo {
    return { name: 'ovs', capabilities: { securityGroups: true, dhcp: true, routers: true } };
  }

  async probe(): Promise<void> {
    const fail = (reason: string, cause?: unknown) =>
      new DriverUnavailableError('ovs', reason, { cause });
    const missing = await missingTools();
    if (missing.length > 0)
      throw fail(`missing host tools: ${missing.join(', ')} (scripts/install-deps installs them)`);
    if (process.getuid && process.getuid() !== 0)
      throw fail('needs root (taps, namespaces and Open vSwitch)');
    try {
      await ensureOvsRunning();
    } catch (err) {
      throw fail(`Open vSwitch could not be started: ${(err as Error).message}`, err);
    }
    try {
      await fs.mkdir(path.join(this.stateDir, 'networks'), { recursive: true });
      await fs.mkdir(path.join(this.stateDir, 'routers'), { recursive: true });
      const br = this.bridge.name;
      await run('ovs-vsctl', [
        ...['--timeout=30', '--may-exist', 'add-br', br],
        ...['--', 'set', 'Bridge', br, 'datapath_type=netdev', 'fail_mode=secure'],
        'protocols=OpenFlow10,OpenFlow13,OpenFlow14',
      ]);
      await this.bridge.replaceFlows(BASE_COOKIE, baseFlows());
    } catch (err) {
      throw fail(`the integration bridge could not be set up: ${(err as Error).message}`, err);
    }
  }

  // ---- networks: DHCP namespace and host gateway ----

  async ensureNetwork(spec: NetworkSpec): Promise<void> {
    checkNetworkSpec(spec);
    return this.locks.with(`network:${spec.networkId}`, () =>
      Reverter.run(async (revert) => {
        const dir = this.networkDir(spec.networkId);
        if (!(await exists(dir))) {
          await fs.mkdir(dir, { recursive: true });
          revert.add(() => fs.rm(dir, { recursive: true, force: true }));
        }
        const wantsDhcp = spec.dhcpPort !== null && spec.subnets.some((s) => s.enableDhcp);
        if (wantsDhcp) await this.ensureDhcp(spec, revert);
        else await this.removeDhcp(spec.networkId);
        if (spec.hostGateway) await this.ensureHostGateway(spec, revert);
        else await this.removeHostGateway(spec.networkId);
      }),
    );
  }

  private async ensureDhcp(spec: NetworkSpec, revert: Reverter): Promise<void> {
    const dhcpPort = spec.dhcpPort;
    if (!dhcpPort) return;
    const ns = dhcpNamespace(spec.networkId);
    if (await ensureNamespace(ns)) revert.add(() => deleteNamespace(ns));
    const outer = dhcpBridgeEnd(spec.networkId);
    const inner = dhcpNamespaceEnd(spec.networkId);
    await this.plugVeth(revert, outer, inner, ns, spec.mtu, dhcpPort.mac, spec.segmentationId, {
      'stratus-kind': 'dhcp',
      'stratus-network-id': spec.networkId,
      'stratus-port-id': dhcpPort.portId,
    });
    await syncAddresses(
      ns,
      inner,
      dhcpPort.fixedIps.map((f) => `${f.ip}/${f.prefixLength}`),
    );
    const files = dnsmasqFiles(path.join(this.networkDir(spec.networkId), 'dhcp'));
    const wasRunning = (await runningPid(files)) !== null;
    await syncDnsmasq(spec, ns, inner, files);
    // A later step (the host gateway) may still fail: a dnsmasq started now goes with it.
    if (!wasRunning) revert.add(() => stopDnsmasq(files));
  }

  private async removeDhcp(networkId: string): Promise<void> {
    await stopDnsmasq(dnsmasqFiles(path.join(this.networkDir(networkId), 'dhcp')));
    await this.unplug(dhcpBridgeEnd(networkId));
    await deleteNamespace(dhcpNamespace(networkId));
  }

  private async ensureHostGateway(spec: NetworkSpec, revert: Reverter): Promise<void> {
    const gw = spec.hostGateway;
    if (!gw) return;
    const inner = hostGatewayEnd(spec.networkId);
    await this.plugVeth(
      revert,
      hostGatewayBridgeEnd(spec.networkId),
      inner,
      null,
      spec.mtu,
      null,
      spec.segmentationId,
      { 'stratus-kind': 'host-gateway', 'stratus-network-id': spec.networkId },
    );
    await syncAddresses(null, inner, [`${gw.ip}/${gw.prefixLength}`]);
    // The host is the external network's end, not a way out: even where the host forwards
    // (ip_forward=1), nothing arriving from this segment is routed on to the host's uplinks.
    await fs.writeFile(`/proc/sys/net/ipv4/conf/${inner}/forwarding`, '0');
    await fs.writeFile(`/proc/sys/net/ipv6/conf/${inner}/forwarding`, '0').catch(() => {});
  }

  private async removeHostGateway(networkId: string): Promise<void> {
    await this.unplug(hostGatewayBridgeEnd(networkId));
  }

  async deleteNetwork(networkId: string): Promise<void> {
    checkId('networkId', networkId);
    return this.locks.with(`network:${networkId}`, async () => {
      await this.removeDhcp(networkId);
      await this.removeHostGateway(networkId);
      await fs.rm(this.networkDir(networkId), { recursive: true, force: true });
    });
  }

  // ---- server ports ----

  async ensurePort(spec: PortSpec): Promise<PluggedPort> {
    checkPortSpec(spec);
    const tap = tapName(spec.portId);
    return this.locks.with(`port:${tap}`, () =>
      Reverter.run(async (revert) => {
        const fresh = !(await linkExists(tap));
        if (fresh) revert.add(() => deleteLink(tap));
        await ensureTap(tap, spec.mtu);
        const ids = {
          'iface-id': spec.portId,
          'attached-mac': spec.mac.toLowerCase(),
          'stratus-port-id': spec.portId,
          'stratus-network-id': spec.networkId,
          'stratus-kind': 'port' satisfies BridgePortKind,
        };
        await this.bridge.vsctl([
          ['--may-exist', 'add-port', this.bridge.name, tap],
          ['set', 'Port', tap, `tag=${spec.adminStateUp ? spec.segmentationId : DEAD_VLAN}`],
          ['set', 'Interface', tap, ...externalIds(ids)],
        ]);
        if (fresh) revert.add(() => this.bridge.vsctl([['--if-exists', 'del-port', tap]]));
        const ofport = await this.bridge.ofport(tap);
        const cookie = portCookie(tap);
        await this.bridge.replaceFlows(cookie, serverPortFlows(cookie, ofport, spec));
        if (fresh) revert.add(() => this.bridge.deleteFlows(cookie));
        return { portId: spec.portId, tapName: tap, mac: spec.mac };
      }),
    );
  }

  /** Takes a port id or the 11-character prefix `list()` reports for a tap. */
  async deletePort(portId: string): Promise<void> {
    checkIdOrPrefix('portId', portId);
    const tap = tapName(portId);
    return this.locks.with(`port:${tap}`, () => this.unplug(tap));
  }

  // ---- routers ----

  async ensureRouter(spec: RouterSpec): Promise<void> {
    checkRouterSpec(spec);
    return this.locks.with(`router:${spec.routerId}`, () =>
      Reverter.run(async (revert) => {
        const dir = this.routerDir(spec.routerId);
        if (!(await exists(dir))) {
          await fs.mkdir(dir, { recursive: true });
          revert.add(() => fs.rm(dir, { recursive: true, force: true }));
        }
        const ns = routerNamespace(spec.routerId);
        if (await ensureNamespace(ns)) revert.add(() => deleteNamespace(ns));
        await enableForwarding(ns);

        const wanted = new Set<string>();
        const legs: string[] = [];
        for (const leg of spec.interfaces) {
          const inner = routerInterfaceEnd(leg.portId);
          const outer = routerInterfaceBridgeEnd(leg.portId);
          wanted.add(outer);
          legs.push(inner);
          await this.plugVeth(revert, outer, inner, ns, leg.mtu, leg.mac, leg.segmentationId, {
            'stratus-kind': 'router-interface',
            'stratus-router-id': spec.routerId,
            'stratus-network-id': leg.networkId,
            'stratus-port-id': leg.portId,
          });
          await syncAddresses(ns, inner, [`${leg.fixedIp.ip}/${leg.fixedIp.prefixLength}`]);
        }
        const gw = spec.gateway;
        if (gw) {
          const inner = routerGatewayEnd(gw.portId);
          const outer = routerGatewayBridgeEnd(gw.portId);
          wanted.add(outer);
          legs.push(inner);
          await this.plugVeth(revert, outer, inner, ns, gw.mtu, gw.mac, gw.segmentationId, {
            'stratus-kind': 'router-gateway',
            'stratus-router-id': spec.routerId,
            'stratus-network-id': gw.networkId,
            'stratus-port-id': gw.portId,
          });
          const host = gw.fixedIp.ipVersion === 4 ? 32 : 128;
          await syncAddresses(ns, inner, [
            `${gw.fixedIp.ip}/${gw.fixedIp.prefixLength}`,
            ...spec.floatingIps.map(
              (f) => `${f.floatingIp}/${f.floatingIp.includes(':') ? 128 : host}`,
            ),
          ]);
          if (gw.nexthop) {
            await run('ip', [
              '-n',
              ns,
              'route',
              'replace',
              'default',
              'via',
              gw.nexthop,
              'dev',
              inner,
            ]);
          } else {
            await run('ip', ['-n', ns, 'route', 'flush', 'exact', '0.0.0.0/0']);
          }
        }
        // Legs the spec no longer has.
        for (const port of await this.bridge.ports()) {
          if (port.externalIds['stratus-router-id'] === spec.routerId && !wanted.has(port.name))
            await this.unplug(port.name);
        }
        await applyNat(ns, spec);
        for (const leg of legs) {
          await run('ip', ['-n', ns, 'link', 'set', 'dev', leg, spec.adminStateUp ? 'up' : 'down']);
        }
      }),
    );
  }

  async deleteRouter(routerId: string): Promise<void> {
    checkId('routerId', routerId);
    return this.locks.with(`router:${routerId}`, async () => {
      for (const port of await this.bridge.ports()) {
        if (port.externalIds['stratus-router-id'] === routerId) await this.unplug(port.name);
      }
      await deleteNamespace(routerNamespace(routerId));
      await fs.rm(this.routerDir(routerId), { recursive: true, force: true });
    });
  }

  // ---- inventory ----

  async list(): Promise<NetworkInventory> {
    const ports = await this.bridge.ports();
    const networks = new Set(await readdirOrEmpty(path.join(this.stateDir, 'networks')));
    const routers = new Set(await readdirOrEmpty(path.join(this.stateDir, 'routers')));
    const plugged: NetworkInventory['ports'] = [];
    for (const port of ports) {
      const kind = port.externalIds['stratus-kind'];
      const networkId = port.externalIds['stratus-network-id'];
      const routerId = port.externalIds['stratus-router-id'];
      if (kind === 'dhcp' || kind === 'host-gateway') if (networkId) networks.add(networkId);
      if (routerId) routers.add(routerId);
      if (port.name.startsWith('tap') && UUID_PREFIX.test(port.name.slice(3)))
        plugged.push({ tapName: port.name, portIdPrefix: port.name.slice(3) });
    }
    // Namespaces are host-wide (other bridges have theirs too): a DHCP or router namespace is
    // known here through its folder in this state folder or its legs on this bridge.
    return { networks: [...networks], ports: plugged, routers: [...routers] };
  }

  async close(): Promise<void> {}

  // ---- shared steps ----

  /**
   * A veth whose `outer` end is on the bridge with VLAN `vlan` and unfiltered flows; registers
   * undos for what it creates.
   */
  private async plugVeth(
    revert: Reverter,
    outer: string,
    inner: string,
    namespace: string | null,
    mtu: number,
    mac: string | null,
    vlan: number,
    ids: Record<string, string>,
  ): Promise<void> {
    if (await ensureVeth(outer, inner, namespace, mtu, mac)) revert.add(() => deleteLink(outer));
    const plugged = await this.bridge.ports().then((ports) => ports.some((p) => p.name === outer));
    await this.bridge.vsctl([
      ['--may-exist', 'add-port', this.bridge.name, outer],
      ['set', 'Port', outer, `tag=${vlan}`],
      ['set', 'Interface', outer, ...externalIds(ids)],
    ]);
    if (!plugged) revert.add(() => this.unplug(outer));
    const ofport = await this.bridge.ofport(outer);
    const cookie = portCookie(outer);
    await this.bridge.replaceFlows(cookie, unfilteredPortFlows(cookie, ofport, vlan));
  }

  /** Removes a bridge port, its flows and its interface (a veth takes its peer along). */
  private async unplug(portName: string): Promise<void> {
    await this.bridge.vsctl([['--if-exists', 'del-port', this.bridge.name, portName]]);
    await this.bridge.deleteFlows(portCookie(portName));
    this.bridge.forget(portName);
    await deleteLink(portName);
  }

  private networkDir(networkId: string): string {
    return path.join(this.stateDir, 'networks', networkId);
  }

  private routerDir(routerId: string): string {
    return path.join(this.stateDir, 'routers', routerId);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch {
    return [];
  }
}
