import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeteringPollers } from '../../workers/metering/pollers';
import { rawId } from '../support/compute';
import type { Subscription, TestStratus } from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import { QemuGuest } from '../support/qemu-guest';
import { availableVolume, volumeAct } from '../volume/volumes-support';

/**
 * Meters of a real QEMU (TCG) guest read by the compute poller. The guest idles until a
 * volume is attached (the trigger: its user data waits for /dev/vdb), then keeps its vCPU busy
 * and writes to vdb every 2 s: cpu_util rises from its idle figure in the stored series and
 * in a live subscription, memory.usage is the process's RSS, and vdb's counters grow. Thresholds are loose (TCG on a shared, loaded machine);
 * nothing depends on wall-clock time.
 */

const skipReason = qemuSkipReason();
const title = skipReason
  ? `metering of a real guest (skipped: ${skipReason})`
  : 'metering of a real QEMU guest';

/** Idle until a volume appears as vdb; then a busy vCPU and 2 MiB written to vdb every 2 s. */
const BUSY_SCRIPT = `#!/bin/sh
until [ -b /dev/vdb ]; do sleep 1; done
echo busy
while :; do :; done &
while :; do dd if=/dev/zero of=/dev/vdb bs=64k count=32 2>/dev/null; sync; sleep 2; done
`;

describe.skipIf(skipReason !== null)(title, () => {
  const guest = new QemuGuest();
  let s: TestStratus;
  let token: string;
  let serverId: string;
  let pollers: MeteringPollers;
  let live: Subscription | null = null;

  beforeAll(async () => {
    await guest.start(
      { metering: { intervalMs: 0 } },
      { name: 'busy', flavorPrefix: 'meter', userData: BUSY_SCRIPT },
    );
    ({ s, token, serverId } = guest);
    const rt = s.stratus.runtime;
    pollers = new MeteringPollers({
      db: rt.db,
      pool: rt.pool,
      logger: rt.logger,
      intervalMs: 0,
      compute: rt.compute,
      volume: rt.volume,
    });
  }, 20 * 60_000);

  afterAll(async () => {
    live?.close();
    await pollers?.stop();
    await guest.stop();
  }, 300_000);

  async function latest(meter: string, type: string, id: string): Promise<number | undefined> {
    const { rows } = await s.stratus.runtime.pool.query(
      `select s.value from metering_samples s join metering_series m on m.id = s.series_id
        where m.meter = $1 and m.resource_type = $2 and m.resource_id = $3
        order by s.ts desc limit 1`,
      [meter, type, id],
    );
    return rows[0] ? Number(rows[0].value) : undefined;
  }

  /** Polls every second until `check` holds, for up to 3 minutes. */
  async function pollUntil(check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 180_000;
    for (;;) {
      await pollers.pollOnce();
      if (await check()) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  async function consoleText(): Promise<string> {
    const data = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Server { consoleOutput } } }`,
      { id: serverId },
      token,
    );
    return data.node.consoleOutput ?? '';
  }

  const utilOf = async (id: string) => (await latest('cpu_util', 'server', id)) ?? -1;
  let idle = 0;

  it('an idle guest: memory.usage is its RSS, cpu_util low', async () => {
    const id = rawId(serverId);
    // Booted: the guest prints its disks every 2 s once its init ran.
    await pollUntil(async () => (await consoleText()).includes('STRATUS-BLOCK:'), 'the boot');
    const readings: number[] = [];
    await pollUntil(async () => {
      const util = await latest('cpu_util', 'server', id);
      if (util !== undefined) readings.push(util);
      return readings.length >= 4;
    }, 'four idle cpu_util readings');
    idle = Math.min(...readings.slice(-3));
    expect(idle).toBeLessThan(50);
    expect(await latest('cpu', 'server', id)).toBeGreaterThan(0);
    // RSS of a 256 MiB TCG guest: above zero, not above the flavor plus QEMU's own share.
    const rss = await latest('memory.usage', 'server', id);
    expect(rss).toBeGreaterThan(0);
    expect(rss).toBeLessThan(256 + 512);
    expect(await latest('memory', 'server', id)).toBe(256);
    expect(await latest('disk.device.read.bytes', 'server_disk', `${id}/vda`)).toBeGreaterThan(0);
  }, 300_000);

  it('once busy, cpu_util rises in a live subscription and in the stored series (Server.metrics)', async () => {
    const id = rawId(serverId);
    live = s.subscribe(
      `subscription($ids: [String!]!) { metrics(resourceType: "server", resourceIds: $ids,
        meters: ["cpu_util"]) { meter resourceId value } }`,
      { ids: [serverId] },
      token,
    );
    const volumeId = await availableVolume(s, token, { sizeGib: 1, name: 'metered' });
    const { operation } = await volumeAct(s, token, 'attachVolume', 'AttachVolumeInput', {
      volumeId,
      serverId,
    });
    expect(operation.status).toBe('SUCCEEDED');
    await pollUntil(
      async () => (await consoleText()).includes('STRATUS-SCRIPT busy'),
      'the guest to start its busy loop',
    );
    const busy = Math.max(40, idle + 20);
    await pollUntil(
      async () => live!.values.some((v) => v.data?.metrics.value > busy),
      `a live cpu_util sample above ${busy} % (idle: ${idle})`,
    );
    for (const v of live.values) expect(v.data.metrics).toMatchObject({ resourceId: id });
    // The stored series, through the API (Server.metrics), as the member sees it.
    const now = Date.now();
    const data = await s.ok(
      `query($id: ID!, $from: DateTime!, $to: DateTime!) { node(id: $id) { ... on Server {
        metrics(meter: "cpu_util", from: $from, to: $to, granularity: 10, aggregation: MAX) {
          points { timestamp value } } } } }`,
      {
        id: serverId,
        from: new Date(now - 600_000).toISOString(),
        to: new Date(now + 10_000).toISOString(),
      },
      token,
    );
    const points: { value: number }[] = data.node.metrics.points;
    expect(Math.max(...points.map((p) => p.value))).toBeGreaterThan(busy);
    expect(await utilOf(id)).toBeGreaterThan(idle);
  }, 400_000);

  it('disk counters of the attached volume grow as the guest writes to it', async () => {
    const id = rawId(serverId);
    let first = 0;
    await pollUntil(async () => {
      first = (await latest('disk.device.write.bytes', 'server_disk', `${id}/vdb`)) ?? 0;
      return first >= 2 * 1024 * 1024;
    }, 'vdb to have 2 MiB written');
    await pollUntil(
      async () =>
        ((await latest('disk.device.write.bytes', 'server_disk', `${id}/vdb`)) ?? 0) > first,
      'vdb writes to grow',
    );
    expect(await latest('disk.device.write.requests', 'server_disk', `${id}/vdb`)).toBeGreaterThan(
      0,
    );
    // The server's totals include vda and vdb.
    expect(await latest('disk.write.bytes', 'server', id)).toBeGreaterThanOrEqual(first);
  }, 400_000);
});
