import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeGlobalID } from '@pothos/plugin-relay';
import type { Json, TestStratus } from '../support/harness';

/** Helpers for the alarm tests: a real webhook receiver and the alarm mutations. */

export interface Delivery {
  path: string;
  signature: string;
  raw: string;
  body: Json;
}

/** An HTTP receiver on 127.0.0.1 that records POSTs; `failFirst` answers the first N with 500. */
export class Receiver {
  readonly deliveries: Delivery[] = [];
  failFirst = 0;
  attempts = 0;
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.attempts++;
      const raw = Buffer.concat(chunks).toString('utf8');
      if (this.failFirst > 0) {
        this.failFirst--;
        res.writeHead(500).end('not now');
        return;
      }
      this.deliveries.push({
        path: req.url ?? '',
        signature: String(req.headers['x-stratus-signature'] ?? ''),
        raw,
        body: JSON.parse(raw),
      });
      res.writeHead(204).end();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async waitFor(predicate: (d: Delivery[]) => boolean, timeoutMs = 30_000): Promise<Delivery[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.deliveries)) {
      if (Date.now() > deadline)
        throw new Error(`no such delivery; have ${JSON.stringify(this.deliveries)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.deliveries;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

export const hmac = (secret: string, body: string) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export const raw = (globalId: string) => decodeGlobalID(globalId).id;

export const ALARM_FIELDS = `id name state stateReason enabled meter resourceType resourceIds threshold
  comparison aggregation granularity evaluationPeriods lastEvaluatedAt nextEvaluationAt
  actions { alarm ok insufficientData }
  history(first: 20) { totalCount edges { node { type previousState state reason values } } }`;

const ERRORS =
  '__typename ... on Error { message code } ... on InvalidInputError { field } ... on NotFoundError { resource id }';

export async function createAlarm(
  s: TestStratus,
  token: string | null,
  input: Record<string, unknown>,
): Promise<Json> {
  const data = await s.ok(
    `mutation($input: CreateAlarmInput!) { createAlarm(input: $input) { ${ERRORS}
      ... on CreateAlarmSuccess { created { webhookSecret alarm { ${ALARM_FIELDS} } } } } }`,
    { input },
    token,
  );
  return data.createAlarm;
}

export async function updateAlarm(
  s: TestStratus,
  token: string | null,
  input: Record<string, unknown>,
): Promise<Json> {
  const data = await s.ok(
    `mutation($input: UpdateAlarmInput!) { updateAlarm(input: $input) { ${ERRORS}
      ... on UpdateAlarmSuccess { alarm { ${ALARM_FIELDS} } } } }`,
    { input },
    token,
  );
  return data.updateAlarm;
}

export async function readAlarm(s: TestStratus, token: string | null, id: string): Promise<Json> {
  const data = await s.ok(`query($id: ID!) { alarm(id: $id) { ${ALARM_FIELDS} } }`, { id }, token);
  return data.alarm;
}

/** Polls the alarm until `predicate` holds. */
export async function waitForAlarm(
  s: TestStratus,
  token: string | null,
  id: string,
  predicate: (alarm: Json) => boolean,
  timeoutMs = 20_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alarm = await readAlarm(s, token, id);
    if (alarm && predicate(alarm)) return alarm;
    if (Date.now() > deadline) throw new Error(`alarm never matched: ${JSON.stringify(alarm)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
