/**
 * `npx tsx bench/ports.ts`: createPort with IPAM through GraphQL under 20 concurrent clients,
 * against a Stratus child process on the fake network driver (the data path is not measured
 * here: bench/port-plug.ts does OVS). Each client sends createPort back to back; ports
 * accepted per second is the number of CreatePortSuccess answers over the wall time of the
 * phase, and the latency is that of each request. Three shapes:
 *
 * - `one project, one /16`: every client in the admin project, one network (one quota row and
 *   one DHCP-hosts sync job key for everyone: the worst contention);
 * - `20 projects, own /16 each`: each client creates ports for its own project (admins may) on
 *   its own network;
 * - `one project, one /22`: a smaller subnet where random picks start to collide.
 *
 * Environment: PORTS_COUNT (ports per phase, default 3000), PORTS_CLIENTS (default 20).
 * Anchor: Neutron's published control-plane runs held 5-10 network+port requests/s with a
 * port-create median of 370 ms.
 */
import { loadConfig } from '../server/config';
import {
  ActivitySampler,
  cpuCores,
  cpuSnapshot,
  freshDatabase,
  ms,
  pgClient,
  pool,
  postGraphQLOk,
  postmasterPid,
  startChildStratus,
} from './servers-common';
import {
  ADMIN_PASSWORD,
  fmt,
  LOGIN_MUTATION,
  machineLine,
  nowNs,
  printTable,
  runMain,
  startDatabase,
  summarize,
} from './support';

const COUNT = Number(process.env.PORTS_COUNT ?? 3000);
const CLIENTS = Number(process.env.PORTS_CLIENTS ?? 20);
const WARMUP = 100;

const CREATE_PORT = `mutation($input: CreatePortInput!) { createPort(input: $input) {
  __typename ... on Error { message } ... on CreatePortSuccess { port { id fixedIps { ipAddress } } } } }`;

interface Phase {
  name: string;
  /** One network per client index (the same id for all in the one-project shapes). */
  networkFor: (client: number) => string;
  projectFor: (client: number) => string | null;
}

runMain(async () => {
  const db = await startDatabase();
  const url = await freshDatabase(db, 'bench_ports');
  // A what-if: commits that do not wait for the WAL flush (the event lock is held through it).
  if (process.env.PORTS_ASYNC_COMMIT === '1') {
    const client = await pgClient(url);
    await client.query('alter database bench_ports set synchronous_commit = off');
    await client.end();
  }
  const base = loadConfig({});
  const s = await startChildStratus(url, {
    workerConcurrency: 4,
    compute: { ...base.compute, driver: 'none' },
    volume: { ...base.volume, driver: 'none' },
    network: { ...base.network, driver: 'fake', driverConfig: {} },
  });
  try {
    const ok = (q: string, v: Record<string, unknown>, t: string | null) =>
      postGraphQLOk(s.graphqlUrl, q, v, t);
    const login = await ok(
      LOGIN_MUTATION,
      { input: { userName: 'admin', password: ADMIN_PASSWORD, scope: { projectName: 'admin' } } },
      null,
    );
    const token = login.login.data.token as string;
    const viewer = await ok('{ viewer { project { id } } }', {}, token);
    const adminProject = viewer.viewer.project.id as string;
    const domain = (
      await ok('{ domains(filter: { name: "Default" }) { edges { node { id } } } }', {}, token)
    ).domains.edges[0].node.id;
    const unlimited = async (projectId: string) =>
      ok(
        `mutation($input: SetProjectQuotaInput!) { setProjectQuota(input: $input) { __typename } }`,
        {
          input: {
            projectId,
            limits: [
              { resource: 'ports', limit: -1 },
              { resource: 'networks', limit: -1 },
              { resource: 'subnets', limit: -1 },
            ],
          },
        },
        token,
      );
    const network = async (projectId: string | null, cidr: string) => {
      const n = await ok(
        `mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { __typename ... on CreateNetworkSuccess { network { id } } } }`,
        { input: { name: 'bench', ...(projectId ? { projectId } : {}) } },
        token,
      );
      const id = n.createNetwork.network.id as string;
      const sub = await ok(
        `mutation($input: CreateSubnetInput!) { createSubnet(input: $input) { __typename ... on Error { message } } }`,
        { input: { networkId: id, cidr } },
        token,
      );
      if (sub.createSubnet.__typename !== 'CreateSubnetSuccess')
        throw new Error(JSON.stringify(sub));
      return id;
    };
    await unlimited(adminProject);
    const shared16 = await network(null, '10.0.0.0/16');
    const small22 = await network(null, '10.1.0.0/22');
    const projects: string[] = [];
    const ownNets: string[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const p = await ok(
        `mutation($input: CreateProjectInput!) { createProject(input: $input) { ... on CreateProjectSuccess { project { id } } } }`,
        { input: { domainId: domain, name: `bench-ports-${i}` } },
        token,
      );
      projects.push(p.createProject.project.id);
      await unlimited(projects[i]);
      ownNets.push(await network(projects[i], `10.${100 + i}.0.0/16`));
    }
    const phases: Phase[] = [
      { name: 'one project, one /16', networkFor: () => shared16, projectFor: () => null },
      {
        name: `${CLIENTS} projects, own /16 each`,
        networkFor: (c) => ownNets[c],
        projectFor: (c) => projects[c],
      },
      // A /22 has 1021 pool addresses: at most 900 ports there.
      {
        name: 'one project, one /22 (900 ports)',
        networkFor: () => small22,
        projectFor: () => null,
      },
    ];
    const postmaster = await postmasterPid(url);
    const rows: Array<Array<string | number>> = [
      [
        'shape',
        'ports',
        'errors',
        'ports/s',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'Stratus cores',
        'PostgreSQL cores',
      ],
    ];
    const waits: Array<[string, Record<string, number>, Array<[string, number]>]> = [];
    for (const phase of phases) {
      const total = phase.name.includes('/22') ? Math.min(900, COUNT) : COUNT;
      const create = async (client: number) => {
        const projectId = phase.projectFor(client);
        return ok(
          CREATE_PORT,
          { input: { networkId: phase.networkFor(client), ...(projectId ? { projectId } : {}) } },
          token,
        );
      };
      // Warm-up (not measured): connections, plans, the default security groups.
      if (!phase.name.includes('/22'))
        await pool(CLIENTS, WARMUP, (_i, w) => create(w).then(() => {}));
      const latencies: number[] = [];
      let errors = 0;
      const ips = new Set<string>();
      const sampler = new ActivitySampler(url);
      await sampler.start(50);
      const cpuBefore = cpuSnapshot(s.pid, postmaster);
      const started = nowNs();
      await pool(CLIENTS, total, async (_i, w) => {
        const t0 = nowNs();
        const data = await create(w);
        latencies.push(ms(t0, nowNs()));
        if (data.createPort.__typename !== 'CreatePortSuccess') {
          errors++;
          if (errors <= 3) console.error(`${phase.name}: ${JSON.stringify(data.createPort)}`);
          return;
        }
        const ip = data.createPort.port.fixedIps[0].ipAddress as string;
        if (ips.has(`${phase.networkFor(w)} ${ip}`)) throw new Error(`address ${ip} given twice`);
        ips.add(`${phase.networkFor(w)} ${ip}`);
      });
      const seconds = ms(started, nowNs()) / 1000;
      const cores = cpuCores(cpuBefore, cpuSnapshot(s.pid, postmaster));
      const l = summarize(latencies);
      const activity = await sampler.stop();
      waits.push([phase.name, activity.mean, activity.topWaits]);
      rows.push([
        phase.name,
        total - errors,
        errors,
        fmt((total - errors) / seconds, 0),
        fmt(l.p50, 1),
        fmt(l.p90, 1),
        fmt(l.p99, 1),
        fmt(cores.stratus, 2),
        cores.postgres === null ? '-' : fmt(cores.postgres, 2),
      ]);
    }
    process.stdout.write(
      `${machineLine(db.source)}\n${CLIENTS} clients, fake network driver, worker concurrency 4\n`,
    );
    printTable('createPort with IPAM through GraphQL (goal: >= 500 ports/s)', rows);
    for (const [name, mean, top] of waits) {
      const states = Object.entries(mean)
        .map(([k, v]) => `${k} ${fmt(v, 1)}`)
        .join(', ');
      process.stdout.write(`\n${name}: backends on average: ${states}\n`);
      for (const [q, n] of top) process.stdout.write(`  waiting ${fmt(n, 1)}: ${q}\n`);
    }
  } finally {
    await s.stop();
    await db.stop();
  }
});
