import { createHmac } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/connection';
import type { AlarmState } from '../../db/tables';
import type { Logger } from '../../server/logger';
import type { AlarmsConfig } from './alarm-config';
import { refusedAddress, webhookHostAllowed } from './webhooks-allow';

/**
 * Alarm webhooks: a JSON POST signed with HMAC-SHA256, sent by a durable graphile job so that
 * a receiver that is down gets it later (graphile-worker's exponential backoff between
 * attempts, STRATUS_WEBHOOK_MAX_ATTEMPTS in all).
 *
 * The signing secret is per alarm, derived from the Stratus secret and the alarm id (HMAC), so
 * nothing secret is stored with the alarm: createAlarm returns it once; it never changes.
 */
export const WEBHOOK_JOB = 'alarm.webhook';
export const SIGNATURE_HEADER = 'X-Stratus-Signature';

export interface WebhookBody {
  alarmId: string;
  alarmName: string;
  projectId: string;
  previousState: AlarmState;
  currentState: AlarmState;
  reason: string;
  /** The aggregated points the evaluation used, oldest first. */
  values: number[];
  timestamp: string;
}

export interface WebhookJob {
  alarmId: string;
  url: string;
  /** The exact bytes to send: every retry carries the same body and signature. */
  body: string;
}

export function alarmWebhookSecret(stratusSecret: string, alarmId: string): string {
  return createHmac('sha256', stratusSecret).update(`alarm-webhook:${alarmId}`).digest('hex');
}

export function signWebhook(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Queues one delivery per URL, in the caller's transaction (transactional outbox). */
export async function queueWebhooks(
  tx: DbOrTx,
  config: AlarmsConfig,
  alarmId: string,
  urls: readonly string[],
  body: WebhookBody,
): Promise<void> {
  const text = JSON.stringify(body);
  for (const url of urls) {
    const job: WebhookJob = { alarmId, url, body: text };
    await tx.execute(
      sql`select graphile_worker.add_job(${WEBHOOK_JOB}, ${JSON.stringify(job)}::json, max_attempts => ${config.webhookMaxAttempts})`,
    );
  }
}

/** A delivery the allow-list refuses: not retried (retrying would not change the answer). */
export class WebhookRefusedError extends Error {}

/** The addresses to connect to, each checked against the allow-list after resolution. */
async function checkedAddresses(
  allow: readonly string[],
  host: string,
): Promise<Array<{ address: string; family: number }>> {
  const bare = host.replace(/^\[|\]$/g, '');
  const resolved = await lookup(bare, { all: true, verbatim: true });
  if (resolved.length === 0) throw new Error(`${host} resolves to no address`);
  if (webhookHostAllowed(allow, bare)) return resolved;
  for (const { address } of resolved) {
    const refused = refusedAddress(allow, address);
    // One refused address refuses the name: the connection could land on it.
    if (refused) throw new WebhookRefusedError(`${host}: ${refused}`);
  }
  return resolved;
}

/**
 * Sends one webhook; throws (so the job is retried) on a network error or a status other than
 * 2xx. Connects to the address that was checked, not to a second resolution of the name.
 */
export async function deliverWebhook(
  config: AlarmsConfig,
  stratusSecret: string,
  job: WebhookJob,
  log: Logger,
): Promise<void> {
  const url = new URL(job.url);
  let addresses: Array<{ address: string; family: number }>;
  try {
    addresses = await checkedAddresses(config.webhookAllow, url.hostname);
  } catch (error) {
    if (error instanceof WebhookRefusedError) {
      log.warn({ alarmId: job.alarmId, url: job.url, reason: error.message }, 'webhook refused');
      return;
    }
    throw error;
  }
  const pinned: LookupFunction = (_host, options, callback) => {
    if ((options as { all?: boolean }).all) callback(null, addresses);
    else callback(null, addresses[0].address, addresses[0].family);
  };
  const signature = signWebhook(alarmWebhookSecret(stratusSecret, job.alarmId), job.body);
  const client = url.protocol === 'https:' ? https : http;
  const status = await new Promise<number>((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        lookup: pinned,
        timeout: config.webhookTimeoutMs,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(job.body),
          'user-agent': 'Stratus-Alarm/1',
          [SIGNATURE_HEADER]: signature,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`no answer within ${config.webhookTimeoutMs} ms`)),
    );
    req.on('error', reject);
    req.end(job.body);
  });
  if (status < 200 || status >= 300) {
    throw new Error(`webhook ${job.url} answered HTTP ${status}`);
  }
  log.debug({ alarmId: job.alarmId, url: job.url, status }, 'webhook delivered');
}
