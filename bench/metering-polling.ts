/**
 * Metering polling cost: CPU the Stratus process uses for one compute poller round over
 * SERVERS fake-driver servers (driver reads, cpu_util, ~25 samples per server recorded with
 * their rollups, NOTIFY for live subscribers), plus the DB-derived kinds. The servers are
 * spawned on the fake driver and their rows written straight into the database (building
 * them through the API is another benchmark's business). CPU is process.cpuUsage (user +
 * system) of this Node process; PostgreSQL's CPU is reported apart (its backends' /proc
 * times), as the issue asks for what Stratus itself costs.
 *
 *   npx tsx bench/metering-polling.ts
 *
 * Env: SERVERS (1000), ROUNDS (5), INTERVAL_MS (10000: the default poll interval the % of a
 * core is computed against; rounds run back to back, the interval only scales the figure).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { connect } from '../db/connection';
import { migrateDatabase } from '../db/migrate';
import { FakeComputeDriver } from '../drivers/compute/fake';
import { bootstrapIdentity } from '../resolvers/identity/bootstrap';
import { createLogger } from '../server/logger';
import { MeteringPollers } from '../workers/metering/pollers';
import { fmt, machineLine, nowNs, printTable, runMain, startDatabase } from './support';

const SERVERS = Number(process.env.SERVERS ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const INTERVAL_MS = Number(process.env.INTERVAL_MS ?? 10_000);
const HOST = 'bench-host';

/** CPU ticks (user + system) of each postgres process, from /proc. */
function postgresTicks(): Map<string, number> {
  const ticks = new Map<string, number>();
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(pid, Number(rest[11]) + Number(rest[12]));
    } catch {
      // gone meanwhile
    }
  }
  return ticks;
}

/** PostgreSQL CPU ms between two readings (processes that exited meanwhile are not counted). */
function postgresCpuMs(before: Map<string, number>, after: Map<string, number>): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += Math.max(0, t - (before.get(pid) ?? 0));
  return ticks * 10; // USER_HZ = 100
}

runMain(async () => {
  const database = await startDatabase();
  const conn = connect(database.url, 10);
  const logger = createLogger('silent');
  const driver = new FakeComputeDriver();
  try {
    await migrateDatabase(conn);
    console.log(machineLine(database.source));
    const { adminProjectId } = await bootstrapIdentity(conn.db, 'bench-password-1');
    const ids = Array.from({ length: SERVERS }, () => randomUUID());
    for (const [i, id] of ids.entries()) {
      await driver.spawn({
        instanceId: id,
        name: `bench-${i}`,
        vcpus: 1 + (i % 4),
        memoryMib: 512,
        rootDisk: null,
        kernel: { kernelPath: '/boot/vmlinuz' },
        nics: [{ portId: randomUUID(), tapName: `tap${i}`, mac: '52:54:00:00:00:01' }],
      });
    }
    await conn.pool.query(
      `insert into servers (id, project_id, name, vm_state, power_state, flavor, host)
        select id, $2, 'bench', 'active', 'running', $3::jsonb, $4 from unnest($1::uuid[]) as id`,
      [
        ids,
        adminProjectId,
        JSON.stringify({
          flavorId: randomUUID(),
          name: 'bench',
          vcpus: 2,
          ramMib: 512,
          rootDiskGib: 1,
          ephemeralGib: 0,
          swapMib: 0,
        }),
        HOST,
      ],
    );
    const pollers = new MeteringPollers({
      db: conn.db,
      pool: conn.pool,
      logger,
      intervalMs: 0,
      compute: { hostname: HOST, driver },
      volume: null,
    });
    // Warm-up round: creates the series (a one-off cost) and JITs the paths.
    await pollers.pollOnce();
    const rows: (string | number)[][] = [];
    let totalCpu = 0;
    let totalPg = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const cpu0 = process.cpuUsage();
      const pg0 = postgresTicks();
      const t0 = nowNs();
      const result = await pollers.pollOnce();
      const wallMs = Number(nowNs() - t0) / 1e6;
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      const pgMs = postgresCpuMs(pg0, postgresTicks());
      totalCpu += cpuMs;
      totalPg += pgMs;
      rows.push([
        round,
        result.samples,
        fmt(wallMs),
        fmt(cpuMs),
        fmt((cpuMs / INTERVAL_MS) * 100, 2),
        fmt(pgMs),
      ]);
    }
    rows.push([
      'mean',
      '',
      '',
      fmt(totalCpu / ROUNDS),
      fmt((totalCpu / ROUNDS / INTERVAL_MS) * 100, 2),
      fmt(totalPg / ROUNDS),
    ]);
    printTable(
      `Metering polling: ${SERVERS} fake-driver servers, one round per ${INTERVAL_MS / 1000} s`,
      [
        ['round', 'samples', 'wall ms', 'Stratus CPU ms', '% of a core', 'PostgreSQL CPU ms'],
        ...rows,
      ],
    );
    await pollers.stop();
  } finally {
    await driver.close();
    await conn.pool.end();
    await database.stop();
  }
});
