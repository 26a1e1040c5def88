import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IpAddressInUseError,
  NetworkNotFoundError,
  PortNotFoundError,
} from '../../resolvers/networks/errors';
import {
  bindServerPorts,
  createServerPorts,
  portSpecsForServer,
  releaseServerPorts,
  serverAddresses,
} from '../../resolvers/networks/server-ports';
import { inTransaction, type ServiceContext } from '../../resolvers/runtime';
import { authenticate, serviceContext } from '../../server/context';
import { rawId } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import {
  createNetwork,
  createPort,
  createSubnet,
  eventually,
  fakeDriver,
  made,
  rows,
} from './networks-support';

/** The functions compute uses: ports for createServer, binding, release on delete, addresses. */

let s: TestStratus;
let member: SeededUser;
let ctx: ServiceContext;
let netId: string;

beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
  const rt = s.stratus.runtime;
  ctx = serviceContext(rt, await authenticate(rt, `Bearer ${member.token}`), '127.0.0.1', s.url);
  netId = (await createNetwork(s, member.token, { name: 'app' })).id;
  await createSubnet(s, member.token, { networkId: netId, cidr: '10.40.0.0/24' });
});
afterAll(() => s?.stop());

const project = () => rawId(member.projectId);

describe('server ports', () => {
  it('creates and claims ports in the caller transaction, binds them, gives addresses and releases them as Nova does', async () => {
    const serverId = randomUUID();
    const given = await createPort(s, member.token, {
      networkId: netId,
      name: 'mine',
      fixedIps: [{ ipAddress: '10.40.0.77' }],
    });
    const ports = await inTransaction(ctx.rt, (tx) =>
      createServerPorts(tx, ctx, {
        projectId: project(),
        serverId,
        requests: [
          { networkId: rawId(netId), fixedIp: '10.40.0.5' },
          { portId: rawId(given.port.id) },
        ],
      }),
    );
    expect(ports.map((p) => p.deviceOwner)).toEqual(['compute:nova', 'compute:nova']);
    expect(ports.every((p) => p.deviceId === serverId)).toBe(true);
    const specs = await portSpecsForServer(ctx.rt.db, serverId);
    expect(specs.map((p) => p.fixedIps.map((f) => f.ip))).toEqual([['10.40.0.5'], ['10.40.0.77']]);
    await bindServerPorts(ctx.rt.db, serverId, s.config.compute.hostname);
    await eventually(() => {
      for (const p of ports) expect(fakeDriver(s).ports.has(p.id)).toBe(true);
    });
    const addresses = (await serverAddresses(ctx.rt.db, [serverId])).get(serverId);
    expect(addresses).toEqual([
      {
        networkId: rawId(netId),
        networkName: 'app',
        addresses: [
          { ip: '10.40.0.5', version: 4, mac: ports[0].macAddress, type: 'fixed' },
          { ip: '10.40.0.77', version: 4, mac: ports[1].macAddress, type: 'fixed' },
        ],
      },
    ]);
    await inTransaction(ctx.rt, (tx) => releaseServerPorts(tx, serverId));
    // The port it created is gone, the one it was given is kept, unbound; both unplugged.
    const left = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Port { deviceId deviceOwner status } } }`,
      { id: given.port.id },
      member.token,
    );
    expect(left.node).toEqual({ deviceId: '', deviceOwner: '', status: 'DOWN' });
    const { rows: gone } = await ctx.rt.pool.query(
      'select count(*) as n from ports where id = $1',
      [ports[0].id],
    );
    expect(Number(gone[0].n)).toBe(0);
    await eventually(() => {
      for (const p of ports) expect(fakeDriver(s).ports.has(p.id)).toBe(false);
    });
  });

  it('names the failing request: unknown network, unknown port, taken address; nothing written', async () => {
    const before = await rows(s, 'ports');
    const attempt = (requests: Parameters<typeof createServerPorts>[2]['requests']) =>
      inTransaction(ctx.rt, (tx) =>
        createServerPorts(tx, ctx, { projectId: project(), serverId: randomUUID(), requests }),
      ).then(
        () => null,
        (error: unknown) => error,
      );
    const net = await attempt([{ networkId: rawId(netId) }, { networkId: randomUUID() }]);
    expect(net).toBeInstanceOf(NetworkNotFoundError);
    expect((net as NetworkNotFoundError).field).toBe('input.networks.1.networkId');
    const port = await attempt([{ portId: randomUUID() }]);
    expect(port).toBeInstanceOf(PortNotFoundError);
    expect((port as PortNotFoundError).field).toBe('input.networks.0.portId');
    await made(
      s,
      member.token,
      'createPort',
      { networkId: netId, fixedIps: [{ ipAddress: '10.40.0.9' }] },
      'port',
    );
    const taken = await attempt([{ networkId: rawId(netId), fixedIp: '10.40.0.9' }]);
    expect(taken).toBeInstanceOf(IpAddressInUseError);
    expect((taken as IpAddressInUseError).field).toBe('input.networks.0.fixedIps.0.ipAddress');
    expect(await rows(s, 'ports')).toBe(before + 1);
  });
});
