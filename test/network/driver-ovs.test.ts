import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DriverUnavailableError } from '../../drivers/errors';
import { InvalidNetworkSpecError, OvsNetworkDriver } from '../../drivers/network/ovs/index';
import type { NetworkSpec, PortSpec, RouterSpec } from '../../drivers/network/types';
import {
  fixedIp,
  linkExists,
  namespaces,
  networkSpec,
  ovsSkipReason,
  portSpec,
  processesMentioning,
  randomMac,
  sh,
  succeeds,
  testBridge,
  until,
} from './driver-ovs-support';

/**
 * The OVS driver against real Open vSwitch (userspace datapath), dnsmasq and namespaces, with
 * namespaces standing in for guests (fast); driver-ovs-guests.test.ts boots real guests.
 */

const skipReason = ovsSkipReason();
const title = skipReason ? `ovs network driver (skipped: ${skipReason})` : 'ovs network driver';

describe.skipIf(skipReason !== null)(title, () => {
  const bridge = testBridge();
  let stateDir: string;
  let driver: OvsNetworkDriver;
  const networks: NetworkSpec[] = [];
  const ports: PortSpec[] = [];
  const routers: RouterSpec[] = [];

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-ovs-'));
    driver = new OvsNetworkDriver({ bridge, stateDir });
    await driver.probe();
  }, 120_000);

  afterAll(async () => {
    if (!driver) return;
    for (const p of ports) await driver.deletePort(p.portId);
    for (const r of routers) await driver.deleteRouter(r.routerId);
    for (const n of networks) await driver.deleteNetwork(n.networkId);
    const left = await driver.list();
    execFileSync('ovs-vsctl', ['--if-exists', 'del-br', bridge]);
    await fs.rm(stateDir, { recursive: true, force: true });
    expect(left).toEqual({ networks: [], ports: [], routers: [] });
    const ids = [...networks.map((n) => n.networkId), ...routers.map((r) => r.routerId)];
    expect(namespaces().filter((ns) => ids.some((id) => ns.endsWith(id)))).toEqual([]);
    expect(ports.filter((p) => linkExists(tap(p)))).toEqual([]);
    const short = (id: string) => id.slice(0, 11);
    const links = networks.flatMap((n) => [`qhg${short(n.networkId)}`, `qdh${short(n.networkId)}`]);
    expect(links.filter(linkExists)).toEqual([]);
    expect(processesMentioning(stateDir)).toEqual([]);
  }, 60_000);

  const tap = (p: PortSpec) => `tap${p.portId.slice(0, 11)}`;
  const vsctl = (...args: string[]) => sh('ovs-vsctl', args).trim();
  const flowsOf = (cookie: string) =>
    sh('ovs-ofctl', ['-O', 'OpenFlow14', 'dump-flows', bridge, `cookie=${cookie}/-1`])
      .split('\n')
      .filter((l) => l.includes('cookie='));
  const cookieOf = async (name: string) =>
    (await import('../../drivers/network/ovs/names')).portCookie(name);

  function track<T extends NetworkSpec | PortSpec | RouterSpec>(spec: T): T {
    if ('routerId' in spec) routers.push(spec);
    else if ('portId' in spec) ports.push(spec);
    else networks.push(spec);
    return spec;
  }

  it('probe starts what is missing and is idempotent; the bridge is a secure netdev bridge', async () => {
    await driver.probe();
    expect(vsctl('get', 'Bridge', bridge, 'datapath_type')).toBe('netdev');
    expect(vsctl('get', 'Bridge', bridge, 'fail_mode')).toBe('secure');
    expect(driver.info()).toEqual({
      name: 'ovs',
      capabilities: { securityGroups: true, dhcp: true, routers: true },
    });
  });

  it('plugs a port as a tagged tap with external ids and its flows; updates and unplugs it', async () => {
    const net = networkSpec('10.91.1', 911, [], { dhcpPort: null });
    const port = track(portSpec(net, '10.91.1.20'));
    const plugged = await driver.ensurePort(port);
    expect(plugged).toEqual({ portId: port.portId, tapName: tap(port), mac: port.mac });
    expect(linkExists(tap(port))).toBe(true);
    expect(vsctl('get', 'Port', tap(port), 'tag')).toBe('911');
    expect(vsctl('get', 'Interface', tap(port), 'external_ids:iface-id')).toBe(`"${port.portId}"`);
    expect(vsctl('get', 'Interface', tap(port), 'external_ids:attached-mac')).toBe(`"${port.mac}"`);
    expect((await fs.readFile(`/sys/class/net/${tap(port)}/mtu`, 'utf8')).trim()).toBe('1450');
    const cookie = await cookieOf(tap(port));
    const flows = flowsOf(cookie);
    expect(flows.some((f) => f.includes(`nw_src=10.91.1.20`))).toBe(true);
    expect(flows.some((f) => f.includes('icmp') && f.includes('table=40'))).toBe(true);

    // Idempotent; a second call with new settings replaces tag and flows.
    await driver.ensurePort(port);
    expect(flowsOf(cookie)).toHaveLength(flows.length);
    await driver.ensurePort({ ...port, segmentationId: 912, rules: [] });
    expect(vsctl('get', 'Port', tap(port), 'tag')).toBe('912');
    expect(flowsOf(cookie).some((f) => f.includes('table=40') && f.includes('icmp'))).toBe(false);
    await driver.ensurePort({ ...port, adminStateUp: false });
    expect(vsctl('get', 'Port', tap(port), 'tag')).toBe('4095');
    await driver.ensurePort({ ...port, portSecurityEnabled: false });
    expect(flowsOf(cookie)).toHaveLength(1);

    await driver.deletePort(port.portId);
    expect(linkExists(tap(port))).toBe(false);
    expect(flowsOf(cookie)).toEqual([]);
    expect(vsctl('list-ports', bridge).split('\n')).not.toContain(tap(port));
    await driver.deletePort(port.portId);
    await driver.deletePort(randomUUID());
  });

  it('a failed ensurePort leaves no tap, no bridge port and no flows', async () => {
    const net = networkSpec('10.91.2', 913, [], { dhcpPort: null });
    // Valid for the contract, too large for a tap (its maximum is 65521): the host refuses.
    const port = portSpec(net, '10.91.2.20', { mtu: 65535 });
    await expect(driver.ensurePort(port)).rejects.toThrow(/tap/);
    expect(linkExists(tap(port))).toBe(false);
    expect(vsctl('list-ports', bridge).split('\n')).not.toContain(tap(port));
    expect(flowsOf(await cookieOf(tap(port)))).toEqual([]);
  });

  it('refuses malformed specs naming the field, before touching the host', async () => {
    const net = networkSpec('10.91.8', 920, [], { dhcpPort: null });
    const cases: [Partial<PortSpec>, string][] = [
      [{ fixedIps: [fixedIp(net.subnets[0].subnetId, 'not-an-ip')] }, 'fixedIps[0].ip'],
      [{ mac: 'fa:16:3e:00:00:01,actions=NORMAL' }, 'mac'],
      [{ segmentationId: 4095 }, 'segmentationId'],
      [{ mtu: 1_000_000 }, 'mtu'],
      [
        { allowedAddressPairs: [{ ipAddress: '10.0.0.0/99', mac: null }] },
        'allowedAddressPairs[0].ipAddress',
      ],
    ];
    for (const [overrides, field] of cases) {
      const bad = portSpec(net, '10.91.8.20', overrides);
      const err = await driver.ensurePort(bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidNetworkSpecError);
      expect((err as InvalidNetworkSpecError).field).toBe(field);
      expect(linkExists(tap(bad))).toBe(false);
    }
    const badNet = networkSpec('10.91.8', 920);
    badNet.subnets[0].gatewayIp = '10.91.8.999';
    await expect(driver.ensureNetwork(badNet)).rejects.toMatchObject({
      code: 'NETWORK_INVALID_SPEC',
      field: 'subnets[0].gatewayIp',
    });
    expect(namespaces()).not.toContain(`qdhcp-${badNet.networkId}`);
    await expect(driver.deletePort('../../etc')).rejects.toBeInstanceOf(InvalidNetworkSpecError);
  });

  it('serves DHCP with static leases from dnsmasq in qdhcp-<network>, reloaded on change', async () => {
    const net = track(networkSpec('10.91.3', 914));
    // A router leg stands in for a guest: an unfiltered interface on the network's VLAN.
    const client = { portId: randomUUID(), mac: randomMac() };
    net.hosts = [{ ...client, fixedIps: [fixedIp(net.subnets[0].subnetId, '10.91.3.33')] }];
    await driver.ensureNetwork(net);
    const ns = `qdhcp-${net.networkId}`;
    expect(namespaces()).toContain(ns);
    expect(sh('ip', ['-n', ns, '-br', 'addr'])).toContain('10.91.3.2/24');
    const dir = path.join(stateDir, 'networks', net.networkId, 'dhcp');
    const pid = Number((await fs.readFile(path.join(dir, 'pid'), 'utf8')).trim());
    expect(await fs.readFile(path.join(dir, 'host'), 'utf8')).toBe(
      `${client.mac},host-10-91-3-33,10.91.3.33\n`,
    );

    const r = track<RouterSpec>({
      routerId: randomUUID(),
      adminStateUp: true,
      interfaces: [
        {
          portId: client.portId,
          networkId: net.networkId,
          segmentationId: net.segmentationId,
          mtu: net.mtu,
          mac: client.mac,
          fixedIp: fixedIp(net.subnets[0].subnetId, '10.91.3.250'),
        },
      ],
      gateway: null,
      floatingIps: [],
    });
    await driver.ensureRouter(r);
    const qr = `qr-${client.portId.slice(0, 11)}`;
    // udhcpc reports on stderr.
    const lease = sh('sh', [
      '-c',
      `ip netns exec qrouter-${r.routerId} busybox udhcpc -i ${qr} -n -q -f -s /bin/true -t 5 -T 1 2>&1`,
    ]);
    expect(lease).toMatch(/lease of 10\.91\.3\.33 obtained/);

    // A changed host list is re-read (SIGHUP, same process); a changed subnet set restarts it.
    const other = { portId: randomUUID(), mac: randomMac() };
    net.hosts.push({ ...other, fixedIps: [fixedIp(net.subnets[0].subnetId, '10.91.3.44')] });
    await driver.ensureNetwork(net);
    expect(Number((await fs.readFile(path.join(dir, 'pid'), 'utf8')).trim())).toBe(pid);
    expect(await fs.readFile(path.join(dir, 'host'), 'utf8')).toContain('10.91.3.44');
    net.mtu = 1400;
    await driver.ensureNetwork(net);
    await until(async () => {
      const now = Number((await fs.readFile(path.join(dir, 'pid'), 'utf8')).trim());
      return now !== pid;
    }, 'a restarted dnsmasq');
    expect(await fs.readFile(path.join(dir, 'opts'), 'utf8')).toContain('option:router,10.91.3.1');

    // Without a DHCP port the namespace and dnsmasq go away.
    await driver.ensureNetwork({ ...net, dhcpPort: null });
    expect(namespaces()).not.toContain(ns);
    expect(processesMentioning(dir)).toEqual([]);
    await driver.ensureNetwork(net);
    expect(namespaces()).toContain(ns);
  });

  it('routes with NAT in qrouter-<id>: the host reaches the gateway leg, DNAT/SNAT rules are in place', async () => {
    const inner = track(networkSpec('10.91.4', 915, [], { dhcpPort: null }));
    const ext = track(
      networkSpec('172.31.91', 916, [], {
        dhcpPort: null,
        hostGateway: { ip: '172.31.91.1', prefixLength: 24 },
      }),
    );
    await driver.ensureNetwork(inner);
    await driver.ensureNetwork(ext);
    const hostGw = `qhg${ext.networkId.slice(0, 11)}`;
    expect(sh('ip', ['-br', 'addr', 'show', 'dev', hostGw])).toContain('172.31.91.1/24');
    // The host never routes what comes from that segment on to its uplinks.
    expect((await fs.readFile(`/proc/sys/net/ipv4/conf/${hostGw}/forwarding`, 'utf8')).trim()).toBe(
      '0',
    );
    const r = track<RouterSpec>({
      routerId: randomUUID(),
      adminStateUp: true,
      interfaces: [
        {
          portId: randomUUID(),
          networkId: inner.networkId,
          segmentationId: inner.segmentationId,
          mtu: inner.mtu,
          mac: randomMac(),
          fixedIp: fixedIp(inner.subnets[0].subnetId, '10.91.4.1'),
        },
      ],
      gateway: {
        portId: randomUUID(),
        networkId: ext.networkId,
        segmentationId: ext.segmentationId,
        mtu: ext.mtu,
        mac: randomMac(),
        fixedIp: fixedIp(ext.subnets[0].subnetId, '172.31.91.10'),
        nexthop: '172.31.91.1',
        enableSnat: true,
      },
      floatingIps: [
        { floatingIpId: randomUUID(), floatingIp: '172.31.91.50', fixedIp: '10.91.4.7' },
      ],
    });
    await driver.ensureRouter(r);
    await driver.ensureRouter(r);
    const ns = `qrouter-${r.routerId}`;
    await until(
      () => succeeds('busybox', ['ping', '-c1', '-W1', '172.31.91.10']),
      'the router gateway',
    );
    // The router reaches the host through its default route.
    expect(
      succeeds('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-c1', '-W1', '172.31.91.1']),
    ).toBe(true);
    const nat = sh('ip', ['netns', 'exec', ns, 'iptables-save', '-t', 'nat']);
    expect(nat).toContain('-A PREROUTING -d 172.31.91.50/32 -j DNAT --to-destination 10.91.4.7');
    expect(nat).toContain('-A POSTROUTING -s 10.91.4.7/32 -o qg-');
    expect(nat).toMatch(
      /-A POSTROUTING -s 10\.91\.4\.0\/24 -o qg-\S+ -j SNAT --to-source 172\.31\.91\.10/,
    );
    expect(sh('ip', ['-n', ns, 'route', 'show', 'default'])).toContain('via 172.31.91.1');

    // Dropping the floating IP and the gateway removes their rules and the qg leg.
    await driver.ensureRouter({ ...r, floatingIps: [], gateway: null });
    expect(sh('ip', ['netns', 'exec', ns, 'iptables-save', '-t', 'nat'])).not.toContain('DNAT');
    expect(linkExists(`qgb${r.gateway?.portId.slice(0, 11)}`)).toBe(false);
    await driver.ensureRouter(r);
  });

  it('list() reports what exists on this bridge; deleting unknown objects succeeds', async () => {
    const net = track(networkSpec('10.91.5', 917));
    await driver.ensureNetwork(net);
    const port = track(portSpec(net, '10.91.5.20'));
    await driver.ensurePort(port);
    const inventory = await driver.list();
    expect(inventory.networks).toContain(net.networkId);
    expect(inventory.ports).toContainEqual({
      tapName: tap(port),
      portIdPrefix: port.portId.slice(0, 11),
    });
    for (const r of routers) expect(inventory.routers).toContain(r.routerId);
    await driver.deleteNetwork(randomUUID());
    await driver.deleteRouter(randomUUID());
    await driver.deletePort(randomUUID());
  });

  it('what a process created outlives it: another driver instance lists it and removes it', async () => {
    const net = track(networkSpec('10.91.7', 919));
    const port = track(portSpec(net, '10.91.7.20'));
    // .mts: the temporary folder has no package.json saying "module", and the script awaits.
    const script = path.join(stateDir, 'child.mts');
    const driverModule = path.resolve('drivers/network/ovs/index.ts');
    await fs.writeFile(
      script,
      [
        `import { OvsNetworkDriver } from ${JSON.stringify(driverModule)};`,
        `const d = new OvsNetworkDriver(${JSON.stringify({ bridge, stateDir })});`,
        `await d.ensureNetwork(${JSON.stringify(net)});`,
        `await d.ensurePort(${JSON.stringify(port)});`,
        'await d.close();',
      ].join('\n'),
    );
    execFileSync(process.execPath, ['--import', 'tsx', script], { stdio: 'inherit' });
    const dir = path.join(stateDir, 'networks', net.networkId, 'dhcp');
    const pid = Number((await fs.readFile(path.join(dir, 'pid'), 'utf8')).trim());
    expect(processesMentioning(dir)).toEqual([pid]);
    const other = new OvsNetworkDriver({ bridge, stateDir });
    const inventory = await other.list();
    expect(inventory.networks).toContain(net.networkId);
    expect(inventory.ports.map((p) => p.tapName)).toContain(tap(port));
    await other.deletePort(port.portId);
    await other.deleteNetwork(net.networkId);
    expect(processesMentioning(dir)).toEqual([]);
    expect(linkExists(tap(port))).toBe(false);
  });

  it('a failed ensureNetwork leaves no namespace, veth or dnsmasq behind', async () => {
    const net = networkSpec('10.91.6', 918);
    // A multicast MAC is well-formed, but Linux refuses it for an interface.
    if (net.dhcpPort) net.dhcpPort.mac = '01:00:5e:00:00:01';
    await expect(driver.ensureNetwork(net)).rejects.toThrow();
    expect(namespaces()).not.toContain(`qdhcp-${net.networkId}`);
    expect(linkExists(`qdh${net.networkId.slice(0, 11)}`)).toBe(false);
    expect((await driver.list()).networks).not.toContain(net.networkId);
  });

  it('a failure after dnsmasq started (the host gateway step) stops it and removes the rest', async () => {
    const net = networkSpec('10.91.9', 921, [], {
      hostGateway: { ip: '10.91.9.254', prefixLength: 24 },
    });
    // Something else holds the name of the host gateway's bridge end: the step fails.
    const squatter = `qhb${net.networkId.slice(0, 11)}`;
    sh('ip', ['tuntap', 'add', 'dev', squatter, 'mode', 'tap']);
    try {
      await expect(driver.ensureNetwork(net)).rejects.toThrow();
      expect(namespaces()).not.toContain(`qdhcp-${net.networkId}`);
      expect(linkExists(`qdh${net.networkId.slice(0, 11)}`)).toBe(false);
      expect(processesMentioning(path.join(stateDir, 'networks', net.networkId))).toEqual([]);
      expect((await driver.list()).networks).not.toContain(net.networkId);
    } finally {
      sh('ip', ['link', 'del', squatter]);
    }
  });

  it('probe names what is missing when a tool is absent', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const err = await new OvsNetworkDriver({ bridge, stateDir }).probe().catch((e) => e);
      expect(err).toBeInstanceOf(DriverUnavailableError);
      expect(String(err.message)).toMatch(/missing host tools: ovs-vsctl/);
    } finally {
      process.env.PATH = saved;
    }
  });
});
