/**
 * Part 2 of bench/servers.ts: listing. `rows` servers are inserted straight into `servers` with
 * SQL (one project, three flavors, two images, spread creation times), with 1.8 instance
 * actions per server on average (every server `create`, every second one `stop`, three in ten
 * `start`), then ANALYZE. A member of the project then asks for pages over HTTP, one
 * request at a time. Stratus runs without a compute driver (`none`): listing needs none.
 */
import path from 'node:path';
import { loadConfig } from '../server/config';
import { createFlavor, emptyDisk, uploadImage } from '../test/support/compute';
import {
  buildWorld,
  dbQueries,
  freshDatabase,
  ms,
  pgClient,
  postGraphQL,
  rawId,
  startChildStratus,
  tempDir,
} from './servers-common';
import { type BenchDatabase, fmt, nowNs, printTable, summarize } from './support';

export interface ListOptions {
  rows: number;
  requests: number;
}

const QUERY = `query($first: Int!) { servers(first: $first) { edges { node { id name status flavor { name vcpus flavor { id name } } image { id name } keyName lastAction { action startTime } } } } }`;

export interface ListResult {
  options: ListOptions;
  insertSeconds: number;
  actions: number;
  http: Array<{ first: number; latency: ReturnType<typeof summarize>; edges: number }>;
  sql: Array<{ first: number; perRequest: number[] }>;
  /** The page statement alone, sent by this script with pg (same SQL as selectPage). */
  pageSql: ReturnType<typeof summarize>;
  lastActionSql: ReturnType<typeof summarize>;
  explain: string[];
}

export async function runList(db: BenchDatabase, options: ListOptions): Promise<ListResult> {
  const databaseUrl = await freshDatabase(db, 'stratus_servers_list');
  const work = tempDir('stratus-bench-list-');
  const base = loadConfig({});
  const s = await startChildStratus(databaseUrl, {
    objects: {
      driver: 'filesystem',
      driverConfig: { root: path.join(work, 'objects') },
      maxObjectBytes: 5 * 1024 ** 3,
    },
    compute: { ...base.compute, driver: 'none', driverConfig: {} },
  });
  const client = await pgClient(databaseUrl);
  try {
    const world = await buildWorld(s);
    const flavorIds = [
      world.flavorId,
      await createFlavor(world.client, { name: 'bench.small', vcpus: 2, ramMib: 2048 }),
      await createFlavor(world.client, { name: 'bench.medium', vcpus: 4, ramMib: 4096 }),
    ].map(rawId);
    const imageIds: string[] = [];
    for (const name of ['debian-12', 'ubuntu-24.04']) {
      const id = await uploadImage(
        world.client,
        world.memberToken,
        { name, diskFormat: 'raw' },
        emptyDisk(),
      );
      imageIds.push(rawId(id));
    }

    const started = nowNs();
    await client.query(
      `insert into servers (project_id, user_id, name, vm_state, power_state, image_id, flavor_id,
                            flavor, key_name, availability_zone, host, launched_at, created_at, updated_at)
       select $1, $2, 'list-' || lpad(g::text, 6, '0'),
              case when g % 2 = 0 then 'stopped'::vm_state else 'active'::vm_state end,
              case when g % 2 = 0 then 'shutdown'::power_state else 'running'::power_state end,
              ($3::uuid[])[1 + g % 2], f.id,
              jsonb_build_object('flavorId', f.id, 'name', f.name, 'vcpus', f.vcpus, 'ramMib', f.ram_mib,
                                 'rootDiskGib', f.root_disk_gib, 'ephemeralGib', f.ephemeral_gib, 'swapMib', f.swap_mib),
              'bench-key', 'nova', 'bench-host-' || (g % 4), t.ts + interval '20 seconds', t.ts, t.ts
         from generate_series(1, $5::int) g
         cross join lateral (select now() - make_interval(mins => $5::int - g) as ts) t
         join flavors f on f.id = ($4::uuid[])[1 + g % 3]`,
      [world.projectRawId, world.userRawId, imageIds, flavorIds, options.rows],
    );
    const inserted = await client.query(
      `insert into instance_actions (server_id, project_id, user_id, action, request_id, start_time, finish_time)
       select s.id, s.project_id, s.user_id, a.action, 'req-bench-' || a.action,
              s.created_at + a.after, s.created_at + a.after + interval '3 seconds'
         from servers s
         cross join lateral (values ('create', interval '0 s', true),
                                    ('stop', interval '10 min', s.vm_state = 'stopped'),
                                    ('start', interval '5 min', s.name ~ '[048]$')) as a(action, after, wanted)
        where s.project_id = $1 and a.wanted`,
      [world.projectRawId],
    );
    await client.query('analyze servers; analyze instance_actions');
    const insertSeconds = ms(started, nowNs()) / 1000;

    const http: ListResult['http'] = [];
    const sql: ListResult['sql'] = [];
    const ask = async (first: number) => {
      const result = await postGraphQL(s.graphqlUrl, QUERY, { first }, world.memberToken);
      if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
      const edges = result.data.servers.edges;
      if (edges[0]?.node.lastAction === null || edges[0]?.node.flavor.flavor === null)
        throw new Error(`unexpected page: ${JSON.stringify(edges[0])}`);
      return edges.length as number;
    };
    for (const first of [10, 100]) {
      for (let i = 0; i < 20; i++) await ask(first); // warm-up
      const latencies: number[] = [];
      let edges = 0;
      for (let i = 0; i < options.requests; i++) {
        const t = nowNs();
        edges = await ask(first);
        latencies.push(ms(t, nowNs()));
      }
      http.push({ first, latency: summarize(latencies), edges });
    }
    for (const first of [10, 100]) {
      const perRequest: number[] = [];
      for (let i = 0; i < 5; i++) {
        const before = await dbQueries(s);
        await ask(first);
        perRequest.push((await dbQueries(s)) - before);
      }
      sql.push({ first, perRequest });
    }

    // The statements themselves, as Stratus sends them (selectPage; latestServerActions).
    const pageStatement = `select *, cast(count(*) over () as integer) from servers
       where project_id = $1 and vm_state <> 'deleted' order by created_at desc, id asc limit 100 offset 0`;
    const timeIt = async (text: string, params: unknown[]) => {
      const samples: number[] = [];
      for (let i = 0; i < options.requests + 20; i++) {
        const t = nowNs();
        await client.query(text, params);
        if (i >= 20) samples.push(ms(t, nowNs()));
      }
      return summarize(samples);
    };
    const pageSql = await timeIt(pageStatement, [world.projectRawId]);
    const { rows: page } = await client.query(pageStatement, [world.projectRawId]);
    const ids = page.map((r) => r.id);
    const lastActionStatement = `select distinct on (server_id) * from instance_actions
       where server_id = any($1::uuid[]) order by server_id, start_time desc, id desc`;
    const lastActionSql = await timeIt(lastActionStatement, [ids]);
    const explain = (
      await client.query(`explain (analyze, buffers off, timing off) ${pageStatement}`, [
        world.projectRawId,
      ])
    ).rows.map((r) => r['QUERY PLAN'] as string);
    return {
      options,
      insertSeconds,
      actions: inserted.rowCount ?? 0,
      http,
      sql,
      pageSql,
      lastActionSql,
      explain,
    };
  } finally {
    await client.end();
    await s.stop();
  }
}

export function printList(r: ListResult): void {
  process.stdout.write(
    `\nlist: ${fmt(r.options.rows)} servers and ${fmt(r.actions)} instance actions inserted with SQL (and ANALYZE) in ${fmt(r.insertSeconds, 1)} s\n`,
  );
  printTable(
    `servers(first: N) { … flavor { name vcpus flavor { id name } } image { id name } keyName lastAction { action startTime } } as a project member, ${r.options.requests} requests one at a time (ms)`,
    [
      [
        'first',
        'edges',
        'p50',
        'p90',
        'p99',
        'max',
        'mean',
        'SQL statements per request (5 readings)',
      ],
      ...r.http.map((h) => [
        h.first,
        h.edges,
        fmt(h.latency.p50, 1),
        fmt(h.latency.p90, 1),
        fmt(h.latency.p99, 1),
        fmt(h.latency.max, 1),
        fmt(h.latency.mean, 1),
        r.sql.find((x) => x.first === h.first)?.perRequest.join(', ') ?? '',
      ]),
    ],
  );
  printTable('The statements alone, sent with pg from this script (ms)', [
    ['statement', 'p50', 'p99'],
    [
      'page (selectPage: count(*) over (), order by created_at desc, limit 100)',
      fmt(r.pageSql.p50, 2),
      fmt(r.pageSql.p99, 2),
    ],
    [
      'lastAction (distinct on server_id) for those 100',
      fmt(r.lastActionSql.p50, 2),
      fmt(r.lastActionSql.p99, 2),
    ],
  ]);
  process.stdout.write(
    `\nEXPLAIN ANALYZE of the page statement:\n${r.explain.map((l) => `  ${l}`).join('\n')}\n`,
  );
}
