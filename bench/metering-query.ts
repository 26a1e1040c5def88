/**
 * Metering query: one year of 1-minute samples of one resource (525,600, written through
 * recordSamples), read back aggregated to 1 hour (8,760 points) by querySeries: p50 and p99
 * over QUERIES runs per aggregation. Goal: under 50 ms.
 *
 *   npx tsx bench/metering-query.ts
 *
 * Env: QUERIES (200), BATCH (50000).
 */
import { connect } from '../db/connection';
import { migrateDatabase } from '../db/migrate';
import type { Aggregation, Sample } from '../resolvers/metering/samples';
import { querySeries } from '../resolvers/metering/series';
import { recordSamples } from '../resolvers/metering/store';
import { fmt, machineLine, nowNs, printTable, runMain, startDatabase, summarize } from './support';

const QUERIES = Number(process.env.QUERIES ?? 200);
const BATCH = Number(process.env.BATCH ?? 50_000);
const MINUTES = 365 * 24 * 60;

runMain(async () => {
  const database = await startDatabase();
  const conn = connect(database.url, 4);
  try {
    await migrateDatabase(conn);
    console.log(machineLine(database.source));
    const end = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const start = end - MINUTES * 60_000;
    const t0 = nowNs();
    for (let i = 0; i < MINUTES; i += BATCH) {
      const batch: Sample[] = [];
      for (let m = i; m < Math.min(i + BATCH, MINUTES); m++) {
        batch.push({
          meter: 'cpu',
          resourceType: 'server',
          resourceId: 'year-server',
          projectId: null,
          timestamp: new Date(start + m * 60_000),
          value: m * 6e10 + (m % 7) * 1e9, // a growing CPU-time counter, ns
        });
      }
      await recordSamples(conn.db, batch);
    }
    const loadSeconds = Number(nowNs() - t0) / 1e9;
    console.log(`loaded ${fmt(MINUTES)} samples in ${fmt(loadSeconds, 1)} s`);
    await conn.pool.query('vacuum analyze metering_rollups');
    const rows: Array<Array<string | number>> = [
      ['aggregation', 'points', 'queries', 'p50 ms', 'p99 ms', 'max ms'],
    ];
    for (const aggregation of ['mean', 'max', 'rate'] as Aggregation[]) {
      const q = {
        meter: 'cpu',
        resourceType: 'server' as const,
        resourceIds: ['year-server'],
        from: new Date(end - 365 * 86_400_000),
        to: new Date(end),
        granularity: 3600,
        aggregation,
      };
      let points = 0;
      for (let i = 0; i < 5; i++) points = (await querySeries(conn.db, q)).length; // warm-up
      const times: number[] = [];
      for (let i = 0; i < QUERIES; i++) {
        const t = nowNs();
        await querySeries(conn.db, q);
        times.push(Number(nowNs() - t) / 1e6);
      }
      const s = summarize(times);
      rows.push([aggregation, fmt(points), QUERIES, fmt(s.p50, 1), fmt(s.p99, 1), fmt(s.max, 1)]);
    }
    printTable('Metering query: one year of 1-minute data, one resource, 1 h granularity', rows);
  } finally {
    await conn.pool.end();
    await database.stop();
  }
});
