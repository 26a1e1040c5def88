/**
 * What the audit record adds to publishing an event: `publishEvent` (event + audit row in one
 * statement, inside a mutation's audit scope) against the same protocol without the audit
 * row, each in its own transaction, ROUNDS alternating rounds of N events.
 *
 *   npx tsx bench/audit-publish.ts
 *
 * Env: N (500), ROUNDS (4).
 */
import { sql } from 'drizzle-orm';
import { connect } from '../db/connection';
import { migrateDatabase } from '../db/migrate';
import { events } from '../db/tables';
import { runInAuditScope } from '../resolvers/audit/scope';
import { EVENTS_CHANNEL, PUBLISH_LOCK, publishEvent } from '../resolvers/events';
import { fmt, machineLine, nowNs, printTable, runMain, startDatabase } from './support';

const N = Number(process.env.N ?? 500);
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const event = {
  kind: 'BENCH',
  projectId: null,
  resourceType: 'Bench',
  resourceId: '00000000-0000-0000-0000-000000000000',
  payload: { status: 'ACTIVE' },
};
const scope = { userId: 'bench', userProjectId: null, requestId: 'r', operation: 'bench' };

runMain(async () => {
  const database = await startDatabase();
  const conn = connect(database.url, 4);
  try {
    await migrateDatabase(conn);
    console.log(machineLine(database.source));
    const withAudit = () =>
      runInAuditScope(scope, () => conn.db.transaction((tx) => publishEvent(tx, event)));
    // The protocol as it was before the audit row: lock, insert, notify.
    const without = () =>
      conn.db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${PUBLISH_LOCK})`);
        const [row] = await tx.insert(events).values(event).returning();
        await tx.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${String(row.id)})`);
      });
    const times = { with: [] as number[], without: [] as number[] };
    for (let i = 0; i < 50; i++) await Promise.all([withAudit(), without()]);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, fn] of (r % 2
        ? [
            ['without', without],
            ['with', withAudit],
          ]
        : [
            ['with', withAudit],
            ['without', without],
          ]) as Array<[keyof typeof times, () => Promise<unknown>]>) {
        const t = nowNs();
        for (let i = 0; i < N; i++) await fn();
        times[name].push(Number(nowNs() - t) / 1e6 / N);
      }
    }
    const median = (v: number[]) =>
      [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
    const a = median(times.with);
    const b = median(times.without);
    printTable(`publish one event in its own transaction (median of ${ROUNDS} rounds of ${N})`, [
      ['variant', 'ms per event', 'events/s'],
      ['event + audit row (publishEvent)', fmt(a, 3), fmt(1000 / a)],
      ['event only (the protocol before)', fmt(b, 3), fmt(1000 / b)],
      ['audit cost', `${fmt(((a - b) / b) * 100, 1)} %`, ''],
    ]);
  } finally {
    await conn.pool.end();
    await database.stop();
  }
});
