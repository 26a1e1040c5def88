import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadComputeDriver } from '../../drivers/compute/index';
import { type ComputeConfig, loadConfig, type NetworkConfig } from '../../server/config';
import {
  createFlavor,
  createServer,
  qemuCompute,
  rawId,
  uploadTestGuest,
  waitForStatus,
} from '../support/compute';
import {
  createTestDatabase,
  dropTestDatabase,
  startTestStratus,
  type TestStratus,
} from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import { hostPings } from '../support/real-drivers';
import { Seed } from '../support/seed';
import { deleteAndWait } from '../support/servers';
import { linkExists, namespaces, ovsSkipReason, testBridge } from './driver-ovs-support';
import { made } from './networks-support';

/**
 * Networking end to end through the API only, on real QEMU (TCG), Open vSwitch and dnsmasq:
 * servers created with ports get those ports' addresses by DHCP, reach each other through the
 * security groups' conntrack flows, lose and regain that when a rule goes and comes back, are
 * out of another tenant's reach on the same CIDR, answer the host on a floating IP through a
 * router, and keep all of it across a restart of Stratus. Guests report on their console
 * (test/guest/README.md): `STRATUS-ADDR eth0 <ip>` for the DHCP lease and, from the user-data
 * script below, a `STRATUS-SCRIPT ping-ok|ping-fail <peer>` line every second.
 */

const skipReason = qemuSkipReason() ?? ovsSkipReason();
const skip = skipReason !== null;
const title = skip
  ? `servers on OVS networks (skipped: ${skipReason})`
  : 'servers on OVS networks through the API';

const WAIT = 180_000;
const STEP = 600_000;

/** A guest that pings `peer` once a second forever, printing the outcome. */
const pinger = (peer: string) => `#!/bin/sh
while true; do
  if ping -c 1 -W 1 ${peer} >/dev/null 2>&1; then echo "ping-ok ${peer}"; else echo "ping-fail ${peer}"; fi
  sleep 1
done
`;

describe.skipIf(skip)(title, () => {
  let s: TestStratus;
  let databaseUrl: string;
  let objectsRoot: string;
  let compute: ComputeConfig;
  let network: NetworkConfig;
  let token: string;
  let otherToken: string;
  let flavorId: string;
  let imageId: string;
  let otherImageId: string;
  let stopped = false;
  const serverIds: { id: string; token: () => string }[] = [];
  let a: string;
  let b: string;
  let c: string;
  let ruleId: string;
  let groupId: string;
  let floatingIp: string;

  async function start(): Promise<TestStratus> {
    return startTestStratus(
      {
        compute,
        network,
        objects: { ...loadConfig({}).objects, driverConfig: { root: objectsRoot } },
      },
      databaseUrl,
    );
  }

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    objectsRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-objects-'));
    compute = qemuCompute(loadConfig({}).compute);
    network = {
      ...loadConfig({}).network,
      driver: 'ovs',
      driverConfig: {
        bridge: testBridge(),
        stateDir: await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-ovs-')),
      },
    };
    s = await start();
    expect(s.stratus.runtime.network?.driver.info().name).toBe('ovs');
    const seed = new Seed(s);
    token = (await seed.member('member')).token!;
    otherToken = (await seed.member('member')).token!;
    flavorId = await createFlavor(s, { name: 'net.small', vcpus: 1, ramMib: 256 });
    imageId = await uploadTestGuest(s, token);
    otherImageId = await uploadTestGuest(s, otherToken);
  }, 15 * 60_000);

  afterAll(async () => {
    // Servers first (through the API while it runs), so their ports and taps go the normal way.
    if (s && !stopped) {
      for (const { id, token: t } of serverIds) await deleteAndWait(s, t(), id).catch(() => {});
      // Then what the data path has of this file (namespaces, dnsmasq, veths in the host's own
      // namespace): the bridge's removal alone would leave those.
      const driver = s.stratus.runtime.network?.driver;
      if (driver) {
        const left = await driver.list();
        for (const id of left.routers) await driver.deleteRouter(id);
        for (const id of left.networks) await driver.deleteNetwork(id);
        const ids = [...left.routers, ...left.networks];
        expect(namespaces().filter((ns) => ids.some((id) => ns.endsWith(id)))).toEqual([]);
      }
      await s.stop();
    }
    if (compute) {
      const d = await loadComputeDriver('qemu', compute.driverConfig);
      for (const id of await d.list({ all: true })) await d.destroy(id);
      await d.close();
      await fs.rm(String(compute.driverConfig.stateDir), { recursive: true, force: true });
    }
    if (network) {
      const stateDir = String(network.driverConfig.stateDir);
      // The bridge with its ports (the taps went with their servers and ports above).
      execFileSync('ovs-vsctl', ['--if-exists', 'del-br', String(network.driverConfig.bridge)]);
      await fs.rm(stateDir, { recursive: true, force: true });
    }
    if (databaseUrl) await dropTestDatabase(databaseUrl);
    if (objectsRoot) await fs.rm(objectsRoot, { recursive: true, force: true });
  }, STEP);

  async function until<T>(probe: () => Promise<T | undefined | null | false>, what: string) {
    const deadline = Date.now() + WAIT;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${WAIT} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  async function consoleOf(id: string, t = token): Promise<string> {
    const data = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Server { consoleOutput } } }`,
      { id },
      t,
    );
    return data.node.consoleOutput ?? '';
  }

  const count = (text: string, needle: string) => text.split(needle).length - 1;

  /** Waits until `needle` appears on the console more often than it did (`seen` times). */
  async function more(id: string, needle: string, seen: number, t = token): Promise<number> {
    return until(async () => {
      const n = count(await consoleOf(id, t), needle);
      return n > seen ? n : undefined;
    }, `a new "${needle}" on the console of ${id}`);
  }

  async function boot(name: string, t: string, portId: string, userData?: string): Promise<string> {
    const payload = await createServer(s, t, {
      name,
      imageId: t === token ? imageId : otherImageId,
      flavorId,
      networks: [{ portId }],
      ...(userData ? { userData } : {}),
    });
    expect(payload.__typename, JSON.stringify(payload)).toBe('CreateServerSuccess');
    const id = payload.created.server.id;
    serverIds.push({ id, token: () => (t === token ? token : otherToken) });
    await waitForStatus(s, t, id, 'ACTIVE', WAIT);
    return id;
  }

  it(
    'gives each guest its port address by DHCP and lets them ping through the security group',
    async () => {
      // Admin: the external network, whose gateway address the host itself takes.
      const ext = await made(
        s,
        s.adminToken,
        'createNetwork',
        { name: 'public', external: true, shared: true },
        'network',
      );
      await made(
        s,
        s.adminToken,
        'createSubnet',
        { networkId: ext.id, cidr: '172.31.30.0/24', enableDhcp: false },
        'subnet',
      );
      // Member: a network, a group allowing ICMP in, a router to the outside, two ports.
      const net = await made(s, token, 'createNetwork', { name: 'app' }, 'network');
      const subnet = await made(
        s,
        token,
        'createSubnet',
        { networkId: net.id, cidr: '10.30.0.0/24' },
        'subnet',
      );
      const group = await made(
        s,
        token,
        'createSecurityGroup',
        { name: 'pingable' },
        'securityGroup',
      );
      groupId = group.id;
      const rule = await made(
        s,
        token,
        'createSecurityGroupRule',
        { securityGroupId: group.id, direction: 'INGRESS', protocol: 'icmp' },
        'securityGroupRule',
      );
      ruleId = rule.id;
      const router = await made(
        s,
        token,
        'createRouter',
        { name: 'edge', externalGatewayInfo: { networkId: ext.id } },
        'router',
      );
      await made(
        s,
        token,
        'addRouterInterface',
        { routerId: router.id, subnetId: subnet.id },
        'routerInterface',
        'router { id }',
      );
      const port = (ip: string) =>
        made(
          s,
          token,
          'createPort',
          { networkId: net.id, fixedIps: [{ ipAddress: ip }], securityGroupIds: [group.id] },
          'port',
          'id macAddress',
        );
      const pa = await port('10.30.0.11');
      const pb = await port('10.30.0.12');
      a = await boot('ping-a', token, pa.id, pinger('10.30.0.12'));
      b = await boot('ping-b', token, pb.id, pinger('10.30.0.11'));

      // DHCP gave each guest exactly its port's address.
      await until(
        async () => (await consoleOf(a)).includes('STRATUS-ADDR eth0 10.30.0.11'),
        'A lease',
      );
      await until(
        async () => (await consoleOf(b)).includes('STRATUS-ADDR eth0 10.30.0.12'),
        'B lease',
      );
      await more(a, 'ping-ok 10.30.0.12', 0);
      await more(b, 'ping-ok 10.30.0.11', 0);

      // The floating IP: the host reaches A through the router's DNAT.
      const fip = await made(
        s,
        token,
        'createFloatingIp',
        { floatingNetworkId: ext.id, portId: pa.id },
        'floatingIp',
        'floatingIpAddress',
      );
      floatingIp = fip.floatingIpAddress;
      await until(
        async () => hostPings(floatingIp),
        `the host pinging the floating IP ${floatingIp}`,
      );
      const addresses = await s.ok(
        `query($id: ID!) { node(id: $id) { ... on Server { addresses { networkName addresses { ip type } } } } }`,
        { id: a },
        token,
      );
      expect(addresses.node.addresses).toEqual([
        {
          networkName: 'app',
          addresses: [
            { ip: '10.30.0.11', type: 'fixed' },
            { ip: floatingIp, type: 'floating' },
          ],
        },
      ]);
    },
    STEP,
  );

  it(
    'cuts the pings when the ICMP rule goes and restores them when it comes back',
    async () => {
      await made(s, token, 'deleteSecurityGroupRule', { id: ruleId }, 'securityGroupRule');
      const fails = count(await consoleOf(a), 'ping-fail 10.30.0.12');
      // Two failures after the change: the first may have been in flight.
      await more(a, 'ping-fail 10.30.0.12', fails + 1);
      expect(hostPings(floatingIp)).toBe(false);
      const rule = await made(
        s,
        token,
        'createSecurityGroupRule',
        { securityGroupId: groupId, direction: 'INGRESS', protocol: 'icmp' },
        'securityGroupRule',
      );
      ruleId = rule.id;
      const oks = count(await consoleOf(a), 'ping-ok 10.30.0.12');
      await more(a, 'ping-ok 10.30.0.12', oks);
      await until(async () => hostPings(floatingIp), 'the floating IP answering again');
    },
    STEP,
  );

  it(
    "keeps another tenant's guest on the same CIDR out of reach",
    async () => {
      const net = await made(s, otherToken, 'createNetwork', { name: 'theirs' }, 'network');
      await made(
        s,
        otherToken,
        'createSubnet',
        { networkId: net.id, cidr: '10.30.0.0/24' },
        'subnet',
      );
      // Their default group lets ICMP out; A's group lets ICMP in from anywhere.
      const pc = await made(
        s,
        otherToken,
        'createPort',
        { networkId: net.id, fixedIps: [{ ipAddress: '10.30.0.13' }] },
        'port',
      );
      c = await boot('intruder', otherToken, pc.id, pinger('10.30.0.11'));
      await until(
        async () => (await consoleOf(c, otherToken)).includes('STRATUS-ADDR eth0 10.30.0.13'),
        'C lease',
      );
      await more(c, 'ping-fail 10.30.0.11', 2, otherToken);
      expect(count(await consoleOf(c, otherToken), 'STRATUS-SCRIPT ping-ok')).toBe(0);
      // Meanwhile A still reaches B.
      const oks = count(await consoleOf(a), 'ping-ok 10.30.0.12');
      await more(a, 'ping-ok 10.30.0.12', oks);
    },
    STEP,
  );

  it(
    'keeps networking across a restart of Stratus, and removes taps with their servers',
    async () => {
      stopped = true;
      await s.stop();
      s = await start();
      stopped = false;
      const oks = count(await consoleOf(a), 'ping-ok 10.30.0.12');
      await more(a, 'ping-ok 10.30.0.12', oks);
      await until(async () => hostPings(floatingIp), 'the floating IP after the restart');
      const { rows } = await s.stratus.runtime.pool.query(
        'select id, status from ports where device_id = any($1)',
        [[a, b, c].map(rawId)],
      );
      expect(rows.map((r) => r.status)).toEqual(['ACTIVE', 'ACTIVE', 'ACTIVE']);
      // Deleting C: its port was given, so the port stays (unbound) but its tap goes.
      const { rows: cPorts } = await s.stratus.runtime.pool.query(
        'select id from ports where device_id = $1',
        [rawId(c)],
      );
      expect(cPorts).toHaveLength(1);
      const tap = `tap${String(cPorts[0].id).slice(0, 11)}`;
      expect(linkExists(tap)).toBe(true);
      await deleteAndWait(s, otherToken, c);
      serverIds.splice(
        serverIds.findIndex((x) => x.id === c),
        1,
      );
      await until(async () => !linkExists(tap), `tap ${tap} removed`);
      const { rows: kept } = await s.stratus.runtime.pool.query(
        'select device_id, binding_host from ports where id = $1',
        [cPorts[0].id],
      );
      expect(kept).toEqual([{ device_id: '', binding_host: null }]);
    },
    STEP,
  );
});
