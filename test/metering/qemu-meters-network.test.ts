import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPortCounters } from '../../drivers/network/tap-stats';
import { type ComputeConfig, loadConfig, type NetworkConfig } from '../../server/config';
import { MeteringPollers } from '../../workers/metering/pollers';
import { ovsSkipReason, testBridge } from '../network/driver-ovs-support';
import { made } from '../network/networks-support';
import {
  createFlavor,
  createServer,
  qemuCompute,
  rawId,
  uploadTestGuest,
  waitForStatus,
} from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import { clearDataPath, removeRealDrivers } from '../support/real-drivers';
import { Seed } from '../support/seed';
import { deleteAndWait } from '../support/servers';

/**
 * Network meters of a real QEMU guest on an Open vSwitch network: the guest pings its
 * gateway once a second, and the counters of its port's tap (read from the guest's side: the
 * tap's rx is what the guest sent) grow, per port and summed on the server.
 */

const skipReason = qemuSkipReason() ?? ovsSkipReason();
const title = skipReason
  ? `network meters of a real guest (skipped: ${skipReason})`
  : 'network meters of a real QEMU guest on OVS';

const PINGER = `#!/bin/sh
while true; do ping -c 1 -W 1 10.77.0.1 >/dev/null 2>&1; sleep 1; done
`;

describe.skipIf(skipReason !== null)(title, () => {
  let s: TestStratus;
  let compute: ComputeConfig;
  let network: NetworkConfig;
  let token: string;
  let serverId: string;
  let portId: string;
  let pollers: MeteringPollers;

  beforeAll(async () => {
    compute = qemuCompute(loadConfig({}).compute);
    network = {
      ...loadConfig({}).network,
      driver: 'ovs',
      driverConfig: {
        bridge: testBridge(),
        stateDir: await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-ovs-')),
      },
    };
    s = await startTestStratus({ compute, network, metering: { intervalMs: 0 } });
    token = (await new Seed(s).member('member')).token!;
    const flavorId = await createFlavor(s, { name: 'net.meter', vcpus: 1, ramMib: 256 });
    const imageId = await uploadTestGuest(s, token);
    const net = await made(s, token, 'createNetwork', { name: 'metered' }, 'network');
    await made(s, token, 'createSubnet', { networkId: net.id, cidr: '10.77.0.0/24' }, 'subnet');
    portId = (await made(s, token, 'createPort', { networkId: net.id }, 'port')).id;
    const payload = await createServer(s, token, {
      name: 'pinger',
      imageId,
      flavorId,
      networks: [{ portId }],
      userData: PINGER,
    });
    expect(payload.__typename, JSON.stringify(payload)).toBe('CreateServerSuccess');
    serverId = payload.created.server.id;
    await waitForStatus(s, token, serverId, 'ACTIVE', 180_000);
    const rt = s.stratus.runtime;
    pollers = new MeteringPollers({
      db: rt.db,
      pool: rt.pool,
      logger: rt.logger,
      intervalMs: 0,
      compute: rt.compute,
      volume: null,
    });
  }, 20 * 60_000);

  afterAll(async () => {
    await pollers?.stop();
    if (s) {
      if (serverId) await deleteAndWait(s, token, serverId).catch(() => {});
      await clearDataPath(s);
      await s.stop();
    }
    await removeRealDrivers(compute, network);
  }, 600_000);

  async function latest(meter: string, type: string, id: string): Promise<number> {
    const { rows } = await s.stratus.runtime.pool.query(
      `select s.value from metering_samples s join metering_series m on m.id = s.series_id
        where m.meter = $1 and m.resource_type = $2 and m.resource_id = $3
        order by s.ts desc limit 1`,
      [meter, type, id],
    );
    return rows[0] ? Number(rows[0].value) : -1;
  }

  async function pollUntil(check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 180_000;
    for (;;) {
      await pollers.pollOnce();
      if (await check()) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  it("the port's packet and byte counters grow as the guest sends", async () => {
    const port = rawId(portId);
    const server = rawId(serverId);
    let sent = 0;
    await pollUntil(async () => {
      sent = await latest('network.outgoing.packets', 'port', port);
      return sent > 0;
    }, 'outgoing packets on the port');
    await pollUntil(
      async () => (await latest('network.outgoing.packets', 'port', port)) > sent + 2,
      'more outgoing packets (the guest pings every second)',
    );
    expect(await latest('network.outgoing.bytes', 'port', port)).toBeGreaterThan(0);
    // The guest got its DHCP lease: something came in too.
    await pollUntil(
      async () => (await latest('network.incoming.packets', 'port', port)) > 0,
      'incoming packets on the port',
    );
    // The port's tap on the host (OVS naming), read now, is at least what was stored.
    const now = await readPortCounters(port);
    expect(now.outgoingPackets).toBeGreaterThanOrEqual(
      await latest('network.outgoing.packets', 'port', port),
    );
    // The server's figures are the sum of its one port's.
    expect(await latest('network.outgoing.packets', 'server', server)).toBeGreaterThan(0);
  }, 400_000);
});
