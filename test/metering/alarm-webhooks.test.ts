import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlarmsConfig } from '../../resolvers/metering/alarm-config';
import { judge } from '../../resolvers/metering/alarm-evaluator';
import { alarmWebhookSecret, deliverWebhook } from '../../resolvers/metering/webhooks';
import { checkWebhookUrl, refusedAddress } from '../../resolvers/metering/webhooks-allow';
import { createLogger } from '../../server/logger';
import { hmac, Receiver } from './alarm-support';

/** The allow-list, delivery after DNS resolution, and the verdicts, without a server. */

const config = (allow: string[]): AlarmsConfig => ({
  evaluationIntervalMs: 1000,
  webhookAllow: allow,
  webhookMaxAttempts: 2,
  webhookTimeoutMs: 2000,
});
const log = createLogger('silent');
let receiver: Receiver;
let port: string;

beforeAll(async () => {
  receiver = new Receiver();
  port = new URL(await receiver.start()).port;
});
afterAll(() => receiver.stop());

describe('webhook allow-list', () => {
  it('refuses internal ranges by default and allows listed ones', () => {
    for (const a of [
      '127.0.0.1',
      '10.0.0.5',
      '172.16.1.1',
      '192.168.0.1',
      '169.254.169.254',
      '::1',
      'fd12::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '100.64.0.1',
      '0.0.0.0',
    ]) {
      expect(refusedAddress([], a), a).toMatch(/refused unless STRATUS_WEBHOOK_ALLOW/);
    }
    expect(refusedAddress([], '203.0.113.9')).toMatch(/reserved/);
    expect(refusedAddress([], '8.8.8.8')).toBeNull();
    expect(refusedAddress([], '2001:4860::8888')).toBeNull();
    expect(refusedAddress(['10.0.0.0/8'], '10.9.8.7')).toBeNull();
    expect(refusedAddress(['10.0.0.0/8'], '11.0.0.1')).toBeNull();
    expect(refusedAddress(['10.0.0.0/8'], '192.168.0.1')).not.toBeNull();
    expect(refusedAddress(['127.0.0.1'], '::ffff:127.0.0.1')).toBeNull();
    expect(refusedAddress(['fd00::/8'], 'fd12::1')).toBeNull();
  });

  it('checks URLs at write time, naming the field', () => {
    expect(() => checkWebhookUrl([], 'f', 'gopher://x')).toThrow(/http or https/);
    expect(() => checkWebhookUrl([], 'f', 'http://u:p@example.com/')).toThrow(/credentials/);
    expect(() => checkWebhookUrl([], 'f', 'http://[::1]/')).toThrow(/loopback/);
    expect(checkWebhookUrl([], 'f', 'https://hooks.example.com/x').hostname).toBe(
      'hooks.example.com',
    );
    expect(checkWebhookUrl(['127.0.0.1'], 'f', 'http://127.0.0.1:9/').port).toBe('9');
  });

  it('checks the resolved address at send time: a name that resolves to loopback is refused', async () => {
    // A name is not checked when the alarm is written (only `localhost` itself is); at send time
    // its addresses are: `localhost` resolves to loopback everywhere.
    const named = { alarmId: 'a1', url: `http://localhost:${port}/named`, body: '{"n":1}' };
    await deliverWebhook(config([]), 'secret', named, log);
    expect(receiver.attempts).toBe(0);
    const job = { ...named, url: `http://127.0.0.1:${port}/named` };
    await deliverWebhook(config(['127.0.0.0/8']), 'secret', job, log);
    const [d] = await receiver.waitFor((x) => x.length === 1);
    expect(d.path).toBe('/named');
    expect(d.signature).toBe(hmac(alarmWebhookSecret('secret', 'a1'), '{"n":1}'));
  });

  it('fails (so the job retries) on a non-2xx answer', async () => {
    receiver.failFirst = 1;
    const job = { alarmId: 'a1', url: `http://127.0.0.1:${port}/fail`, body: '{}' };
    await expect(deliverWebhook(config(['127.0.0.1']), 's', job, log)).rejects.toThrow(/HTTP 500/);
  });
});

describe('threshold verdicts', () => {
  const alarm = { comparison: 'gt', threshold: 5, evaluationPeriods: 3 };
  const pts = (...v: number[]) => v.map((value, i) => ({ timestamp: new Date(i * 1000), value }));
  it('follows Aodh: all outside → alarm, all inside → ok, mixed keeps the state', () => {
    expect(judge({ ...alarm, state: 'ok' }, pts(6, 7, 8)).state).toBe('alarm');
    expect(judge({ ...alarm, state: 'alarm' }, pts(1, 2, 3)).reason).toBe(
      'Transition to ok due to 3 samples inside threshold, most recent: 3',
    );
    expect(judge({ ...alarm, state: 'alarm' }, pts(6, 1, 7)).reason).toBe(
      'Remaining as alarm due to 2 samples outside threshold, most recent: 7',
    );
    expect(judge({ ...alarm, state: 'insufficient data' }, pts(6, 1, 2)).state).toBe('ok');
    expect(judge({ ...alarm, state: 'ok' }, pts(6, 7))).toEqual({
      state: 'insufficient data',
      reason: '1 datapoints are unknown',
      values: [6, 7],
    });
    // Only the last `evaluationPeriods` points count.
    expect(judge({ ...alarm, state: 'ok' }, pts(1, 6, 7, 8)).values).toEqual([6, 7, 8]);
    expect(judge({ ...alarm, comparison: 'le', state: 'ok' }, pts(5, 4, 5)).state).toBe('alarm');
  });
});
