import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { querySeries } from '../../resolvers/metering/series';
import { MeteringPollers } from '../../workers/metering/pollers';
import { createNetwork, createPort, createSubnet, mutate } from '../network/networks-support';
import { emptyDisk, rawId, uploadImage } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';
import { activeServer, flavor } from '../support/servers';

/**
 * The metering pollers on the fake compute driver, the file volume driver and the database:
 * rounds run by hand (`pollOnce`, the process's own timer is off) so every figure is known.
 */

let s: TestStratus;
let seed: Seed;
let imageId: string;
let flavorId: string;
const pollers: MeteringPollers[] = [];

function newPollers(): MeteringPollers {
  const rt = s.stratus.runtime;
  const p = new MeteringPollers({
    db: rt.db,
    pool: rt.pool,
    logger: rt.logger,
    intervalMs: 0,
    compute: rt.compute,
    volume: rt.volume,
  });
  pollers.push(p);
  return p;
}

/** The last raw sample of a series, or undefined. */
async function latest(meter: string, type: string, id: string): Promise<number | undefined> {
  const { rows } = await s.stratus.runtime.pool.query(
    `select s.value from metering_samples s join metering_series m on m.id = s.series_id
      where m.meter = $1 and m.resource_type = $2 and m.resource_id = $3
      order by s.ts desc limit 1`,
    [meter, type, id],
  );
  return rows[0] ? Number(rows[0].value) : undefined;
}

/** A round of every pollers made so far that still run: exactly one polls the DB kinds. */
async function pollAll(): Promise<number> {
  let holders = 0;
  for (const p of pollers) if ((await p.pollOnce()).polledDbKinds) holders++;
  return holders;
}

async function gapsOf(type: string, id: string): Promise<{ meter: string; reason: string }[]> {
  const { rows } = await s.stratus.runtime.pool.query(
    `select m.meter, g.reason from metering_gaps g join metering_series m on m.id = g.series_id
      where m.resource_type = $1 and m.resource_id = $2 order by m.meter`,
    [type, id],
  );
  return rows;
}

beforeAll(async () => {
  s = await startTestStratus({ metering: { intervalMs: 0 } });
  seed = new Seed(s);
  flavorId = await flavor(s, { vcpus: 2, ramMib: 256, rootDiskGib: 1 });
  imageId = await uploadImage(
    s,
    s.adminToken,
    { name: 'metered-disk', diskFormat: 'raw', visibility: 'public' },
    emptyDisk(),
  );
});
afterAll(async () => {
  for (const p of pollers) await p.stop();
  await s?.stop();
});

describe('compute poller (fake driver)', () => {
  it('records cpu, cpu_util from two readings, memory and disk counters of each server', async () => {
    const member = await seed.member('member');
    const id = rawId(
      await activeServer(s, member.token!, {
        name: 'busy',
        imageId,
        flavorId,
        metadata: { 'fake:cpu_load': '0.5' },
      }),
    );
    const p = newPollers();
    const first = await p.pollOnce();
    expect(first.samples).toBeGreaterThan(0);
    expect(await latest('cpu_util', 'server', id)).toBeUndefined();
    await sleep(1200);
    await p.pollOnce();

    // The fake guest keeps half of its vCPUs busy: cpu_util near 50 %.
    const util = await latest('cpu_util', 'server', id);
    expect(util).toBeGreaterThan(40);
    expect(util).toBeLessThan(60);
    expect(await latest('cpu', 'server', id)).toBeGreaterThan(0);
    expect(await latest('vcpus', 'server', id)).toBe(2);
    expect(await latest('memory', 'server', id)).toBe(256);
    expect(await latest('memory.usage', 'server', id)).toBeGreaterThan(0);
    expect(await latest('disk.device.read.bytes', 'server_disk', `${id}/vda`)).toBeGreaterThan(0);
    expect(await latest('disk.read.bytes', 'server', id)).toBe(
      await latest('disk.device.read.bytes', 'server_disk', `${id}/vda`),
    );
    expect(await gapsOf('server', id)).toEqual([]);

    // Through the store's query, at the finest granularity.
    const now = new Date();
    const points = await querySeries(s.stratus.runtime.db, {
      meter: 'cpu_util',
      resourceType: 'server',
      resourceIds: [id],
      from: new Date(now.getTime() - 60_000),
      to: new Date(now.getTime() + 10_000),
      granularity: 10,
      aggregation: 'max',
    });
    expect(points.length).toBeGreaterThan(0);
    expect(Math.max(...points.map((pt) => pt.value))).toBeGreaterThan(40);
  });

  it('a server whose counters cannot be read gets gaps with the reason, not silence', async () => {
    const member = await seed.member('member');
    const id = rawId(
      await activeServer(s, member.token!, { name: 'vanishing', imageId, flavorId }),
    );
    // The instance disappears behind Stratus's back; the database still says it runs.
    await s.stratus.runtime.compute!.driver.destroy(id);
    const round = await newPollers().pollOnce();
    expect(round.gaps).toBeGreaterThanOrEqual(11);
    const gaps = await gapsOf('server', id);
    expect(gaps.map((g) => g.meter)).toEqual(
      expect.arrayContaining(['cpu', 'cpu_util', 'memory.usage', 'disk.read.bytes']),
    );
    for (const g of gaps) expect(g.reason).toMatch(/reading the server's counters failed: .*/);
    expect(gaps[0].reason).toContain(id);
    // The API shows the gap with its reason on the server's series.
    const data = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Server {
        metrics(meter: "cpu") { points { value } gaps { reason } } } } }`,
      { id: encodeGlobalID('Server', id) },
      member.token!,
    );
    expect(data.node.metrics.points).toEqual([]);
    expect(data.node.metrics.gaps).toEqual([{ reason: gaps[0].reason }]);
    // What the database knows is still recorded.
    expect(await latest('vcpus', 'server', id)).toBe(2);
    expect(await latest('cpu', 'server', id)).toBeUndefined();
  });
});

describe('database-derived meters', () => {
  it('counts ports per network, image size, container bytes and project totals', async () => {
    const member = await seed.member('member');
    const t = member.token!;
    const net = await createNetwork(s, t, { name: 'metered-net' });
    const port = await createPort(s, t, { networkId: net.id });
    expect(port.__typename).toBe('CreatePortSuccess');
    const container = await s.ok(
      `mutation { createContainer(input: { name: "metered" }) { __typename } }`,
      {},
      t,
    );
    expect(container.createContainer.__typename).toBe('CreateContainerSuccess');
    await activeServer(s, t, { name: 'counted', imageId, flavorId });
    // A floating IP taken from an external network (admin's), held by the member.
    const external = await createNetwork(s, s.adminToken, { name: 'public', external: true });
    await createSubnet(s, s.adminToken, {
      networkId: external.id,
      cidr: '203.0.113.0/24',
      enableDhcp: false,
    });
    const fip = await mutate(
      s,
      t,
      'createFloatingIp',
      { floatingNetworkId: external.id },
      'floatingIp',
      'id',
    );
    expect(fip.__typename).toBe('CreateFloatingIpSuccess');

    expect(await pollAll()).toBe(1);
    expect(await latest('network.ports', 'network', rawId(net.id))).toBe(1);
    expect(await latest('network.floating_ips', 'network', rawId(net.id))).toBe(0);
    expect(await latest('network.floating_ips', 'network', rawId(external.id))).toBe(1);
    // The floating IP's own port counts on the external network.
    expect(await latest('network.ports', 'network', rawId(external.id))).toBe(1);
    expect(await latest('image.size', 'image', rawId(imageId))).toBe(emptyDisk().length);
    const { rows } = await s.stratus.runtime.pool.query(
      `select id from containers where project_id = $1 and name = 'metered'`,
      [rawId(member.projectId)],
    );
    expect(await latest('storage.objects', 'container', rows[0].id)).toBe(0);
    expect(await latest('storage.objects.size', 'container', rows[0].id)).toBe(0);
    const project = rawId(member.projectId);
    expect(await latest('project.instances', 'project', project)).toBe(1);
    expect(await latest('project.vcpus', 'project', project)).toBe(2);
    expect(await latest('project.memory', 'project', project)).toBe(256);
  });

  it('volumes: size from the database, allocated bytes from the file driver', async () => {
    const member = await seed.member('member');
    const data = await s.ok(
      `mutation { createVolume(input: { name: "metered", sizeGib: 1 }) {
        __typename ... on CreateVolumeSuccess { started { volume { id } } } } }`,
      {},
      member.token!,
    );
    const volumeId = rawId(data.createVolume.started.volume.id);
    for (let i = 0; i < 100; i++) {
      const { rows } = await s.stratus.runtime.pool.query(
        'select status from volumes where id = $1',
        [volumeId],
      );
      if (rows[0]?.status === 'available') break;
      await sleep(100);
    }
    expect(await pollAll()).toBe(1);
    expect(await latest('volume.size', 'volume', volumeId)).toBe(1);
    const allocated = await latest('volume.allocated', 'volume', volumeId);
    expect(allocated).toBeGreaterThan(0);
    expect(allocated).toBeLessThan(1024 ** 3);
  });

  it('a volume whose data cannot be read gets a gap for volume.allocated, with the reason', async () => {
    const member = await seed.member('member');
    const data = await s.ok(
      `mutation { createVolume(input: { name: "lost", sizeGib: 1 }) {
        __typename ... on CreateVolumeSuccess { started { volume { id } } } } }`,
      {},
      member.token!,
    );
    const volumeId = rawId(data.createVolume.started.volume.id);
    for (let i = 0; i < 100; i++) {
      const { rows } = await s.stratus.runtime.pool.query(
        'select status from volumes where id = $1',
        [volumeId],
      );
      if (rows[0]?.status === 'available') break;
      await sleep(100);
    }
    // The backend loses the data behind Stratus's back.
    const { path } = await s.stratus.runtime.volume!.driver.connectionInfo(volumeId);
    await fs.rm(path);
    await pollAll();
    // One gap per pollers instance of this test process (each runs the volume backend's poller).
    const gaps = await gapsOf('volume', volumeId);
    expect(gaps).toHaveLength(pollers.length);
    for (const g of gaps) {
      expect(g).toEqual({
        meter: 'volume.allocated',
        reason: expect.stringMatching(/reading the volume's usage failed: .+/),
      });
    }
    expect(await latest('volume.allocated', 'volume', volumeId)).toBeUndefined();
    // Its size still comes from the database.
    expect(await latest('volume.size', 'volume', volumeId)).toBe(1);
  });

  it('only the process holding the advisory lock polls them, and another takes over', async () => {
    const a = newPollers();
    const b = newPollers();
    await a.pollOnce();
    const second = await b.pollOnce();
    // An earlier test's pollers may hold it: exactly one of all of them does.
    expect(second.polledDbKinds).toBe(false);
    for (const p of pollers) if (p !== b) await p.stop();
    expect((await b.pollOnce()).polledDbKinds).toBe(true);
  });
});
