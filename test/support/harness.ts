import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { type Client, createClient } from 'graphql-ws';
import pg from 'pg';
import { inject } from 'vitest';
import WebSocket from 'ws';
import { type RunningStratus, startStratus } from '../../server/app';
import { loadConfig, type StratusConfig } from '../../server/config';
import { ensureDatabase } from '../../server/embedded-postgres';
import { type GqlResult, type Json, postGraphQL, postGraphQLOk } from './graphql-client';

export const ADMIN_PASSWORD = 'admin-password-1';

export type { GqlResult, Json };

export interface TestStratus {
  url: string;
  wsUrl: string;
  stratus: RunningStratus;
  config: StratusConfig;
  databaseUrl: string;
  adminToken: string;
  defaultDomainId: string;
  adminProjectId: string;
  gql(
    query: string,
    variables?: Record<string, unknown>,
    token?: string | null,
  ): Promise<GqlResult>;
  /** Like gql, but fails the test on any error, and returns data. */
  ok(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<Json>;
  login(userName: string, password: string, scope?: Record<string, unknown>): Promise<string>;
  subscribe(
    query: string,
    variables?: Record<string, unknown>,
    token?: string | null,
  ): Subscription;
  stop(): Promise<void>;
}

export interface Subscription {
  /** Values received so far. */
  values: Json[];
  /** Waits until at least `n` values arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<Json[]>;
  /** Resolves when the server ends the subscription or closes the socket, with the reason. */
  ended: Promise<{ error?: unknown; closeCode?: number }>;
  close(): void;
  client: Client;
}

/** A database of its own on the run's PostgreSQL server. */
export async function createTestDatabase(): Promise<string> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `stratus_t_${randomBytes(6).toString('hex')}`;
  await ensureDatabase(adminUrl, name);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropTestDatabase(databaseUrl: string): Promise<void> {
  const name = new URL(databaseUrl).pathname.slice(1);
  const client = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await client.connect();
  await client.query(`drop database if exists "${name}" with (force)`);
  await client.end();
}

/** Test configuration: quiet, on a random port, test jobs on, generous login limits. */
export function testConfig(
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
    enableTestJobs: true,
    logLevel: 'silent',
    workerConcurrency: 2,
    objects: {
      ...base.objects,
      driver: 'filesystem',
      driverConfig: { root: fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-objects-')) },
    },
    // The fake compute driver unless a test asks for QEMU (qemuCompute in test/support/compute.ts).
    compute: {
      ...base.compute,
      driver: 'fake',
      driverConfig: {},
      imageCacheDir: fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-image-cache-')),
      shutdownTimeoutMs: 5_000,
    },
    // The file volume driver (real qemu-img) in a temp folder; a test may pass its own `volume`.
    volume: {
      ...base.volume,
      driver: 'file',
      driverConfig: { root: fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-volumes-')) },
      detachTimeoutMs: 2_000,
    },
    // The fake network driver (records what it is told); a test may pass its own `network`.
    network: { ...base.network, driver: 'fake', driverConfig: {} },
    ...overrides,
    limits: { ...base.limits, loginPerMinute: 10_000, ...overrides.limits },
    security: { ...base.security, ...overrides.security },
  };
}

/** Starts a real Stratus (HTTP + WebSocket + worker) on a fresh database. */
export async function startTestStratus(
  overrides: Partial<StratusConfig> = {},
  existingDatabaseUrl?: string,
): Promise<TestStratus> {
  const databaseUrl = existingDatabaseUrl ?? (await createTestDatabase());
  const config = testConfig(databaseUrl, overrides);
  const stratus = await startStratus(config);
  const url = stratus.url;
  const wsUrl = `${url.replace(/^http/, 'ws')}/graphql`;
  const clients = new Set<Client>();

  const gql = (query: string, variables?: Record<string, unknown>, token?: string | null) =>
    postGraphQL(`${url}/graphql`, query, variables, token);
  const ok = (query: string, variables?: Record<string, unknown>, token?: string | null) =>
    postGraphQLOk(`${url}/graphql`, query, variables, token);
  const login = async (userName: string, password: string, scope?: Record<string, unknown>) => {
    const data = await ok(
      `mutation($input: LoginInput!) { login(input: $input) { __typename ... on LoginSuccess { data { token } } ... on Error { message } } }`,
      { input: { userName, password, scope } },
    );
    if (data.login.__typename !== 'LoginSuccess')
      throw new Error(`login failed: ${JSON.stringify(data.login)}`);
    return data.login.data.token as string;
  };
  const subscribe = (
    query: string,
    variables?: Record<string, unknown>,
    token?: string | null,
  ): Subscription => {
    let closeCode: number | undefined;
    const client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
      on: {
        closed: (event) => {
          closeCode = (event as { code?: number }).code;
        },
      },
    });
    clients.add(client);
    const values: Json[] = [];
    const waiters: Array<() => void> = [];
    let resolveEnded!: (v: { error?: unknown; closeCode?: number }) => void;
    const ended = new Promise<{ error?: unknown; closeCode?: number }>((r) => {
      resolveEnded = r;
    });
    const unsubscribe = client.subscribe(
      { query, variables },
      {
        next: (value) => {
          values.push(value);
          for (const w of waiters.splice(0)) w();
        },
        error: (error) =>
          resolveEnded({ error, closeCode: closeCode ?? (error as { code?: number })?.code }),
        complete: () => resolveEnded({ closeCode }),
      },
    );
    return {
      values,
      ended,
      client,
      close: () => {
        unsubscribe();
        void client.dispose();
      },
      waitFor: async (n, timeoutMs = 20_000) => {
        const deadline = Date.now() + timeoutMs;
        while (values.length < n) {
          if (Date.now() > deadline)
            throw new Error(`timed out waiting for ${n} values, have ${JSON.stringify(values)}`);
          await new Promise<void>((r) => {
            waiters.push(r);
            setTimeout(r, 100);
          });
        }
        return values;
      },
    };
  };

  const adminToken = await login('admin', ADMIN_PASSWORD, { projectName: 'admin' });
  return {
    url,
    wsUrl,
    stratus,
    config,
    databaseUrl,
    adminToken,
    defaultDomainId: encodeGlobalID('Domain', stratus.bootstrap.defaultDomainId),
    adminProjectId: encodeGlobalID('Project', stratus.bootstrap.adminProjectId),
    gql,
    ok,
    login,
    subscribe,
    stop: async () => {
      for (const c of clients) await c.dispose();
      await stratus.stop();
      if (!existingDatabaseUrl) await dropTestDatabase(databaseUrl);
      if (config.objects.driver === 'filesystem' && !overrides.objects) {
        fs.rmSync(String(config.objects.driverConfig.root), { recursive: true, force: true });
      }
      if (config.volume.driver === 'file' && !overrides.volume) {
        fs.rmSync(String(config.volume.driverConfig.root), { recursive: true, force: true });
      }
    },
  };
}
