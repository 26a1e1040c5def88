import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawId } from '../support/compute';
import type { TestStratus } from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import { QemuGuest } from '../support/qemu-guest';
import { availableVolume, volumeAct } from '../volume/volumes-support';
import { createAlarm, hmac, Receiver, waitForAlarm } from './alarm-support';

/**
 * A cpu_util alarm on a real QEMU (TCG) guest, fed by the pollers running in Stratus (1 s)
 * and judged by the evaluator (500 ms): the guest keeps its vCPU busy while a volume is
 * attached (the trigger), the alarm fires and the test's receiver gets the signed POST; the
 * volume is detached, the guest's loop ends, and the alarm returns to ok with its webhook.
 * The threshold is halfway between the idle and busy figures measured first (TCG on a
 * shared machine: what "busy" reads depends on the other load).
 */

const skipReason = qemuSkipReason();
const title = skipReason
  ? `an alarm on a real guest (skipped: ${skipReason})`
  : 'an alarm on a busy real QEMU guest';

/** Busy exactly while /dev/vdb exists. */
const BUSY_WHILE_VDB = `#!/bin/sh
until [ -b /dev/vdb ]; do sleep 1; done
echo busy
while [ -b /dev/vdb ]; do :; done
echo calm
`;

describe.skipIf(skipReason !== null)(title, () => {
  const guest = new QemuGuest();
  let s: TestStratus;
  let token: string;
  let serverId: string;
  let receiver: Receiver;
  let hook: string;

  beforeAll(async () => {
    await guest.start(
      {
        metering: { intervalMs: 1000 },
        alarms: {
          evaluationIntervalMs: 500,
          webhookAllow: ['127.0.0.1'],
          webhookMaxAttempts: 5,
          webhookTimeoutMs: 5_000,
        },
      },
      { name: 'alarmed', flavorPrefix: 'alarm', userData: BUSY_WHILE_VDB },
    );
    ({ s, token, serverId } = guest);
    receiver = new Receiver();
    hook = await receiver.start();
  }, 20 * 60_000);

  afterAll(async () => {
    await receiver?.stop();
    await guest.stop();
  }, 300_000);

  async function until(check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 240_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 500));
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

  async function utilReadings(): Promise<number[]> {
    const { rows } = await s.stratus.runtime.pool.query(
      `select s.value from metering_samples s join metering_series m on m.id = s.series_id
        where m.meter = 'cpu_util' and m.resource_type = 'server' and m.resource_id = $1
        order by s.ts`,
      [rawId(serverId)],
    );
    return rows.map((r) => Number(r.value));
  }

  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;

  it(
    'fires on load with a signed webhook, and returns to ok when the load stops',
    async () => {
      await until(async () => (await consoleText()).includes('STRATUS-BLOCK:'), 'the boot');
      // Readings right after boot still carry its work: let ten pass.
      await until(async () => (await utilReadings()).length >= 12, 'idle cpu_util readings');
      const idle = median((await utilReadings()).slice(-5));

      const volumeId = await availableVolume(s, token, { sizeGib: 1, name: 'trigger' });
      const attached = await volumeAct(s, token, 'attachVolume', 'AttachVolumeInput', {
        volumeId,
        serverId,
      });
      expect(attached.operation.status).toBe('SUCCEEDED');
      await until(async () => (await consoleText()).includes('STRATUS-SCRIPT busy'), 'busy');
      // What "busy" reads depends on the machine's other load: measure it, then put the
      // threshold halfway between idle and busy.
      const start = (await utilReadings()).length;
      await until(async () => (await utilReadings()).length >= start + 10, 'busy readings');
      const busy = median((await utilReadings()).slice(-5));
      expect(busy).toBeGreaterThan(idle);
      const threshold = (idle + busy) / 2;
      const created = await createAlarm(s, token, {
        name: 'cpu high',
        meter: 'cpu_util',
        resourceType: 'server',
        resourceIds: [serverId],
        comparison: 'GT',
        threshold,
        aggregation: 'MEAN',
        granularity: 10,
        evaluationPeriods: 1,
        actions: { alarm: [`${hook}/alarm`], ok: [`${hook}/ok`] },
      });
      expect(created.__typename).toBe('CreateAlarmSuccess');
      const { alarm, webhookSecret } = created.created;

      const firing = await waitForAlarm(s, token, alarm.id, (a) => a.state === 'ALARM', 180_000);
      const transition = firing.history.edges[0].node;
      expect(transition.values[0]).toBeGreaterThan(threshold);
      const fired = (
        await receiver.waitFor((d) => d.some((x) => x.path === '/alarm'), 60_000)
      ).find((x) => x.path === '/alarm')!;
      expect(fired.signature).toBe(hmac(webhookSecret, fired.raw));
      expect(fired.body).toMatchObject({ currentState: 'alarm', values: transition.values });

      const detached = await volumeAct(s, token, 'detachVolume', 'DetachVolumeInput', {
        volumeId,
        serverId,
      });
      expect(detached.operation.status).toBe('SUCCEEDED');
      await until(async () => (await consoleText()).includes('STRATUS-SCRIPT calm'), 'calm');
      const calm = await waitForAlarm(s, token, alarm.id, (a) => a.state === 'OK', 180_000);
      const back = calm.history.edges[0].node;
      expect(back.previousState).toBe('ALARM');
      expect(back.values[0]).toBeLessThanOrEqual(threshold);
      const all = await receiver.waitFor((d) => d.some((x) => x.path === '/ok'), 60_000);
      const ok = all.find((x) => x.path === '/ok')!;
      expect(ok.signature).toBe(hmac(webhookSecret, ok.raw));
      expect(ok.body).toMatchObject({ currentState: 'ok', previousState: 'alarm' });
    },
    15 * 60_000,
  );
});
