import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindServerPorts } from '../../resolvers/networks/server-ports';
import { rawId } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import {
  allRows,
  createNetwork,
  createPort,
  createSubnet,
  eventually,
  fakeDriver,
  made,
  mutate,
  SUBNET_FIELDS,
} from './networks-support';

/** Networks, subnets and ports through the API: defaults, IPAM, DHCP port, and every bad input. */

let s: TestStratus;
let member: SeededUser;

beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
});
afterAll(() => s?.stop());

describe('networks and subnets', () => {
  it('reports the network driver in the catalog', async () => {
    const data = await s.ok(
      '{ catalog { domains drivers { kind implementation healthy } } }',
      {},
      member.token,
    );
    // Every domain with an API so far, stacks (Heat) among them.
    expect(data.catalog.domains).toEqual(
      expect.arrayContaining(['compute', 'networks', 'volumes', 'metering', 'baremetal', 'stacks']),
    );
    expect(data.catalog.drivers).toContainEqual({
      kind: 'network',
      implementation: 'fake',
      healthy: true,
    });
  });

  it('creates a network with a VLAN segment, a subnet with default gateway and pools, and a DHCP port', async () => {
    const net = await createNetwork(s, member.token, { name: 'blue' });
    expect(net).toMatchObject({
      name: 'blue',
      status: 'ACTIVE',
      shared: false,
      external: false,
      mtu: 1500,
    });
    const subnet = await createSubnet(s, member.token, {
      networkId: net.id,
      cidr: '10.1.0.0/24',
      dnsNameservers: ['10.1.0.53'],
    });
    expect(subnet).toMatchObject({
      cidr: '10.1.0.0/24',
      ipVersion: 4,
      gatewayIp: '10.1.0.1',
      enableDhcp: true,
      allocationPools: [{ start: '10.1.0.2', end: '10.1.0.254' }],
    });
    const v6 = await createSubnet(s, member.token, { networkId: net.id, cidr: 'FD00:0:0:1::/64' });
    expect(v6).toMatchObject({ cidr: 'fd00:0:0:1::/64', ipVersion: 6, gatewayIp: 'fd00:0:0:1::1' });
    // The admin sees the segment; the driver got the network with its DHCP port on both subnets.
    const admin = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Network { segmentationId } } }`,
      { id: net.id },
      s.adminToken,
    );
    expect(admin.node.segmentationId).toBeGreaterThanOrEqual(100);
    const spec = await eventually(() => {
      const got = fakeDriver(s).networks.get(rawId(net.id));
      expect(got?.dhcpPort?.fixedIps).toHaveLength(2);
      return got!;
    });
    expect(spec.segmentationId).toBe(admin.node.segmentationId);
    expect(spec.dhcpPort!.fixedIps.map((f) => f.ip).sort()).toEqual(['10.1.0.2', 'fd00:0:0:1::2']);
    expect(spec.subnets.map((x) => x.cidr).sort()).toEqual(['10.1.0.0/24', 'fd00:0:0:1::/64']);
  });

  it('gives distinct segments to networks created at once', async () => {
    const nets = await Promise.all(Array.from({ length: 8 }, () => createNetwork(s, member.token)));
    const { rows } = await s.stratus.runtime.pool.query(
      'select segmentation_id from networks where id = any($1)',
      [nets.map((n) => rawId(n.id))],
    );
    expect(new Set(rows.map((r) => r.segmentation_id)).size).toBe(8);
  });

  it('refuses bad subnets with a typed error naming the field, writing nothing', async () => {
    const net = await createNetwork(s, member.token);
    await createSubnet(s, member.token, { networkId: net.id, cidr: '10.9.0.0/24' });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ cidr: 'nonsense' }, 'input.cidr'],
      [{ cidr: '10.0.0.0/33' }, 'input.cidr'],
      [{ cidr: '10.0.0.1/24' }, 'input.cidr'],
      [{ cidr: '10.9.0.128/25' }, 'input.cidr'],
      [{ cidr: '10.8.0.0/24', ipVersion: 6 }, 'input.ipVersion'],
      [{ cidr: '10.8.0.0/24', gatewayIp: '10.7.0.1' }, 'input.gatewayIp'],
      [{ cidr: '10.8.0.0/24', gatewayIp: '10.8.0.255' }, 'input.gatewayIp'],
      [
        { cidr: '10.8.0.0/24', allocationPools: [{ start: '10.8.1.10', end: '10.8.1.20' }] },
        'input.allocationPools.0.start',
      ],
      [
        { cidr: '10.8.0.0/24', allocationPools: [{ start: '10.8.0.20', end: '10.8.0.10' }] },
        'input.allocationPools.0.start',
      ],
      [
        { cidr: '10.8.0.0/24', allocationPools: [{ start: '10.8.0.1', end: '10.8.0.10' }] },
        'input.allocationPools.0',
      ],
      [
        {
          cidr: '10.8.0.0/24',
          allocationPools: [
            { start: '10.8.0.10', end: '10.8.0.20' },
            { start: '10.8.0.15', end: '10.8.0.30' },
          ],
        },
        'input.allocationPools.1',
      ],
      [{ cidr: '10.8.0.0/24', dnsNameservers: ['x'] }, 'input.dnsNameservers.0'],
      [
        { cidr: '10.8.0.0/24', hostRoutes: [{ destination: 'fd00::/64', nexthop: '10.8.0.1' }] },
        'input.hostRoutes.0.destination',
      ],
    ];
    const before = await allRows(s);
    for (const [input, field] of cases) {
      const payload = await mutate(
        s,
        member.token,
        'createSubnet',
        { networkId: net.id, ...input },
        'subnet',
        SUBNET_FIELDS,
      );
      expect(payload.__typename, JSON.stringify(input)).toBe('InvalidInputError');
      expect(payload.field, JSON.stringify(payload)).toBe(field);
    }
    expect(await allRows(s)).toEqual(before);
  });

  it('takes a null gateway and explicit pools', async () => {
    const net = await createNetwork(s, member.token);
    const subnet = await createSubnet(s, member.token, {
      networkId: net.id,
      cidr: '192.168.5.0/24',
      gatewayIp: null,
      allocationPools: [{ start: '192.168.5.100', end: '192.168.5.110' }],
      enableDhcp: false,
    });
    expect(subnet).toMatchObject({
      gatewayIp: null,
      allocationPools: [{ start: '192.168.5.100', end: '192.168.5.110' }],
    });
  });
});

describe('ports and IPAM', () => {
  let netId: string;
  let subnetId: string;
  beforeAll(async () => {
    netId = (await createNetwork(s, member.token)).id;
    subnetId = (await createSubnet(s, member.token, { networkId: netId, cidr: '10.20.0.0/24' })).id;
  });

  it('creates a port with a generated MAC, an address from the pool and the default group', async () => {
    const payload = await createPort(s, member.token, { networkId: netId, name: 'p1' });
    expect(payload.__typename).toBe('CreatePortSuccess');
    const port = payload.port;
    expect(port.macAddress).toMatch(/^fa:16:3e(:[0-9a-f]{2}){3}$/);
    expect(port.status).toBe('DOWN');
    expect(port.fixedIps).toHaveLength(1);
    expect(port.fixedIps[0].subnet.id).toBe(subnetId);
    expect(port.fixedIps[0].ipAddress).toMatch(/^10\.20\.0\.\d+$/);
    expect(port.securityGroups.map((g: { name: string }) => g.name)).toEqual(['default']);
    // Bound to a host, the DHCP server learns it (an unbound port is on no segment yet).
    const serverId = randomUUID();
    await made(s, member.token, 'updatePort', { id: port.id, name: 'p1' }, 'port');
    await s.stratus.runtime.pool.query(
      "update ports set device_id = $1, device_owner = 'compute:nova' where id = $2",
      [serverId, rawId(port.id)],
    );
    await bindServerPorts(s.stratus.runtime.db, serverId, s.config.compute.hostname);
    await eventually(() => {
      const hosts = fakeDriver(s).networks.get(rawId(netId))?.hosts ?? [];
      expect(hosts.map((h) => h.mac)).toContain(port.macAddress);
    });
  });

  it('gives a requested address, and refuses it when taken or outside the subnet', async () => {
    const first = await createPort(s, member.token, {
      networkId: netId,
      fixedIps: [{ ipAddress: '10.20.0.150' }],
    });
    expect(first.port.fixedIps[0].ipAddress).toBe('10.20.0.150');
    const before = await allRows(s);
    const taken = await createPort(s, member.token, {
      networkId: netId,
      fixedIps: [{ subnetId, ipAddress: '10.20.0.150' }],
    });
    expect(taken).toMatchObject({
      __typename: 'IpAddressInUseError',
      ip: '10.20.0.150',
      field: 'input.fixedIps.0.ipAddress',
    });
    const outside = await createPort(s, member.token, {
      networkId: netId,
      fixedIps: [{ subnetId, ipAddress: '10.21.0.5' }],
    });
    expect(outside).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.fixedIps.0.ipAddress',
    });
    const nowhere = await createPort(s, member.token, {
      networkId: netId,
      fixedIps: [{ ipAddress: '172.16.0.5' }],
    });
    expect(nowhere).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.fixedIps.0.ipAddress',
    });
    const takenMac = await createPort(s, member.token, {
      networkId: netId,
      macAddress: first.port.macAddress.toUpperCase(),
    });
    expect(takenMac.__typename).toBe('ConflictError');
    const badMac = await createPort(s, member.token, {
      networkId: netId,
      macAddress: '01:00:5e:00:00:01',
    });
    expect(badMac).toMatchObject({ __typename: 'InvalidInputError', field: 'input.macAddress' });
    const groupsWithoutSecurity = await createPort(s, member.token, {
      networkId: netId,
      portSecurityEnabled: false,
      securityGroupIds: [],
      allowedAddressPairs: [{ ipAddress: '10.20.0.99' }],
    });
    expect(groupsWithoutSecurity).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.allowedAddressPairs',
    });
    expect(await allRows(s)).toEqual(before);
  });

  it('updates fixed IPs, port security and address pairs; releases addresses on delete', async () => {
    const { port } = await createPort(s, member.token, {
      networkId: netId,
      fixedIps: [{ ipAddress: '10.20.0.200' }],
    });
    const updated = await made(
      s,
      member.token,
      'updatePort',
      {
        id: port.id,
        name: 'renamed',
        fixedIps: [{ ipAddress: '10.20.0.201' }],
        securityGroupIds: [],
        portSecurityEnabled: false,
      },
      'port',
      'name portSecurityEnabled securityGroups { id } fixedIps { ipAddress }',
    );
    expect(updated).toEqual({
      name: 'renamed',
      portSecurityEnabled: false,
      securityGroups: [],
      fixedIps: [{ ipAddress: '10.20.0.201' }],
    });
    // 10.20.0.200 is free again.
    const again = await createPort(s, member.token, {
      networkId: netId,
      fixedIps: [{ ipAddress: '10.20.0.200' }],
    });
    expect(again.__typename).toBe('CreatePortSuccess');
    await made(s, member.token, 'deletePort', { id: port.id }, 'port');
    const reuse = await createPort(s, member.token, {
      networkId: netId,
      fixedIps: [{ ipAddress: '10.20.0.201' }],
    });
    expect(reuse.__typename).toBe('CreatePortSuccess');
  });

  it('refuses to delete a network with ports or a subnet with allocations, and the DHCP port', async () => {
    const net = await createNetwork(s, member.token);
    const subnet = await createSubnet(s, member.token, { networkId: net.id, cidr: '10.30.0.0/28' });
    const { port } = await createPort(s, member.token, { networkId: net.id });
    const before = await allRows(s);
    const netDelete = await mutate(
      s,
      member.token,
      'deleteNetwork',
      { id: net.id },
      'network',
      'id',
    );
    expect(netDelete.__typename).toBe('NetworkInUseError');
    const subnetDelete = await mutate(
      s,
      member.token,
      'deleteSubnet',
      { id: subnet.id },
      'subnet',
      'id',
    );
    expect(subnetDelete.__typename).toBe('SubnetInUseError');
    const { ports } = await s.ok(
      `query($n: ID!) { ports(filter: { networkId: $n, deviceOwner: "network:dhcp" }) { edges { node { id } } } }`,
      { n: net.id },
      member.token,
    );
    const dhcp = await mutate(
      s,
      member.token,
      'deletePort',
      { id: ports.edges[0].node.id },
      'port',
      'id',
    );
    expect(dhcp.__typename).toBe('PortOwnedError');
    expect(await allRows(s)).toEqual(before);
    // Without the port, the subnet and then the network go (the DHCP port with them).
    await made(s, member.token, 'deletePort', { id: port.id }, 'port');
    await made(s, member.token, 'deleteSubnet', { id: subnet.id }, 'subnet');
    await made(s, member.token, 'deleteNetwork', { id: net.id }, 'network');
    await eventually(() => expect(fakeDriver(s).networks.has(rawId(net.id))).toBe(false));
  });
});

describe('without a network driver', () => {
  it('still serves the API (database work) and says why nothing is plugged', async () => {
    const apiOnly = await startTestStratus({
      network: { ...s.config.network, driver: 'none', driverConfig: {} },
    });
    try {
      const user = await new Seed(apiOnly).member('member');
      const net = await createNetwork(apiOnly, user.token);
      await createSubnet(apiOnly, user.token, { networkId: net.id, cidr: '10.99.0.0/24' });
      const port = await createPort(apiOnly, user.token, { networkId: net.id });
      expect(port.__typename).toBe('CreatePortSuccess');
      const data = await apiOnly.ok(
        '{ catalog { drivers { kind implementation healthy detail } } }',
        {},
        user.token,
      );
      expect(data.catalog.drivers).toContainEqual({
        kind: 'network',
        implementation: null,
        healthy: false,
        detail: 'STRATUS_NETWORK_DRIVER is none on this process',
      });
    } finally {
      await apiOnly.stop();
    }
  });
});
