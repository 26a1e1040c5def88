/**
 * Part 1 of bench/servers.ts: the control plane alone, on the fake compute driver (spawn takes
 * `spawnDelayMs`, default 0). `clients` clients create and delete servers over HTTP; one
 * `servers` subscription timestamps when each server comes to rest in ACTIVE and DELETED.
 *
 * - `batch`: the clients send all `count` createServer calls back to back (each waits only for
 *   its HTTP answer), then all servers are waited for; then the same for deleteServer. One
 *   project.
 * - `loop-projects`: each client has its own project and member and repeats createServer ->
 *   wait for ACTIVE -> deleteServer -> wait for DELETED until `count` servers were created.
 * - `loop`: the same loop, every client in one project (creates and deletes of one project at
 *   once: the quota deadlock, see docs/benchmarks.md).
 *
 * A createServer error, a build in ERROR or a delete job that fails is counted and retried as
 * a client would, up to MAX_TRIES times. Times run from the first attempt. One fresh database
 * and Stratus child per round; a warm-up server per client first, not measured.
 */
import path from 'node:path';
import { loadConfig } from '../server/config';
import { emptyDisk, uploadImage } from '../test/support/compute';
import {
  ActivitySampler,
  addMember,
  buildWorld,
  type ChildStratus,
  cpuCores,
  cpuSnapshot,
  createServer,
  dbQueries,
  deleteServer,
  freshDatabase,
  ms,
  pgClient,
  pool,
  StatusError,
  StatusWatch,
  startChildStratus,
  tempDir,
} from './servers-common';
import { type BenchDatabase, fmt, nowNs, printTable, summarize } from './support';

export type ControlMode = 'loop' | 'loop-projects' | 'batch';

export interface ControlOptions {
  count: number;
  clients: number;
  workerConcurrency: number;
  mode: ControlMode;
  spawnDelayMs: number;
  postmaster: number | null;
}

export interface ControlResult {
  options: ControlOptions;
  failures: Failures;
  /** Servers given up on after MAX_TRIES (never ACTIVE, or never DELETED). */
  lost: number;
  /** Servers that reached ACTIVE per second of the create phase (loop: of the whole run). */
  activePerSecond: number;
  /** Loop: complete create+delete cycles per second; batch: deletes reaching DELETED per second. */
  deletedPerSecond: number;
  toActive: ReturnType<typeof summarize>;
  createResponse: ReturnType<typeof summarize>;
  toDeleted: ReturnType<typeof summarize>;
  sqlPerServer: number;
  cpu: ReturnType<typeof cpuCores>;
  stratusElu: number;
  activity: Awaited<ReturnType<ActivitySampler['stop']>>;
  breakdown: Breakdown;
  subscriptionEvents: number;
  events: { eventsPerServer: number; transactionsPerServer: number };
  /** The publishEvent critical section alone (Stratus stopped), one client. */
  probe: { msPerTransaction: number } | null;
}

interface Quantiles {
  p50: number;
  p99: number;
  mean: number;
  n: number;
}

export interface Breakdown {
  /** Server-side createServer commit -> launched_at (servers.created_at is the transaction start). */
  serverToActive: Quantiles;
  /** operations.created_at (in the createServer transaction) -> the job's first stage. */
  buildQueue: Quantiles;
  buildRun: Quantiles;
  deleteQueue: Quantiles;
  deleteRun: Quantiles;
  /** Instance action events of the measured servers, by name. */
  events: Array<{ event: string } & Quantiles>;
}

const Q = (expr: string) =>
  `percentile_cont(0.5) within group (order by ${expr}) as p50, percentile_cont(0.99) within group (order by ${expr}) as p99, avg(${expr}) as mean, count(*)::int as n`;
const MS = (a: string, b: string) => `extract(epoch from (${b} - ${a})) * 1000`;

async function breakdown(databaseUrl: string, prefix: string): Promise<Breakdown> {
  const client = await pgClient(databaseUrl);
  try {
    const like = `${prefix}%`;
    const one = async (sql: string, params: unknown[]): Promise<Quantiles> => {
      const { rows } = await client.query(sql, params);
      const r = rows[0];
      return { p50: Number(r.p50), p99: Number(r.p99), mean: Number(r.mean), n: r.n };
    };
    const serverToActive = await one(
      `select ${Q(MS('created_at', 'launched_at'))} from servers where name like $1 and launched_at is not null`,
      [like],
    );
    const op = (kind: string, a: string, b: string) =>
      one(
        `select ${Q(MS(`o.${a}`, `o.${b}`))} from operations o join servers s on s.id::text = o.resource_id
          where s.name like $1 and (o.kind = $2 or o.kind like $2 || '@%') and o.${b} is not null`,
        [like, kind],
      );
    const { rows } = await client.query(
      `select e.event, ${Q(MS('e.start_time', 'e.finish_time'))}
         from instance_action_events e join instance_actions a on a.id = e.action_id
         join servers s on s.id = a.server_id
        where s.name like $1 and e.finish_time is not null
        group by e.event order by min(e.start_time - a.start_time)`,
      [like],
    );
    return {
      serverToActive,
      buildQueue: await op('server.build', 'created_at', 'started_at'),
      buildRun: await op('server.build', 'started_at', 'finished_at'),
      deleteQueue: await op('server.delete', 'created_at', 'started_at'),
      deleteRun: await op('server.delete', 'started_at', 'finished_at'),
      events: rows.map((r) => ({
        event: r.event,
        p50: Number(r.p50),
        p99: Number(r.p99),
        mean: Number(r.mean),
        n: r.n,
      })),
    };
  } finally {
    await client.end();
  }
}

/** What went wrong along the way; every failure is retried (up to MAX_TRIES) as a client would. */
export interface Failures {
  /** createServer answered an error (e.g. INTERNAL_SERVER_ERROR from a deadlock). */
  createErrors: number;
  /** The build came to rest in ERROR; the server is deleted and the create retried. */
  buildErrors: number;
  deleteErrors: number;
  /** The delete job failed: the server came to rest in SHUTOFF (or other) instead of DELETED. */
  deleteJobFailures: number;
  messages: Map<string, number>;
}

const MAX_TRIES = 5;

function note(f: Failures, error: unknown): void {
  const text = (error instanceof Error ? error.message : String(error))
    .replace(/[0-9a-f]{8}-[0-9a-f-]{27}|[A-Za-z0-9+/]{40,}={0,2}/g, '…')
    .slice(0, 200);
  f.messages.set(text, (f.messages.get(text) ?? 0) + 1);
}

interface Samples {
  toActive: number[];
  createResponse: number[];
  toDeleted: number[];
}

/** deleteServer until the server is DELETED; ms from the first request; null if it never was. */
async function deleteUntilGone(
  s: ChildStratus,
  token: string,
  watch: StatusWatch,
  id: string,
  f: Failures,
): Promise<number | null> {
  const first = nowNs();
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const since = nowNs();
    try {
      await deleteServer(s, token, id);
    } catch (error) {
      f.deleteErrors++;
      note(f, error);
      continue;
    }
    try {
      return ms(first, await watch.when(id, 'DELETED', since));
    } catch (error) {
      if (!(error instanceof StatusError)) throw error;
      f.deleteJobFailures++;
      note(f, error);
    }
  }
  return null;
}

/**
 * createServer until one reaches ACTIVE (a build in ERROR is deleted and retried); returns its
 * id and when the first attempt was sent.
 */
async function createUntilActive(
  s: ChildStratus,
  token: string,
  watch: StatusWatch,
  input: Record<string, unknown>,
  f: Failures,
  samples: Samples | null,
): Promise<{ id: string; sent: bigint; active: bigint } | null> {
  const first = nowNs();
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const sent = nowNs();
    let id: string;
    try {
      id = await createServer(s, token, input);
    } catch (error) {
      f.createErrors++;
      note(f, error);
      continue;
    }
    samples?.createResponse.push(ms(sent, nowNs()));
    try {
      const active = await watch.when(id, 'ACTIVE', sent);
      samples?.toActive.push(ms(first, active));
      return { id, sent: first, active };
    } catch (error) {
      if (!(error instanceof StatusError)) throw error;
      f.buildErrors++;
      note(f, error);
      await deleteUntilGone(s, token, watch, id, f);
    }
  }
  return null;
}

export async function runControlRound(
  db: BenchDatabase,
  options: ControlOptions,
): Promise<ControlResult> {
  const { count, clients, workerConcurrency, mode } = options;
  const databaseUrl = await freshDatabase(db, `stratus_servers_${mode}_c${workerConcurrency}`);
  const work = tempDir('stratus-bench-servers-');
  const base = loadConfig({});
  const s = await startChildStratus(databaseUrl, {
    workerConcurrency,
    objects: {
      driver: 'filesystem',
      driverConfig: { root: path.join(work, 'objects') },
      maxObjectBytes: 5 * 1024 ** 3,
    },
    compute: {
      ...base.compute,
      driver: 'fake',
      driverConfig: { spawnDelayMs: options.spawnDelayMs },
      imageCacheDir: path.join(work, '_base'),
      // The fake host has 128 vCPUs; 1,000 live 1-vCPU servers need more than Nova's 4x.
      allocationRatios: { cpu: 16, ram: 1, disk: 1 },
      shutdownTimeoutMs: 5_000,
    },
  });
  let watch: StatusWatch | null = null;
  try {
    const world = await buildWorld(s, 64);
    const imageId = await uploadImage(
      world.client,
      world.adminToken,
      { name: 'disk', diskFormat: 'raw', visibility: 'public' },
      emptyDisk(),
    );
    const input = (name: string) => ({ name, imageId, flavorId: world.flavorId });
    // loop-projects: one project (and member) per client; the admin's subscription sees them all.
    const tokens = [world.memberToken];
    if (mode === 'loop-projects') {
      while (tokens.length < clients) tokens.push((await addMember(world.client)).token);
    }
    const tokenOf = (worker: number) => tokens[worker % tokens.length];
    watch = new StatusWatch(s, tokens.length > 1 ? world.adminToken : world.memberToken);
    await watch.start();
    const w = watch;

    // Warm-up, not measured: one server per client, one at a time per client (JIT, pool
    // connections, the image cache), failures tolerated.
    const warmFailures: Failures = {
      createErrors: 0,
      buildErrors: 0,
      deleteErrors: 0,
      deleteJobFailures: 0,
      messages: new Map(),
    };
    await pool(clients, clients, async (i, worker) => {
      const token = tokenOf(worker);
      const created = await createUntilActive(s, token, w, input(`w-${i}`), warmFailures, null);
      if (!created) throw new Error('a warm-up server never became ACTIVE');
      await deleteUntilGone(s, token, w, created.id, warmFailures);
    });

    const samples: Samples = { toActive: [], createResponse: [], toDeleted: [] };
    const f: Failures = {
      createErrors: 0,
      buildErrors: 0,
      deleteErrors: 0,
      deleteJobFailures: 0,
      messages: new Map(),
    };
    let lost = 0;
    const maxEvent = async () => {
      const c = await pgClient(databaseUrl);
      try {
        return Number((await c.query('select coalesce(max(id), 0) as id from events')).rows[0].id);
      } finally {
        await c.end();
      }
    };
    const event0 = await maxEvent();
    const q0 = await dbQueries(s);
    const elu0 = await s.elu();
    const sampler = new ActivitySampler(databaseUrl);
    await sampler.start();
    const cpu0 = cpuSnapshot(s.pid, options.postmaster);
    const t0 = nowNs();
    let lastActive = t0;
    let activePerSecond: number;
    let deletedPerSecond: number;
    if (mode === 'loop' || mode === 'loop-projects') {
      await pool(clients, count, async (i, worker) => {
        const token = tokenOf(worker);
        const created = await createUntilActive(s, token, w, input(`m-${i}`), f, samples);
        if (!created) {
          lost++;
          return;
        }
        if (created.active > lastActive) lastActive = created.active;
        const gone = await deleteUntilGone(s, token, w, created.id, f);
        if (gone === null) lost++;
        else samples.toDeleted.push(gone);
      });
      const t1 = nowNs();
      activePerSecond = count / (ms(t0, lastActive) / 1000);
      deletedPerSecond = count / (ms(t0, t1) / 1000);
    } else {
      // Creates back to back; each client only waits for the HTTP answer (retrying errors).
      const ids: Array<{ id: string; sent: bigint } | null> = new Array(count).fill(null);
      await pool(clients, count, async (i) => {
        const first = nowNs();
        for (let attempt = 0; attempt < MAX_TRIES && !ids[i]; attempt++) {
          const sent = nowNs();
          try {
            ids[i] = { id: await createServer(s, world.memberToken, input(`m-${i}`)), sent: first };
            samples.createResponse.push(ms(sent, nowNs()));
          } catch (error) {
            f.createErrors++;
            note(f, error);
          }
        }
      });
      const created = await Promise.all(
        ids.map(async (entry) => {
          if (!entry) {
            lost++;
            return null;
          }
          try {
            const at = await w.when(entry.id, 'ACTIVE', entry.sent);
            samples.toActive.push(ms(entry.sent, at));
            if (at > lastActive) lastActive = at;
          } catch (error) {
            f.buildErrors++;
            note(f, error);
          }
          return entry.id;
        }),
      );
      activePerSecond = samples.toActive.length / (ms(t0, lastActive) / 1000);
      const d0 = nowNs();
      let lastDeleted = d0;
      const live = created.filter((id): id is string => id !== null);
      await pool(clients, live.length, async (i) => {
        const gone = await deleteUntilGone(s, world.memberToken, w, live[i], f);
        if (gone === null) lost++;
        else {
          samples.toDeleted.push(gone);
          const at = nowNs();
          if (at > lastDeleted) lastDeleted = at;
        }
      });
      deletedPerSecond = samples.toDeleted.length / (ms(d0, lastDeleted) / 1000);
    }
    const cpu1 = cpuSnapshot(s.pid, options.postmaster);
    const activity = await sampler.stop();
    const elu1 = await s.elu();
    const q1 = await dbQueries(s);
    const eluActive = elu1.active - elu0.active;
    const eluIdle = elu1.idle - elu0.idle;
    const event1 = await maxEvent();
    const result: ControlResult = {
      options,
      failures: f,
      lost,
      activePerSecond,
      deletedPerSecond,
      toActive: summarize(samples.toActive),
      createResponse: summarize(samples.createResponse),
      toDeleted: summarize(samples.toDeleted),
      sqlPerServer: (q1 - q0) / count,
      cpu: cpuCores(cpu0, cpu1),
      stratusElu: eluActive / (eluActive + eluIdle),
      activity,
      breakdown: await breakdown(databaseUrl, 'm-'),
      subscriptionEvents: w.events,
      events: await eventTransactions(databaseUrl, event0, event1, count),
      probe: null,
    };
    await watch.close().catch(() => {});
    watch = null;
    await s.stop();
    result.probe = await lockProbe(databaseUrl);
    return result;
  } finally {
    await watch?.close().catch(() => {});
    await s.stop();
  }
}

/** Events stored per server in the measured window, and the transactions that stored them. */
async function eventTransactions(
  databaseUrl: string,
  after: number,
  upTo: number,
  servers: number,
): Promise<{ eventsPerServer: number; transactionsPerServer: number }> {
  const client = await pgClient(databaseUrl);
  try {
    const { rows } = await client.query(
      'select count(*)::int as n, count(distinct xmin::text)::int as tx from events where id > $1 and id <= $2',
      [after, upTo],
    );
    return { eventsPerServer: rows[0].n / servers, transactionsPerServer: rows[0].tx / servers };
  } finally {
    await client.end();
  }
}

/**
 * The critical section of resolvers/events.ts publishEvent alone, from one pg client with
 * Stratus stopped: BEGIN, pg_advisory_xact_lock(7243002), INSERT INTO events RETURNING,
 * pg_notify, COMMIT, one after the other. Its rate bounds every transaction that publishes.
 */
async function lockProbe(databaseUrl: string): Promise<{ msPerTransaction: number }> {
  const client = await pgClient(databaseUrl);
  try {
    const once = async () => {
      await client.query('begin');
      await client.query('select pg_advisory_xact_lock(7243002)');
      await client.query(
        `insert into events (kind, project_id, resource_type, resource_id, payload)
         values ('BENCH_PROBE', null, 'BenchProbe', 'probe', '{}') returning *`,
      );
      await client.query(`select pg_notify('stratus_events', '{"probe":true}')`);
      await client.query('commit');
    };
    for (let i = 0; i < 50; i++) await once();
    const n = 500;
    const t = nowNs();
    for (let i = 0; i < n; i++) await once();
    const perTx = ms(t, nowNs()) / n;
    await client.query(`delete from events where kind = 'BENCH_PROBE'`);
    return { msPerTransaction: perTx };
  } finally {
    await client.end();
  }
}

/** Instance action events of a build (in order) and of a delete. */
const EVENTS = [
  'schedule_instance',
  'fetch_image',
  'compute_build_and_run_instance',
  'compute_terminate_instance',
];

const f1 = (v: number) => fmt(v, 1);
const f0 = (v: number) => fmt(v, 0);
const pair = (q: { p50: number; p99: number }, digits = 0) =>
  `${fmt(q.p50, digits)} / ${fmt(q.p99, digits)}`;

export function printControl(results: ControlResult[]): void {
  printTable(
    `Control plane, fake driver: ${results[0]?.options.count ?? 0} servers, ${results[0]?.options.clients ?? 0} clients (times in ms)`,
    [
      [
        'mode',
        'worker concurrency',
        'servers/s to ACTIVE',
        'create→ACTIVE p50 / p99',
        'createServer response p50 / p99',
        'delete→DELETED p50 / p99',
        'loop cycles/s or deletes/s',
        'createServer errors / builds in ERROR / delete jobs failed / lost',
        'SQL per server (create+delete)',
      ],
      ...results.map((r) => [
        r.options.mode,
        r.options.workerConcurrency,
        f1(r.activePerSecond),
        pair(r.toActive),
        pair(r.createResponse),
        pair(r.toDeleted),
        f1(r.deletedPerSecond),
        `${r.failures.createErrors} / ${r.failures.buildErrors} / ${r.failures.deleteJobFailures + r.failures.deleteErrors} / ${r.lost}`,
        f1(r.sqlPerServer),
      ]),
    ],
  );
  printTable(
    'Control plane: events (each published under the global advisory lock of resolvers/events.ts)',
    [
      [
        'mode',
        'worker concurrency',
        'events per server (create+delete)',
        'transactions publishing them, per server',
        'lock+insert+notify+commit alone, ms (one client)',
        'ceiling: servers/s if only those transactions ran',
      ],
      ...results.map((r) => [
        r.options.mode,
        r.options.workerConcurrency,
        f1(r.events.eventsPerServer),
        f1(r.events.transactionsPerServer),
        r.probe ? fmt(r.probe.msPerTransaction, 2) : '—',
        r.probe ? f1(1000 / r.probe.msPerTransaction / r.events.transactionsPerServer) : '—',
      ]),
    ],
  );
  printTable(
    'Control plane: CPU (cores busy on average; the machine has 2) and PostgreSQL backends',
    [
      [
        'mode',
        'worker concurrency',
        'Stratus CPU',
        'Stratus event loop busy',
        'PostgreSQL CPU',
        'client CPU',
        'machine busy',
        'PG active',
        'PG waiting: advisory',
        'PG waiting: tuple / transactionid',
        'PG idle in transaction',
      ],
      ...results.map((r) => {
        const m = r.activity.mean;
        const g = (k: string) => f1(m[k] ?? 0);
        return [
          r.options.mode,
          r.options.workerConcurrency,
          fmt(r.cpu.stratus, 2),
          `${f0(r.stratusElu * 100)} %`,
          r.cpu.postgres === null ? '—' : fmt(r.cpu.postgres, 2),
          fmt(r.cpu.client, 2),
          fmt(r.cpu.machine, 2),
          f1((m.active ?? 0) + (m['active, client I/O'] ?? 0)),
          g('lock: advisory'),
          `${g('lock: tuple')} / ${g('lock: transactionid')}`,
          g('idle in transaction'),
        ];
      }),
    ],
  );
  printTable('Control plane: where a build spends its time, server side (ms, p50 / p99)', [
    [
      'mode',
      'worker concurrency',
      'createServer tx start → launched_at',
      'build job queued',
      'build job runs',
      ...EVENTS,
      'delete job queued',
      'delete job runs',
    ],
    ...results.map((r) => {
      const b = r.breakdown;
      return [
        r.options.mode,
        r.options.workerConcurrency,
        pair(b.serverToActive),
        pair(b.buildQueue),
        pair(b.buildRun),
        ...EVENTS.map((name) => {
          const e = b.events.find((x) => x.event === name);
          return e ? pair(e, 1) : '—';
        }),
        pair(b.deleteQueue),
        pair(b.deleteRun),
      ];
    }),
  ]);
  for (const r of results) {
    if (r.failures.messages.size) {
      process.stdout.write(
        `\nfailures, ${r.options.mode} c=${r.options.workerConcurrency} (count: message):\n${[
          ...r.failures.messages,
        ]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 6)
          .map(([m, n]) => `  ${n}: ${m}`)
          .join('\n')}\n`,
      );
    }
    if (r.activity.topWaits.length === 0) continue;
    process.stdout.write(
      `\nlock waits, ${r.options.mode} c=${r.options.workerConcurrency} (mean backends waiting: statement):\n${r.activity.topWaits
        .map(([q, n]) => `  ${fmt(n, 2)}  ${q}`)
        .join('\n')}\n`,
    );
  }
}
