/**
 * Child process of bench/fanout.ts: opens FANOUT_CLIENTS raw WebSockets speaking the
 * graphql-transport-ws protocol (no client library, to keep the client side cheap), each with
 * one `identityChanged` subscription, then records when each socket gets the next event.
 *
 * IPC from the parent: { type: 'arm', round } -> answers { type: 'armed', round }, then
 * { type: 'arrivals', round, arrivals } once every socket got a message or after the timeout;
 * { type: 'close' } closes everything and exits. Times are process.hrtime.bigint() as numbers
 * (CLOCK_MONOTONIC, the same clock in both processes).
 */
import WebSocket from 'ws';

const url = process.env.FANOUT_URL!;
const token = process.env.FANOUT_TOKEN!;
const total = Number(process.env.FANOUT_CLIENTS ?? 10_000);
const batch = Number(process.env.FANOUT_BATCH ?? 250);
const timeoutMs = Number(process.env.FANOUT_TIMEOUT_MS ?? 15_000);

const SUBSCRIBE = JSON.stringify({
  id: '1',
  type: 'subscribe',
  payload: { query: 'subscription { identityChanged { kind cursor } }' },
});
const INIT = JSON.stringify({
  type: 'connection_init',
  payload: { authorization: `Bearer ${token}` },
});
const NEXT = Buffer.from('"type":"next"');

const sockets: WebSocket[] = [];
let arrivals = new Float64Array(total);
let armed = false;
let received = 0;
let round = -1;
let timer: NodeJS.Timeout | null = null;
let closedEarly = 0;
let ackedCount = 0;
const closeCodes = new Map<number, number>();

function report(): void {
  if (!armed) return;
  armed = false;
  if (timer) clearTimeout(timer);
  process.send?.({ type: 'arrivals', round, arrivals: Array.from(arrivals), closedEarly });
}

function open(index: number): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
    let acked = false;
    const fail = () => {
      if (!acked) resolve(false);
    };
    ws.on('open', () => ws.send(INIT));
    ws.on('message', (data: Buffer) => {
      if (!acked) {
        if (String(data).includes('connection_ack')) {
          acked = true;
          ackedCount++;
          ws.send(SUBSCRIBE);
          sockets[index] = ws;
          resolve(true);
        }
        return;
      }
      if (armed && arrivals[index] === 0 && data.includes(NEXT)) {
        arrivals[index] = Number(process.hrtime.bigint());
        if (++received >= ackedCount - closedEarly) report();
      }
    });
    ws.on('error', fail);
    ws.on('close', (code) => {
      fail();
      if (acked) {
        closedEarly++;
        closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
      }
    });
  });
}

async function main(): Promise<void> {
  const start = process.hrtime.bigint();
  let opened = 0;
  let failed = 0;
  for (let i = 0; i < total; i += batch) {
    const results = await Promise.all(
      Array.from({ length: Math.min(batch, total - i) }, (_, k) => open(i + k)),
    );
    for (const ok of results)
      if (ok) opened++;
      else failed++;
  }
  const openMs = Number(process.hrtime.bigint() - start) / 1e6;
  process.send?.({ type: 'ready', opened, failed, openMs });
}

process.on('message', (msg: { type: string; round?: number }) => {
  if (msg.type === 'arm') {
    round = msg.round ?? 0;
    arrivals = new Float64Array(total);
    received = 0;
    armed = true;
    timer = setTimeout(report, timeoutMs);
    process.send?.({ type: 'armed', round });
  } else if (msg.type === 'close') {
    for (const ws of sockets) ws?.terminate();
    process.send?.({ type: 'closed', closeCodes: [...closeCodes] }, () => process.exit(0));
  }
});

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
