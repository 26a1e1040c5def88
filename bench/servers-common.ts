/**
 * What the three parts of bench/servers.ts share: a database per part, Stratus in a child
 * process (bench/servers-child.ts), the world a benchmark needs (a project with a member, no
 * quota, a flavor), a `servers` subscription that timestamps each server's statuses, and the
 * probes that say where time goes (CPU of each process, PostgreSQL backends by what they wait
 * for, SQL statements from /metrics).
 */
import { type ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Client, createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import type { StratusConfig } from '../server/config';
import { ensureDatabase } from '../server/embedded-postgres';
import { createFlavor } from '../test/support/compute';
import { postGraphQL, postGraphQLOk } from '../test/support/graphql-client';
import type { TestStratus } from '../test/support/harness';
import { Seed } from '../test/support/seed';
import type { ServersChildCommand, ServersChildJob, ServersChildMessage } from './servers-child';
import {
  ADMIN_PASSWORD,
  BENCH_DIR,
  type BenchDatabase,
  defaultDomainId,
  type Json,
  LOGIN_MUTATION,
  nowNs,
} from './support';

export { postGraphQL, postGraphQLOk };

export const ms = (fromNs: bigint, toNs: bigint) => Number(toNs - fromNs) / 1e6;

/** A database of its own on the benchmark's PostgreSQL (created with CREATE DATABASE). */
export async function freshDatabase(db: BenchDatabase, name: string): Promise<string> {
  await ensureDatabase(db.url, name);
  const url = new URL(db.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A connected pg client whose late errors (the database stopping) are ignored. */
export async function pgClient(databaseUrl: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** A temporary folder removed by `removeTemp` at the end of the run. */
const temps: string[] = [];
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
}
export function removeTemps(): void {
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

export interface ChildStratus {
  pid: number;
  url: string;
  graphqlUrl: string;
  wsUrl: string;
  /** Event-loop utilization of the child since it started (0..1, plus the raw times). */
  elu(): Promise<{ idle: number; active: number }>;
  stop(): Promise<void>;
}

/** Starts Stratus in bench/servers-child.ts with benchConfig(databaseUrl, overrides). */
export async function startChildStratus(
  databaseUrl: string,
  overrides: Partial<StratusConfig>,
): Promise<ChildStratus> {
  const child: ChildProcess = fork(path.join(BENCH_DIR, 'servers-child.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('error', reject);
    void exited.then((code) => reject(new Error(`Stratus child exited with ${code}`)));
    const logLevel = process.env.SERVERS_LOG_LEVEL;
    child.send({
      databaseUrl,
      overrides: logLevel ? { ...overrides, logLevel } : overrides,
    } satisfies ServersChildJob);
  });
  const graphqlUrl = `${url}/graphql`;
  return {
    pid: child.pid!,
    url,
    graphqlUrl,
    wsUrl: graphqlUrl.replace(/^http/, 'ws'),
    elu: () =>
      new Promise((resolve) => {
        const onMessage = (m: ServersChildMessage) => {
          if (m.type !== 'elu') return;
          child.off('message', onMessage);
          resolve({ idle: m.idle, active: m.active });
        };
        child.on('message', onMessage);
        child.send({ type: 'elu' } satisfies ServersChildCommand);
      }),
    stop: async () => {
      if (child.exitCode !== null) return;
      child.send({ type: 'stop' } satisfies ServersChildCommand);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface World {
  adminToken: string;
  /** A user with the `member` role on the project, logged in scoped to it. */
  memberToken: string;
  projectId: string;
  projectRawId: string;
  userRawId: string;
  flavorId: string;
  /** The shape test/support/compute.ts helpers take (ok, adminToken). */
  client: TestStratus;
}

/** The raw database id inside a Relay global id ("Type:uuid" in base64). */
export function rawId(globalId: string): string {
  return Buffer.from(globalId, 'base64').toString('utf8').split(':').slice(1).join(':');
}

/**
 * Admin login, a project with one member (role `member`), quota without limits for servers
 * (instances, cores, RAM: -1, Nova's unlimited) and a public flavor (1 vCPU, `ramMib` MiB, 1 GiB).
 */
export async function buildWorld(s: ChildStratus, ramMib = 128): Promise<World> {
  const login = async (userName: string, password: string, scope?: Record<string, unknown>) => {
    const data = await postGraphQLOk(s.graphqlUrl, LOGIN_MUTATION, {
      input: { userName, password, scope },
    });
    if (data.login.__typename !== 'LoginSuccess')
      throw new Error(`login failed: ${JSON.stringify(data.login)}`);
    return data.login.data.token as string;
  };
  const adminToken = await login('admin', ADMIN_PASSWORD, { projectName: 'admin' });
  const ok = (q: string, v?: Record<string, unknown>, t?: string | null) =>
    postGraphQLOk(s.graphqlUrl, q, v, t);
  const domainId = await defaultDomainId({ ok } as never, adminToken);
  const client = { ok, adminToken, defaultDomainId: domainId, login } as unknown as TestStratus;
  const member = await addMember(client);
  const flavorId = await createFlavor(client, {
    name: 'bench.tiny',
    vcpus: 1,
    ramMib,
    rootDiskGib: 1,
  });
  return {
    adminToken,
    memberToken: member.token,
    projectId: member.projectId,
    projectRawId: rawId(member.projectId),
    userRawId: rawId(member.userId),
    flavorId,
    client,
  };
}

/** A new project with one member (role `member`, logged in scoped to it) and no server quota. */
export async function addMember(
  client: TestStratus,
): Promise<{ token: string; projectId: string; userId: string }> {
  const member = await new Seed(client).member('member');
  const quota = await client.ok(
    `mutation($input: SetProjectQuotaInput!) { setProjectQuota(input: $input) { __typename ... on Error { message } } }`,
    {
      input: {
        projectId: member.projectId,
        limits: ['instances', 'cores', 'ram_mib'].map((resource) => ({ resource, limit: -1 })),
      },
    },
    client.adminToken,
  );
  if (quota.setProjectQuota.__typename !== 'SetProjectQuotaSuccess')
    throw new Error(`setProjectQuota: ${JSON.stringify(quota)}`);
  return { token: member.token!, projectId: member.projectId, userId: member.userId };
}

// ---------------------------------------------------------------- server statuses

export const SERVER_ERROR_FIELDS = `__typename ... on Error { message code }`;

/** createServer; returns the new server's global id or throws with the error payload. */
export async function createServer(
  s: ChildStratus,
  token: string,
  input: Record<string, unknown>,
): Promise<string> {
  const data = await postGraphQLOk(
    s.graphqlUrl,
    `mutation($input: CreateServerInput!) { createServer(input: $input) { ${SERVER_ERROR_FIELDS} ... on CreateServerSuccess { created { server { id } } } } }`,
    { input },
    token,
  );
  if (data.createServer.__typename !== 'CreateServerSuccess')
    throw new Error(`createServer: ${JSON.stringify(data.createServer)}`);
  return data.createServer.created.server.id as string;
}

export async function deleteServer(s: ChildStratus, token: string, id: string): Promise<void> {
  const data = await postGraphQLOk(
    s.graphqlUrl,
    `mutation($input: ServerIdInput!) { deleteServer(input: $input) { ${SERVER_ERROR_FIELDS} } }`,
    { input: { id } },
    token,
  );
  if (data.deleteServer.__typename !== 'DeleteServerSuccess')
    throw new Error(`deleteServer: ${JSON.stringify(data.deleteServer)}`);
}

/** A server came to rest in another status than the one waited for (a failed job). */
export class StatusError extends Error {
  constructor(
    readonly id: string,
    readonly wanted: string,
    readonly got: string,
  ) {
    super(`server ${id} came to rest in ${got}, not ${wanted}`);
  }
}

/**
 * One `subscription { servers { id status taskState } }` (every change to the project's servers)
 * that records, per server, each status it came to rest in (no task running) and when
 * (CLOCK_MONOTONIC ns). A server's events may arrive before its createServer response: they are
 * kept, and `when` resolves at once.
 */
export class StatusWatch {
  private readonly rests = new Map<string, Array<{ status: string; at: bigint }>>();
  private readonly waiters = new Map<string, Array<() => void>>();
  private readonly client: Client;
  private readonly connected: Promise<void>;
  events = 0;

  constructor(s: ChildStratus, token: string) {
    let onConnected!: () => void;
    this.connected = new Promise((resolve) => {
      onConnected = resolve;
    });
    this.client = createClient({
      url: s.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      connectionParams: { authorization: `Bearer ${token}` },
      on: { connected: () => onConnected() },
    });
  }

  /**
   * Subscribes, and returns once the socket is acknowledged plus a moment for the server to
   * open the stream (the warm-up servers then prove it live: they wait on it).
   */
  async start(): Promise<void> {
    this.client.subscribe(
      { query: 'subscription { servers { id status taskState } }' },
      {
        next: (value) => {
          const server = (value.data as Json)?.servers;
          if (!server) return;
          this.events++;
          if (server.taskState !== null) return;
          const list = this.rests.get(server.id) ?? [];
          list.push({ status: server.status, at: nowNs() });
          this.rests.set(server.id, list);
          for (const w of this.waiters.get(server.id) ?? []) w();
          this.waiters.delete(server.id);
        },
        error: (error) => console.error('servers subscription ended:', error),
        complete: () => {},
      },
    );
    await this.connected;
    await new Promise((r) => setTimeout(r, 300));
  }

  /**
   * When `id` next came to rest in `status` after `since` (ns), waiting for it. Throws
   * StatusError when it came to rest in another status after `since` first.
   */
  async when(id: string, status: string, since: bigint, timeoutMs = 300_000): Promise<bigint> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const first = this.rests.get(id)?.find((r) => r.at >= since);
      if (first?.status === status) return first.at;
      if (first) throw new StatusError(id, status, first.status);
      if (Date.now() > deadline) throw new Error(`server ${id} never reached ${status}`);
      await new Promise<void>((resolve) => {
        const list = this.waiters.get(id) ?? [];
        list.push(resolve);
        this.waiters.set(id, list);
        setTimeout(resolve, 1000).unref();
      });
    }
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }
}

// ---------------------------------------------------------------- probes

/** SQL statements Stratus issued through drizzle so far (stratus_db_queries_total). */
export async function dbQueries(s: ChildStratus): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('stratus_db_queries_total '));
  return line ? Number(line.split(' ')[1]) : Number.NaN;
}

const CLK_TCK = 100;

/** utime+stime of one process in seconds (and of its reaped children with `children`). */
function processCpu(pid: number, children = false): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    const own = Number(f[11]) + Number(f[12]);
    return (children ? own + Number(f[13]) + Number(f[14]) : own) / CLK_TCK;
  } catch {
    return 0;
  }
}

function parentOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/** The postmaster's pid when PostgreSQL runs on this machine and tells us its data folder. */
export async function postmasterPid(databaseUrl: string): Promise<number | null> {
  const client = await pgClient(databaseUrl);
  try {
    const { rows } = await client.query(`select current_setting('data_directory') as dir`);
    const pid = Number(
      fs.readFileSync(path.join(rows[0].dir, 'postmaster.pid'), 'utf8').split('\n')[0],
    );
    return Number.isInteger(pid) && fs.existsSync(`/proc/${pid}`) ? pid : null;
  } catch {
    return null;
  } finally {
    await client.end();
  }
}

/** CPU seconds of the postmaster, its live children and its reaped children. */
function postgresCpu(postmaster: number): number {
  let total = processCpu(postmaster, true);
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid !== postmaster && parentOf(pid) === postmaster) total += processCpu(pid);
  }
  return total;
}

/** Busy and total jiffies of the whole machine (all CPUs). */
function machineCpu(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
}

export interface CpuSnapshot {
  at: bigint;
  stratus: number;
  client: number;
  postgres: number | null;
  machineBusy: number;
}

export function cpuSnapshot(stratusPid: number, postmaster: number | null): CpuSnapshot {
  const u = process.cpuUsage();
  return {
    at: nowNs(),
    stratus: processCpu(stratusPid),
    client: (u.user + u.system) / 1e6,
    postgres: postmaster === null ? null : postgresCpu(postmaster),
    machineBusy: machineCpu().busy,
  };
}

/** CPU used between two snapshots, in cores (1.0 = one core busy all the time). */
export function cpuCores(a: CpuSnapshot, b: CpuSnapshot) {
  const seconds = Number(b.at - a.at) / 1e9;
  const rate = (x: number, y: number) => (y - x) / seconds;
  return {
    stratus: rate(a.stratus, b.stratus),
    client: rate(a.client, b.client),
    postgres: a.postgres === null || b.postgres === null ? null : rate(a.postgres, b.postgres),
    machine: rate(a.machineBusy, b.machineBusy),
  };
}

/**
 * Samples pg_stat_activity of one database every `everyMs`: the mean number of Stratus backends
 * running, waiting on each kind of lock, and idle inside a transaction (waiting for Node), plus
 * the statements most often seen waiting on a lock.
 */
export class ActivitySampler {
  private readonly client: pg.Client;
  private timer: NodeJS.Timeout | null = null;
  private samples = 0;
  private readonly totals = new Map<string, number>();
  private readonly waitingQueries = new Map<string, number>();
  private busy = false;

  constructor(databaseUrl: string) {
    this.client = new pg.Client({ connectionString: databaseUrl });
    this.client.on('error', () => {});
  }

  async start(everyMs = 100): Promise<void> {
    await this.client.connect();
    this.timer = setInterval(() => void this.sample(), everyMs);
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { rows } = await this.client.query(
        `select state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) as query
           from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`,
      );
      this.samples++;
      for (const r of rows) {
        let key: string | null = null;
        if (r.state === 'idle in transaction') key = 'idle in transaction';
        else if (r.state === 'active' && r.wait_event_type === 'Lock') {
          key = `lock: ${r.wait_event}`;
          const q = `${r.wait_event}: ${r.query}`;
          this.waitingQueries.set(q, (this.waitingQueries.get(q) ?? 0) + 1);
        } else if (r.state === 'active' && r.wait_event_type === 'Client')
          key = 'active, client I/O';
        else if (r.state === 'active') key = 'active';
        if (key) this.totals.set(key, (this.totals.get(key) ?? 0) + 1);
      }
    } catch {
      // A sample lost while the database is busy is no failure.
    } finally {
      this.busy = false;
    }
  }

  /** Mean backends per state over the samples, and the top lock waits. */
  async stop(): Promise<{
    samples: number;
    mean: Record<string, number>;
    topWaits: Array<[string, number]>;
  }> {
    if (this.timer) clearInterval(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 10));
    await this.client.end();
    const mean: Record<string, number> = {};
    for (const [k, v] of this.totals) mean[k] = v / Math.max(1, this.samples);
    const topWaits = [...this.waitingQueries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([q, n]) => [q, n / Math.max(1, this.samples)] as [string, number]);
    return { samples: this.samples, mean, topWaits };
  }
}

/** Runs `n` workers over `work`; each worker takes the next index until `count` are taken. */
export async function pool(
  workers: number,
  count: number,
  work: (index: number, worker: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (next < count) {
        const i = next++;
        await work(i, w);
      }
    }),
  );
}
