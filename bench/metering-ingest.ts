/**
 * Metering ingestion: samples per second through recordSamples (raw rows + rollups to every
 * granularity of the default policy, in one transaction per batch), as pollers write them:
 * RESOURCES servers, one sample each per 10 s round, BATCH samples per call, WRITERS calls in
 * flight. Anchor: Gnocchi 3 published about 970,000 measures/s with 32 API workers.
 *
 *   npx tsx bench/metering-ingest.ts
 *
 * Env: SAMPLES (1000000), RESOURCES (1000), BATCH (10000), WRITERS (2).
 */
import { connect } from '../db/connection';
import { migrateDatabase } from '../db/migrate';
import type { Sample } from '../resolvers/metering/samples';
import { recordSamples } from '../resolvers/metering/store';
import { fmt, machineLine, nowNs, printTable, runMain, startDatabase } from './support';

const SAMPLES = Number(process.env.SAMPLES ?? 1_000_000);
const RESOURCES = Number(process.env.RESOURCES ?? 1000);
const BATCH = Number(process.env.BATCH ?? 10_000);
const WRITERS = Number(process.env.WRITERS ?? 2);

/** Batch `i`: consecutive 10 s rounds over all resources, starting a day ago. */
function batch(i: number, start: number): Sample[] {
  const out: Sample[] = new Array(BATCH);
  for (let j = 0; j < BATCH; j++) {
    const n = i * BATCH + j;
    const round = Math.floor(n / RESOURCES);
    out[j] = {
      meter: 'cpu_util',
      resourceType: 'server',
      resourceId: `server-${n % RESOURCES}`,
      projectId: null,
      timestamp: new Date(start + round * 10_000),
      value: (n * 7919) % 100,
    };
  }
  return out;
}

runMain(async () => {
  const database = await startDatabase();
  const conn = connect(database.url, WRITERS + 2);
  try {
    await migrateDatabase(conn);
    console.log(machineLine(database.source));
    const start = Date.now() - 86_400_000;
    // Warm-up: create the series and JIT the paths, not counted.
    await recordSamples(conn.db, batch(0, start - 86_400_000 + 3_600_000));
    const batches = Math.floor(SAMPLES / BATCH);
    let next = 0;
    const t0 = nowNs();
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < batches) {
          const i = next++;
          const samples = batch(i, start);
          const t = nowNs();
          await recordSamples(conn.db, samples);
          latencies.push(Number(nowNs() - t) / 1e6);
        }
      }),
    );
    const seconds = Number(nowNs() - t0) / 1e9;
    latencies.sort((a, b) => a - b);
    const rollups = await conn.pool.query('select count(*)::int as n from metering_rollups');
    printTable(
      'Metering ingestion (recordSamples, default policy: raw + 10 s, 1 min, 1 h rollups)',
      [
        [
          'samples',
          'resources',
          'batch',
          'writers',
          'seconds',
          'samples/s',
          'batch p50 ms',
          'batch max ms',
          'rollup rows',
        ],
        [
          fmt(batches * BATCH),
          fmt(RESOURCES),
          fmt(BATCH),
          WRITERS,
          fmt(seconds, 2),
          fmt((batches * BATCH) / seconds),
          fmt(latencies[Math.floor(latencies.length / 2)] ?? 0, 1),
          fmt(latencies[latencies.length - 1] ?? 0, 1),
          fmt(rollups.rows[0].n),
        ],
      ],
    );
  } finally {
    await conn.pool.end();
    await database.stop();
  }
});
