/**
 * Shared setup for the benchmarks: a PostgreSQL (embedded in a temporary folder, or the one
 * DATABASE_URL names), Stratus started in-process, small GraphQL helpers and table printing.
 * Nothing here asserts on time: the scripts only print what they measured.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunningStratus, startStratus } from '../server/app';
import { loadConfig, type StratusConfig } from '../server/config';
import { startEmbeddedPostgres } from '../server/embedded-postgres';
import {
  type GqlResult,
  type Json,
  postGraphQL,
  postGraphQLOk,
} from '../test/support/graphql-client';

export const ADMIN_PASSWORD = 'bench-password-1';
export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

export type { GqlResult, Json };

export interface BenchDatabase {
  url: string;
  /** Where the data came from, for the printed header. */
  source: 'embedded' | 'DATABASE_URL';
  stop(): Promise<void>;
}

/** The database of DATABASE_URL, or an embedded PostgreSQL in a temporary folder removed at stop. */
export async function startDatabase(): Promise<BenchDatabase> {
  if (process.env.DATABASE_URL) {
    return { url: process.env.DATABASE_URL, source: 'DATABASE_URL', stop: async () => {} };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bench-'));
  try {
    const db = await startEmbeddedPostgres(dir, 'stratus');
    return {
      url: db.url,
      source: 'embedded',
      stop: async () => {
        await db.stop().catch(() => {});
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Quiet configuration on a random loopback port, with login throttling out of the way. */
export function benchConfig(
  databaseUrl: string,
  overrides: Partial<StratusConfig> = {},
): StratusConfig {
  const base = loadConfig({});
  return {
    ...base,
    host: '127.0.0.1',
    port: 0,
    databaseUrl,
    adminPassword: ADMIN_PASSWORD,
    logLevel: 'silent',
    ...overrides,
    limits: { ...base.limits, loginPerMinute: 1_000_000, ...overrides.limits },
  };
}

export interface BenchStratus {
  stratus: RunningStratus;
  url: string;
  graphqlUrl: string;
  wsUrl: string;
  gql(
    query: string,
    variables?: Record<string, unknown>,
    token?: string | null,
  ): Promise<GqlResult>;
  ok(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<Json>;
  /** Logs in as the bootstrap admin, scoped to the admin project. */
  adminLogin(): Promise<string>;
  stop(): Promise<void>;
}

/** Kept under its old name for the benchmark scripts. */
export const gql = postGraphQL;

export const LOGIN_MUTATION = `mutation($input: LoginInput!) { login(input: $input) { __typename ... on LoginSuccess { data { token } } ... on Error { message } } }`;

export async function startBenchStratus(
  databaseUrl: string,
  overrides: Partial<StratusConfig> = {},
): Promise<BenchStratus> {
  const stratus = await startStratus(benchConfig(databaseUrl, overrides));
  const graphqlUrl = `${stratus.url}/graphql`;
  const run = (q: string, v?: Record<string, unknown>, t?: string | null) =>
    postGraphQL(graphqlUrl, q, v, t);
  const ok = (q: string, v?: Record<string, unknown>, t?: string | null) =>
    postGraphQLOk(graphqlUrl, q, v, t);
  return {
    stratus,
    url: stratus.url,
    graphqlUrl,
    wsUrl: graphqlUrl.replace(/^http/, 'ws'),
    gql: run,
    ok,
    adminLogin: async () => {
      const data = await ok(LOGIN_MUTATION, {
        input: { userName: 'admin', password: ADMIN_PASSWORD, scope: { projectName: 'admin' } },
      });
      if (data.login.__typename !== 'LoginSuccess')
        throw new Error(`login failed: ${JSON.stringify(data.login)}`);
      return data.login.data.token as string;
    },
    stop: () => stratus.stop(),
  };
}

/** Value at quantile `q` (0..1) of an ascending array (nearest rank). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export function summarize(samples: number[]) {
  const sorted = Float64Array.from(samples).sort();
  const sum = samples.reduce((a, b) => a + b, 0);
  return {
    n: samples.length,
    mean: samples.length ? sum / samples.length : Number.NaN,
    min: sorted[0] ?? Number.NaN,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** Fixed-point rendering with thousands separators: 1234567.8 -> "1,234,567.8". */
export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Prints a titled table; the first row is the header. Numbers right-aligned, text left. */
export function printTable(title: string, rows: Array<Array<string | number>>): void {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    `| ${r
      .map((c, i) =>
        /^[-\d.,]+( ?[a-z%/µ]+)?$/i.test(c) && i > 0 ? c.padStart(widths[i]) : c.padEnd(widths[i]),
      )
      .join(' | ')} |`;
  const out = [`\n${title}`, line(cells[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`];
  for (const r of cells.slice(1)) out.push(line(r));
  process.stdout.write(`${out.join('\n')}\n`);
}

/** One line describing where the run happened, printed by each script. */
export function machineLine(dbSource: string): string {
  const cpus = os.cpus();
  return `machine: ${cpus.length} x ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}; PostgreSQL: ${dbSource}`;
}

/** Starts a bench helper script as a child process with IPC, running TypeScript through tsx. */
export function forkScript(name: string, env: Record<string, string> = {}): ChildProcess {
  return fork(path.join(BENCH_DIR, name), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Runs `main`, then exits 0 (or 1 on error) so stray handles never keep the script alive. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Nanoseconds since an arbitrary point; CLOCK_MONOTONIC, so comparable between processes. */
export const nowNs = () => process.hrtime.bigint();

export const CREATE_PROJECT = `mutation($input: CreateProjectInput!) { createProject(input: $input) { __typename ... on Error { message } } }`;

/** Global id of the Default domain. */
export async function defaultDomainId(s: BenchStratus, token: string): Promise<string> {
  const data = await s.ok(
    `{ domains(filter: { name: "Default" }) { edges { node { id } } } }`,
    {},
    token,
  );
  return data.domains.edges[0].node.id as string;
}

/** Creates a project (one identity event); throws unless it succeeded. */
export async function createProject(
  s: BenchStratus,
  token: string,
  domainId: string,
  name: string,
): Promise<void> {
  const data = await s.ok(CREATE_PROJECT, { input: { domainId, name } }, token);
  if (data.createProject.__typename !== 'CreateProjectSuccess')
    throw new Error(`createProject failed: ${JSON.stringify(data.createProject)}`);
}

/** RSS and peak RSS (VmHWM) of a process, in bytes, from /proc. */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kib('VmRSS') * 1024, hwm: kib('VmHWM') * 1024 };
}

/** Runs a command to its end, output ignored; rejects naming it when it exits non-zero. */
export function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}`)),
    );
  });
}
