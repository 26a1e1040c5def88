import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, rawId, waitForStatus } from '../support/compute';
import type { Json, TestStratus } from '../support/harness';
import type { SeededUser } from '../support/seed';
import { deleteAndWait, startComputeTestbed } from '../support/servers';
import {
  allRows,
  createNetwork,
  createPort,
  createSubnet,
  eventually,
  fakeDriver,
} from './networks-support';

/**
 * Servers with NICs on the fake compute and network drivers: createServer takes networks or
 * ports, the build plugs them on its host before spawning, Server.addresses shows them, delete
 * gives back what the server created and keeps what it was given, and every bad NIC is a typed
 * error that writes nothing.
 */

let s: TestStratus;
let member: SeededUser & { token: string };
let other: SeededUser & { token: string };
let imageId: string;
let flavorId: string;

const ADDRESSES = 'addresses { networkId networkName addresses { ip version macAddress type } }';

beforeAll(async () => {
  const bed = await startComputeTestbed();
  s = bed.s;
  imageId = bed.imageId;
  flavorId = bed.flavorId;
  member = scoped(await bed.seed.member('member'));
  other = scoped(await bed.seed.member('member'));
});
afterAll(() => s?.stop());

function scoped(user: SeededUser): SeededUser & { token: string } {
  if (!user.token) throw new Error('a member has a scoped token');
  return { ...user, token: user.token };
}

async function serverWithAddresses(id: string, token = member.token): Promise<Json> {
  return (
    await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Server { id status ${ADDRESSES} } } }`,
      { id },
      token,
    )
  ).node;
}

async function portOf(id: string): Promise<Json> {
  return (
    await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Port { id status deviceId deviceOwner fixedIps { ipAddress } } } }`,
      { id },
      member.token,
    )
  ).node;
}

describe('servers on networks', () => {
  it('boots with a new port on a network and a given port, in order, plugged before the spawn', async () => {
    const net = await createNetwork(s, member.token, { name: 'app' });
    await createSubnet(s, member.token, { networkId: net.id, cidr: '10.20.0.0/24' });
    const given = await createPort(s, member.token, {
      networkId: net.id,
      fixedIps: [{ ipAddress: '10.20.0.50' }],
    });
    expect(given.__typename).toBe('CreatePortSuccess');
    const created = await createServer(s, member.token, {
      name: 'nic-server',
      imageId,
      flavorId,
      networks: [{ networkId: net.id, fixedIp: '10.20.0.10' }, { portId: given.port.id }],
    });
    expect(created.__typename, JSON.stringify(created)).toBe('CreateServerSuccess');
    const serverId = created.created.server.id;
    await waitForStatus(s, member.token, serverId, 'ACTIVE');

    const server = await serverWithAddresses(serverId);
    expect(server.addresses).toHaveLength(1);
    expect(server.addresses[0]).toMatchObject({ networkId: net.id, networkName: 'app' });
    expect(server.addresses[0].addresses.map((a: Json) => a.ip)).toEqual([
      '10.20.0.10',
      '10.20.0.50',
    ]);
    expect(server.addresses[0].addresses.every((a: Json) => a.type === 'fixed')).toBe(true);

    // Both ports are bound to the server, plugged on the host and ACTIVE.
    const driver = fakeDriver(s);
    const { rows } = await s.stratus.runtime.pool.query(
      'select id, status, binding_host, created_for_server from ports where device_id = $1 order by device_index',
      [rawId(serverId)],
    );
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.binding_host).toBe(s.stratus.runtime.compute!.hostname);
      await eventually(() => expect(driver.ports.has(row.id)).toBe(true));
    }
    await eventually(async () => expect((await portOf(given.port.id)).status).toBe('ACTIVE'));
    expect(rows.map((r) => r.created_for_server)).toEqual([true, false]);

    // The DHCP server of the network knows both MACs with their addresses.
    await eventually(() => {
      const hosts = driver.networks.get(rawId(net.id))?.hosts ?? [];
      const ips = hosts.flatMap((h) => h.fixedIps.map((f) => f.ip));
      expect(ips).toEqual(expect.arrayContaining(['10.20.0.10', '10.20.0.50']));
    });

    // Delete: the port the server made is gone (tap too), the given one is kept and unbound.
    const before = await allRows(s);
    await deleteAndWait(s, member.token, serverId);
    await eventually(() => expect(driver.ports.has(rows[0].id)).toBe(false));
    const kept = await portOf(given.port.id);
    expect(kept).toMatchObject({ deviceId: '', deviceOwner: '', status: 'DOWN' });
    expect(kept.fixedIps).toEqual([{ ipAddress: '10.20.0.50' }]);
    const after = await allRows(s);
    expect(after.ports).toBe(before.ports - 1);
    expect(after.ip_allocations).toBe(before.ip_allocations - 1);
  });

  it('refuses bad NICs with typed errors naming the entry, leaving nothing', async () => {
    const net = await createNetwork(s, member.token, { name: 'tight' });
    await createSubnet(s, member.token, { networkId: net.id, cidr: '10.21.0.0/24' });
    const theirs = await createNetwork(s, other.token, { name: 'theirs' });
    const taken = await createPort(s, member.token, {
      networkId: net.id,
      fixedIps: [{ ipAddress: '10.21.0.7' }],
    });
    const before = await allRows(s);
    const { rows: serversBefore } = await s.stratus.runtime.pool.query(
      'select count(*)::int as n from servers',
    );
    const cases: [Record<string, unknown>[], string, string | null][] = [
      [[{ networkId: theirs.id }], 'NetworkNotFoundError', 'input.networks.0.networkId'],
      [
        [{ networkId: net.id }, { networkId: net.id, fixedIp: '10.21.0.7' }],
        'IpAddressInUseError',
        'input.networks.1',
      ],
      [[{ networkId: net.id, fixedIp: '10.99.0.1' }], 'InvalidInputError', 'input.networks.0'],
      [[{ portId: net.id }], 'InvalidInputError', 'input.networks.0.portId'],
      [[{ networkId: net.id, portId: taken.port.id }], 'InvalidInputError', 'input.networks.0'],
    ];
    for (const [networks, typename, field] of cases) {
      const payload = await createServer(s, member.token, {
        name: 'bad-nic',
        imageId,
        flavorId,
        networks,
      });
      expect(payload.__typename, JSON.stringify(payload)).toBe(typename);
      if (field) expect(payload.field ?? payload.message).toContain(field);
    }
    // A port already used by a server cannot be given to another one.
    const first = await createServer(s, member.token, {
      name: 'holder',
      imageId,
      flavorId,
      networks: [{ portId: taken.port.id }],
    });
    expect(first.__typename).toBe('CreateServerSuccess');
    const second = await createServer(s, member.token, {
      name: 'thief',
      imageId,
      flavorId,
      networks: [{ portId: taken.port.id }],
    });
    expect(second.__typename).toBe('ConflictError');
    await waitForStatus(s, member.token, first.created.server.id, 'ACTIVE');
    await deleteAndWait(s, member.token, first.created.server.id);
    const after = await allRows(s);
    expect(after).toEqual(before);
    const { rows: serversAfter } = await s.stratus.runtime.pool.query(
      'select count(*)::int as n from servers where vm_state <> $1',
      ['deleted'],
    );
    expect(serversAfter[0].n).toBeLessThanOrEqual(serversBefore[0].n);
  });

  it("hides another project's server addresses and refuses its ports", async () => {
    const net = await createNetwork(s, member.token, { name: 'private' });
    await createSubnet(s, member.token, { networkId: net.id, cidr: '10.22.0.0/24' });
    const port = await createPort(s, member.token, { networkId: net.id });
    const payload = await createServer(s, other.token, {
      name: 'borrow',
      imageId,
      flavorId,
      networks: [{ portId: port.port.id }],
    });
    expect(payload.__typename).toBe('PortNotFoundError');
    const mine = await createServer(s, member.token, {
      name: 'mine',
      imageId,
      flavorId,
      networks: [{ networkId: net.id }],
    });
    const id = mine.created.server.id;
    await waitForStatus(s, member.token, id, 'ACTIVE');
    expect(await serverWithAddresses(id, other.token)).toBeNull();
    expect((await serverWithAddresses(id)).addresses[0].addresses).toHaveLength(1);
    await deleteAndWait(s, member.token, id);
  });
});
