/**
 * What Stratus's HTTP pipeline (express, body parsing, token validation, armor limits, metrics,
 * request ids, Pothos auth scopes) costs over a bare Apollo Server answering the same shape.
 * autocannon runs in a child process (bench/load.ts); every server runs in this process.
 *
 *   npx tsx bench/http-overhead.ts
 *
 * Env: HTTP_CONNECTIONS (50), HTTP_SECONDS (10), HTTP_WARMUP_SECONDS (2), HTTP_ROUNDS (2).
 */
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import type { LoadJob, LoadResult } from './load';
import {
  type BenchStratus,
  fmt,
  forkScript,
  gql,
  machineLine,
  printTable,
  runMain,
  startBenchStratus,
  startDatabase,
} from './support';

const CONNECTIONS = Number(process.env.HTTP_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.HTTP_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.HTTP_WARMUP_SECONDS ?? 2);
const ROUNDS = Number(process.env.HTTP_ROUNDS ?? 2);

interface Target {
  name: string;
  url: string;
  query: string;
  token: string | null;
  /** What `data` must be, checked once before the load. */
  expect: string;
}

function load(target: Target, duration: number): Promise<LoadResult> {
  const job: LoadJob = {
    url: target.url,
    body: JSON.stringify({ query: target.query }),
    headers: {
      'content-type': 'application/json',
      ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
    },
    connections: CONNECTIONS,
    duration,
  };
  const child = forkScript('load.ts');
  return new Promise((resolve, reject) => {
    child.once('message', (result) => resolve(result as LoadResult));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load child exited with ${code}`));
    });
    child.send(job);
  });
}

const oneField = () =>
  new ApolloServer({
    typeDefs: 'type Query { roles: [String!]! }',
    resolvers: { Query: { roles: () => ['admin', 'member', 'reader'] } },
  });

async function startBareApollo(): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = oneField();
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
  return { url, stop: () => server.stop() };
}

/** The same one-field server behind express 5 + express.json + expressMiddleware, as Stratus mounts Apollo. */
async function startExpressApollo(): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = oneField();
  await server.start();
  const app = express();
  app.use('/graphql', express.json(), expressMiddleware(server));
  const http = await new Promise<import('node:http').Server>((resolve) => {
    const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
  });
  const { port } = http.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    stop: async () => {
      await server.stop();
      await new Promise((r) => http.close(r));
    },
  };
}

runMain(async () => {
  process.stdout.write('== bench/http-overhead.ts ==\n');
  const db = await startDatabase();
  process.stdout.write(`${machineLine(db.source)}\n`);
  let s: BenchStratus | null = null;
  let bare: Awaited<ReturnType<typeof startBareApollo>> | null = null;
  let viaExpress: Awaited<ReturnType<typeof startExpressApollo>> | null = null;
  try {
    s = await startBenchStratus(db.url);
    bare = await startBareApollo();
    viaExpress = await startExpressApollo();
    const token = await s.adminLogin();
    const targets: Target[] = [
      {
        name: 'Stratus { viewer { roles } } + Bearer',
        url: s.graphqlUrl,
        query: '{ viewer { roles } }',
        token,
        expect: '{"viewer":{"roles":["admin","member","reader"]}}',
      },
      {
        name: 'bare Apollo { roles }',
        url: bare.url,
        query: '{ roles }',
        token: null,
        expect: '{"roles":["admin","member","reader"]}',
      },
      {
        name: 'Apollo on express 5 { roles }',
        url: viaExpress.url,
        query: '{ roles }',
        token: null,
        expect: '{"roles":["admin","member","reader"]}',
      },
      {
        name: 'Stratus { __typename } + Bearer',
        url: s.graphqlUrl,
        query: '{ __typename }',
        token,
        expect: '{"__typename":"Query"}',
      },
      {
        name: 'Stratus { __typename } anonymous',
        url: s.graphqlUrl,
        query: '{ __typename }',
        token: null,
        expect: '{"__typename":"Query"}',
      },
      {
        name: 'bare Apollo { __typename }',
        url: bare.url,
        query: '{ __typename }',
        token: null,
        expect: '{"__typename":"Query"}',
      },
    ];
    for (const t of targets) {
      const result = await gql(t.url, t.query, undefined, t.token);
      if (JSON.stringify(result.data) !== t.expect || result.errors)
        throw new Error(`${t.name}: unexpected answer ${JSON.stringify(result)}`);
    }

    const byTarget = new Map<string, LoadResult[]>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        if (WARMUP_SECONDS > 0) await load(t, WARMUP_SECONDS);
        const r = await load(t, SECONDS);
        byTarget.set(t.name, [...(byTarget.get(t.name) ?? []), r]);
      }
    }
    const rows: Array<Array<string | number>> = [
      ['target', 'round', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors'],
    ];
    for (const t of targets) {
      for (const [i, r] of byTarget.get(t.name)!.entries()) {
        rows.push([
          t.name,
          i + 1,
          fmt(r.reqPerSec),
          fmt(r.p50, 0),
          fmt(r.p99, 0),
          fmt(r.max, 0),
          r.non2xx,
          r.errors + r.timeouts,
        ]);
      }
    }
    printTable(
      `HTTP POST /graphql, autocannon ${CONNECTIONS} connections, ${SECONDS} s per row (after ${WARMUP_SECONDS} s warm-up)`,
      rows,
    );
    const rate = (name: string, i: number) => byTarget.get(name)![i].reqPerSec;
    const ratioRows: Array<Array<string | number>> = [['ratio (req/s)', 'round', 'value']];
    for (let i = 0; i < ROUNDS; i++) {
      ratioRows.push([
        'Stratus viewer.roles+Bearer / bare Apollo roles (goal >= 80%)',
        i + 1,
        `${fmt((100 * rate(targets[0].name, i)) / rate(targets[1].name, i), 1)}%`,
      ]);
      ratioRows.push([
        'Apollo on express 5 roles / bare Apollo roles',
        i + 1,
        `${fmt((100 * rate(targets[2].name, i)) / rate(targets[1].name, i), 1)}%`,
      ]);
      ratioRows.push([
        'Stratus viewer.roles+Bearer / Apollo on express 5 roles',
        i + 1,
        `${fmt((100 * rate(targets[0].name, i)) / rate(targets[2].name, i), 1)}%`,
      ]);
      ratioRows.push([
        'Stratus __typename+Bearer / Stratus __typename anonymous',
        i + 1,
        `${fmt((100 * rate(targets[3].name, i)) / rate(targets[4].name, i), 1)}%`,
      ]);
      ratioRows.push([
        'Stratus __typename anonymous / bare Apollo __typename',
        i + 1,
        `${fmt((100 * rate(targets[4].name, i)) / rate(targets[5].name, i), 1)}%`,
      ]);
    }
    printTable('ratios, same run', ratioRows);
  } finally {
    await viaExpress?.stop();
    await bare?.stop();
    await s?.stop();
    await db.stop();
  }
});
