/**
 * Fan-out of one event to many WebSocket subscribers on one Stratus process. The clients run
 * in a child process (bench/fanout-clients.ts) so they do not share the server's event loop;
 * the delay of each subscriber is measured from just before the mutation is sent to the
 * arrival of its message, on CLOCK_MONOTONIC, which both processes read.
 *
 *   npx tsx bench/fanout.ts
 *
 * Env: FANOUT_CLIENTS (comma-separated sizes, "1000,5000,10000"), FANOUT_ROUNDS (3 measured
 * per size, after 1 warm-up), FANOUT_BATCH (250 connections opened at a time).
 */
import { execSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  type BenchStratus,
  createProject,
  defaultDomainId,
  fmt,
  forkScript,
  machineLine,
  nowNs,
  printTable,
  runMain,
  sleep,
  startBenchStratus,
  startDatabase,
  summarize,
} from './support';

const SIZES = (process.env.FANOUT_CLIENTS ?? '1000,5000,10000').split(',').map(Number);
const ROUNDS = Number(process.env.FANOUT_ROUNDS ?? 3);

type ChildMessage =
  | { type: 'ready'; opened: number; failed: number; openMs: number }
  | { type: 'armed'; round: number }
  | { type: 'arrivals'; round: number; arrivals: number[]; closedEarly: number }
  | { type: 'closed'; closeCodes: Array<[number, number]> };

// A full collection before each memory reading, so the figures are live memory, not garbage.
v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as () => void;
const liveMemory = () => {
  collect();
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, js: heapUsed + external + arrayBuffers };
};

async function activeSubscriptions(s: BenchStratus): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  return Number(/^stratus_active_subscriptions (\d+)/m.exec(text)?.[1] ?? 0);
}

const RESULT_HEADER = [
  'subscribers',
  'round',
  'received',
  'mutation ms',
  'first ms',
  'p50 ms',
  'p90 ms',
  'p99 ms',
  'max ms',
  'server loop max ms',
];

/** Opens `size` subscribers in a child process, runs the rounds, closes them; returns table rows. */
async function runSize(
  s: BenchStratus,
  token: string,
  domainId: string,
  size: number,
  setupRows: Array<Array<string | number>>,
): Promise<Array<Array<string | number>>> {
  const before = liveMemory();
  const child = forkScript('fanout-clients.ts', {
    FANOUT_URL: s.wsUrl,
    FANOUT_TOKEN: token,
    FANOUT_CLIENTS: String(size),
  });
  const inbox: ChildMessage[] = [];
  const waiters: Array<() => void> = [];
  child.on('message', (m) => {
    inbox.push(m as ChildMessage);
    for (const w of waiters.splice(0)) w();
  });
  let exited = false;
  const childExit = new Promise<void>((r) =>
    child.once('exit', () => {
      exited = true;
      r();
    }),
  );
  const next = async <T extends ChildMessage['type']>(type: T, timeoutMs = 600_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return inbox.splice(i, 1)[0] as Extract<ChildMessage, { type: T }>;
      if (exited) throw new Error(`client process exited while waiting for ${type}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${type} from clients`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 1000);
      });
    }
  };

  const rows: Array<Array<string | number>> = [];
  try {
    const ready = await next('ready');
    let active = await activeSubscriptions(s);
    for (let i = 0; i < 120 && active < ready.opened; i++) {
      await sleep(500);
      active = await activeSubscriptions(s);
    }
    const after = liveMemory();
    setupRows.push([
      size,
      ready.opened,
      ready.failed,
      fmt(ready.openMs / 1000, 1),
      active,
      fmt((after.rss - before.rss) / 2 ** 20, 0),
      fmt((after.js - before.js) / 1024 / Math.max(1, ready.opened), 1),
    ]);

    for (let round = 0; round <= ROUNDS; round++) {
      await sleep(1000);
      child.send({ type: 'arm', round });
      await next('armed');
      const loop = monitorEventLoopDelay({ resolution: 1 });
      loop.enable();
      const t0 = nowNs();
      await createProject(s, token, domainId, `bench-fanout-${randomUUID().slice(0, 13)}`);
      const mutationMs = Number(nowNs() - t0) / 1e6;
      const result = await next('arrivals');
      loop.disable();
      const delays = result.arrivals.filter((a) => a > 0).map((a) => (a - Number(t0)) / 1e6);
      const st = summarize(delays);
      rows.push([
        size,
        round === 0 ? 'warm-up' : round,
        `${st.n}/${ready.opened}`,
        fmt(mutationMs, 1),
        fmt(st.min, 1),
        fmt(st.p50, 1),
        fmt(st.p90, 1),
        fmt(st.p99, 1),
        fmt(st.max, 1),
        fmt(loop.max / 1e6, 1),
      ]);
    }
    child.send({ type: 'close' });
    const closed = await next('closed', 60_000);
    if (closed.closeCodes.length)
      process.stdout.write(
        `sockets closed by the server during the run (code, count): ${JSON.stringify(closed.closeCodes)}\n`,
      );
    await childExit;
    // Let the server finish closing the sockets before the next size.
    for (let i = 0; i < 60 && (await activeSubscriptions(s)) > 0; i++) await sleep(500);
  } finally {
    if (!exited) child.kill();
  }
  return rows;
}

runMain(async () => {
  process.stdout.write('== bench/fanout.ts ==\n');
  const largest = Math.max(...SIZES);
  const fdLimit = execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim();
  process.stdout.write(
    `open-file limit (ulimit -n) of this process and of the client child: ${fdLimit}; ` +
      `${largest} subscribers need ~${largest} descriptors on each side\n`,
  );
  if (Number(fdLimit) < largest + 500)
    process.stdout.write(
      `WARNING: ulimit -n ${fdLimit} is below ${largest + 500}; expect failed connections\n`,
    );
  const db = await startDatabase();
  process.stdout.write(`${machineLine(db.source)}\n`);
  let s: BenchStratus | null = null;
  try {
    s = await startBenchStratus(db.url);
    const token = await s.adminLogin();
    const domainId = await defaultDomainId(s, token);

    // The mutation alone, nobody subscribed.
    const alone: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t0 = nowNs();
      await createProject(s, token, domainId, `bench-fanout-${randomUUID().slice(0, 13)}`);
      if (i > 0) alone.push(Number(nowNs() - t0) / 1e6);
    }
    const base = summarize(alone);
    process.stdout.write(
      `createProject with no subscriber: p50 ${fmt(base.p50, 1)} ms, max ${fmt(base.max, 1)} ms (${base.n} calls)\n`,
    );

    const setupRows: Array<Array<string | number>> = [
      [
        'asked',
        'connected+subscribed',
        'failed',
        'open time s',
        'server subscriptions',
        'server RSS +MiB',
        'JS heap+buffers KiB/subscriber',
      ],
    ];
    const rows: Array<Array<string | number>> = [RESULT_HEADER];
    for (const size of SIZES) rows.push(...(await runSize(s, token, domainId, size, setupRows)));
    printTable('subscribers (raw graphql-transport-ws clients in a child process)', setupRows);
    printTable(
      'one createProject -> identityChanged to every subscriber (delay from just before the mutation is sent)',
      rows,
    );
  } finally {
    await s?.stop();
    await db.stop();
  }
});
