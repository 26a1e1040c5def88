import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
} from './networks-support';

/** Routers (interfaces, external gateway) and floating IPs, and what the L3 data path is told. */

let s: TestStratus;
let member: SeededUser;
let externalId: string;

beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
  const external = await createNetwork(s, s.adminToken, { name: 'public', external: true });
  externalId = external.id;
  await createSubnet(s, s.adminToken, {
    networkId: externalId,
    cidr: '203.0.113.0/24',
    enableDhcp: false,
  });
});
afterAll(() => s?.stop());

const ROUTER =
  'id name externalGatewayInfo { network { id } enableSnat externalFixedIps { ipAddress } } interfaces { id fixedIps { ipAddress } }';
const FIP = 'id floatingIpAddress fixedIpAddress status port { id } router { id }';

describe('routers and floating IPs', () => {
  it('only admins make external networks; members see them but cannot put ports on them', async () => {
    const refused = await mutate(
      s,
      member.token,
      'createNetwork',
      { external: true },
      'network',
      'id',
    );
    expect(refused.__typename).toBe('ForbiddenError');
    const { networks } = await s.ok(
      '{ networks(filter: { external: true }) { edges { node { id } } } }',
      {},
      member.token,
    );
    expect(networks.edges.map((e: { node: { id: string } }) => e.node.id)).toContain(externalId);
    const port = await createPort(s, member.token, { networkId: externalId });
    expect(port.__typename).toBe('ForbiddenError');
  });

  it('routes a subnet to the outside with SNAT and a floating IP with DNAT', async () => {
    const net = await createNetwork(s, member.token);
    const subnet = await createSubnet(s, member.token, { networkId: net.id, cidr: '10.70.0.0/24' });
    const { port } = await createPort(s, member.token, {
      networkId: net.id,
      fixedIps: [{ ipAddress: '10.70.0.20' }],
    });

    // Without a router, the floating IP cannot reach the port.
    const before = await allRows(s);
    const early = await mutate(
      s,
      member.token,
      'createFloatingIp',
      { floatingNetworkId: externalId, portId: port.id },
      'floatingIp',
      'id',
    );
    expect(early.__typename).toBe('ExternalGatewayForFloatingIpNotFoundError');
    expect(await allRows(s)).toEqual(before);

    const router = await made(
      s,
      member.token,
      'createRouter',
      { name: 'r1', externalGatewayInfo: { networkId: externalId } },
      'router',
      ROUTER,
    );
    expect(router.externalGatewayInfo).toMatchObject({
      network: { id: externalId },
      enableSnat: true,
    });
    expect(router.externalGatewayInfo.externalFixedIps[0].ipAddress).toMatch(/^203\.0\.113\.\d+$/);
    const added = await made(
      s,
      member.token,
      'addRouterInterface',
      { routerId: router.id, subnetId: subnet.id },
      'routerInterface',
      'port { id fixedIps { ipAddress } deviceOwner }',
    );
    expect(added.port).toMatchObject({
      deviceOwner: 'network:router_interface',
      fixedIps: [{ ipAddress: '10.70.0.1' }],
    });

    // A subnet is on one router at most.
    const second = await made(s, member.token, 'createRouter', { name: 'r2' }, 'router', 'id');
    const twice = await mutate(
      s,
      member.token,
      'addRouterInterface',
      { routerId: second.id, subnetId: subnet.id },
      'routerInterface',
      'router { id }',
    );
    expect(twice.__typename).toBe('ConflictError');

    const fip = await made(
      s,
      member.token,
      'createFloatingIp',
      { floatingNetworkId: externalId, portId: port.id },
      'floatingIp',
      FIP,
    );
    expect(fip).toMatchObject({
      fixedIpAddress: '10.70.0.20',
      status: 'ACTIVE',
      port: { id: port.id },
      router: { id: router.id },
    });
    const spec = await eventually(() => {
      const got = fakeDriver(s).routers.get(rawId(router.id));
      expect(got?.floatingIps).toHaveLength(1);
      return got!;
    });
    expect(spec.gateway).toMatchObject({
      enableSnat: true,
      nexthop: '203.0.113.1',
      fixedIp: { ip: router.externalGatewayInfo.externalFixedIps[0].ipAddress, prefixLength: 24 },
    });
    expect(spec.interfaces).toMatchObject([{ fixedIp: { ip: '10.70.0.1', prefixLength: 24 } }]);
    expect(spec.floatingIps).toEqual([
      { floatingIpId: rawId(fip.id), floatingIp: fip.floatingIpAddress, fixedIp: '10.70.0.20' },
    ]);
    // The external network tells the host its gateway address.
    await eventually(() =>
      expect(fakeDriver(s).networks.get(rawId(externalId))?.hostGateway).toEqual({
        ip: '203.0.113.1',
        prefixLength: 24,
      }),
    );

    // Changing only the description keeps the association.
    const described = await made(
      s,
      member.token,
      'updateFloatingIp',
      { id: fip.id, description: 'web' },
      'floatingIp',
      FIP,
    );
    expect(described).toMatchObject({
      status: 'ACTIVE',
      port: { id: port.id },
      fixedIpAddress: '10.70.0.20',
    });
    // The interface cannot go while the floating IP uses it; disassociating frees it.
    const busy = await mutate(
      s,
      member.token,
      'removeRouterInterface',
      { routerId: router.id, subnetId: subnet.id },
      'routerInterface',
      'router { id }',
    );
    expect(busy.__typename).toBe('ConflictError');
    const off = await made(
      s,
      member.token,
      'updateFloatingIp',
      { id: fip.id, portId: null },
      'floatingIp',
      FIP,
    );
    expect(off).toMatchObject({ status: 'DOWN', port: null, fixedIpAddress: null });
    await eventually(() =>
      expect(fakeDriver(s).routers.get(rawId(router.id))?.floatingIps).toEqual([]),
    );
    await made(
      s,
      member.token,
      'removeRouterInterface',
      { routerId: router.id, subnetId: subnet.id },
      'routerInterface',
      'router { id }',
    );
    await made(s, member.token, 'deleteFloatingIp', { id: fip.id }, 'floatingIp');
    await made(s, member.token, 'deleteRouter', { id: router.id }, 'router');
    await eventually(() => expect(fakeDriver(s).routers.has(rawId(router.id))).toBe(false));
  });

  it('reconciles on start: unknown objects are removed from the host, known ones ensured again', async () => {
    const driver = fakeDriver(s);
    const net = await createNetwork(s, member.token);
    await eventually(() => expect(driver.networks.has(rawId(net.id))).toBe(true));
    driver.networks.delete(rawId(net.id));
    await driver.ensureNetwork({
      networkId: '00000000-0000-4000-8000-000000000000',
      segmentationId: 9,
      mtu: 1500,
      subnets: [],
      dhcpPort: null,
      hosts: [],
      hostGateway: null,
    });
    await driver.ensureRouter({
      routerId: '00000000-0000-4000-8000-000000000001',
      adminStateUp: true,
      interfaces: [],
      gateway: null,
      floatingIps: [],
    });
    const result = await s.stratus.runtime.network!.reconcile();
    expect(result.removed).toBe(2);
    expect(driver.networks.has('00000000-0000-4000-8000-000000000000')).toBe(false);
    expect(driver.routers.has('00000000-0000-4000-8000-000000000001')).toBe(false);
    expect(driver.networks.has(rawId(net.id))).toBe(true);
  });
});
