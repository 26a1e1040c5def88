import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetworkDriver, RouterSpec } from '../../drivers/network/types';
import { fixedIp, networkSpec, portSpec, randomMac } from './driver-ovs-support';

/**
 * What every network driver does, whatever it drives (drivers/network/types.ts): ensure* is
 * idempotent, list() reports what was ensured under the ids the service gave, deletes remove
 * it and succeed for unknown ids, a tap is named `tap` + 11 characters of the port id and
 * deletePort takes that prefix (the reconciler only has it).
 */
export function describeNetworkDriverConformance(
  title: string,
  setup: () => Promise<{ driver: NetworkDriver; teardown(): Promise<void> }>,
  options: { skip?: boolean } = {},
): void {
  describe.skipIf(options.skip ?? false)(title, () => {
    let driver: NetworkDriver;
    let teardown: () => Promise<void>;

    beforeAll(async () => {
      ({ driver, teardown } = await setup());
    }, 120_000);

    afterAll(async () => {
      await teardown?.();
    }, 60_000);

    it('describes itself', () => {
      const info = driver.info();
      expect(['ovs', 'fake']).toContain(info.name);
      for (const key of ['securityGroups', 'dhcp', 'routers'] as const)
        expect(typeof info.capabilities[key]).toBe('boolean');
    });

    it('ensures, lists and deletes a network, idempotently', async () => {
      const net = networkSpec('10.95.1', 951);
      await driver.ensureNetwork(net);
      await driver.ensureNetwork(net);
      expect((await driver.list()).networks).toContain(net.networkId);
      await driver.deleteNetwork(net.networkId);
      expect((await driver.list()).networks).not.toContain(net.networkId);
      await driver.deleteNetwork(net.networkId);
      await driver.deleteNetwork(randomUUID());
    });

    it('plugs a port under tap<id[:11]>, lists it by prefix and unplugs it by that prefix', async () => {
      const net = networkSpec('10.95.2', 952, [], { dhcpPort: null });
      const port = portSpec(net, '10.95.2.10');
      const expected = {
        portId: port.portId,
        tapName: `tap${port.portId.slice(0, 11)}`,
        mac: port.mac,
      };
      expect(await driver.ensurePort(port)).toEqual(expected);
      expect(await driver.ensurePort(port)).toEqual(expected);
      expect((await driver.list()).ports).toContainEqual({
        tapName: expected.tapName,
        portIdPrefix: port.portId.slice(0, 11),
      });
      await driver.deletePort(port.portId.slice(0, 11));
      expect((await driver.list()).ports.map((p) => p.tapName)).not.toContain(expected.tapName);
      await driver.deletePort(port.portId);
      await driver.deletePort(randomUUID());
    });

    it('ensures, lists and deletes a router, idempotently', async () => {
      const net = networkSpec('10.95.3', 953, [], { dhcpPort: null });
      await driver.ensureNetwork(net);
      const router: RouterSpec = {
        routerId: randomUUID(),
        adminStateUp: true,
        interfaces: [
          {
            portId: randomUUID(),
            networkId: net.networkId,
            segmentationId: net.segmentationId,
            mtu: net.mtu,
            mac: randomMac(),
            fixedIp: fixedIp(net.subnets[0].subnetId, '10.95.3.1'),
          },
        ],
        gateway: null,
        floatingIps: [],
      };
      await driver.ensureRouter(router);
      await driver.ensureRouter(router);
      expect((await driver.list()).routers).toContain(router.routerId);
      await driver.deleteRouter(router.routerId);
      expect((await driver.list()).routers).not.toContain(router.routerId);
      await driver.deleteRouter(router.routerId);
      await driver.deleteNetwork(net.networkId);
    });
  });
}
