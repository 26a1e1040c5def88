/**
 * Servers (Nova): three benchmarks, each against a real Stratus started in a child process
 * (bench/servers-child.ts) on a database of its own.
 *
 * 1. `control` (bench/servers-control.ts): the control plane on the fake compute driver.
 *    1,000 servers created and deleted by 50 concurrent clients over HTTP, with a `servers`
 *    subscription timestamping ACTIVE and DELETED, for each worker concurrency asked, in
 *    `batch` mode (all 1,000 createServer calls, wait for ACTIVE, then all deletes; one
 *    project) and `loop-projects` mode (each client its own project, looping create -> ACTIVE ->
 *    delete -> DELETED); then a shorter `loop` in one shared project, which shows the quota
 *    deadlock described in docs/benchmarks.md. Servers/s to ACTIVE, p50/p99 createServer ->
 *    ACTIVE, and where the time goes (CPU per process, PostgreSQL backends by lock, server-side
 *    stages, events per server, the publishEvent critical section alone).
 * 2. `list` (bench/servers-list.ts): 10,000 servers inserted with SQL (plus instance actions),
 *    then `servers(first: 100)` with flavor, image, keyName and lastAction as a project member:
 *    p50/p99 over 200 requests and the SQL statements of one request at first: 10 and 100.
 * 3. `boot` (bench/servers-boot.ts): real QEMU under TCG. createServer of the test guest to its
 *    boot line in consoleOutput, against the same QEMU command line (read from
 *    /proc/<pid>/cmdline of the server's QEMU) started by hand, interleaved.
 *
 *   npx tsx bench/servers.ts                          # or: npm run bench -- servers  (~25 min)
 *   SERVERS_PARTS=control npx tsx bench/servers.ts    # one part (control, list, boot)
 *
 * Env: SERVERS_PARTS (control,list,boot), SERVERS_COUNT (1000), SERVERS_CLIENTS (50),
 * SERVERS_MODES (batch,loop-projects), SERVERS_WORKER_CONCURRENCY (4,16,32),
 * SERVERS_SHARED_LOOP (200@16: servers@worker concurrency of the one-project loop; empty skips
 * it), SERVERS_SPAWN_DELAY_MS (0), SERVERS_LIST_ROWS (10000), SERVERS_LIST_REQUESTS (200),
 * SERVERS_BOOT_ROUNDS (5), SERVERS_BOOT_POLL_MS (50), SERVERS_JSON (a file: the control
 * results as JSON), SERVERS_LOG_LEVEL (Stratus's log level; silent). `boot` needs
 * qemu-system-x86_64, qemu-img and scripts/build-test-guest; it is skipped when QEMU is missing.
 */
import fs from 'node:fs';
import { qemuSkipReason } from '../test/support/host-tools';
import { printBoot, runBoot } from './servers-boot';
import { postmasterPid, removeTemps } from './servers-common';
import {
  type ControlMode,
  type ControlResult,
  printControl,
  runControlRound,
} from './servers-control';
import { printList, runList } from './servers-list';
import { machineLine, runMain, startDatabase } from './support';

const list = (name: string, fallback: string) =>
  (process.env[name] ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const PARTS = list('SERVERS_PARTS', 'control,list,boot');
const COUNT = Number(process.env.SERVERS_COUNT ?? 1000);
const CLIENTS = Number(process.env.SERVERS_CLIENTS ?? 50);
const MODES = list('SERVERS_MODES', 'batch,loop-projects') as ControlMode[];
/** `count@concurrency` of the single-project loop (deadlocks: see docs/benchmarks.md); '' skips it. */
const SHARED_LOOP = process.env.SERVERS_SHARED_LOOP ?? '200@16';
const CONCURRENCY = list('SERVERS_WORKER_CONCURRENCY', '4,16,32').map(Number);
const SPAWN_DELAY_MS = Number(process.env.SERVERS_SPAWN_DELAY_MS ?? 0);
const LIST_ROWS = Number(process.env.SERVERS_LIST_ROWS ?? 10_000);
const LIST_REQUESTS = Number(process.env.SERVERS_LIST_REQUESTS ?? 200);
const BOOT_ROUNDS = Number(process.env.SERVERS_BOOT_ROUNDS ?? 5);
const BOOT_POLL_MS = Number(process.env.SERVERS_BOOT_POLL_MS ?? 50);

runMain(async () => {
  for (const part of PARTS) {
    if (!['control', 'list', 'boot'].includes(part))
      throw new Error(`unknown part "${part}"; known: control, list, boot`);
  }
  const db = await startDatabase();
  try {
    const postmaster = await postmasterPid(db.url);
    process.stdout.write(`# Servers\n\n${machineLine(db.source)}\n`);
    if (PARTS.includes('control')) {
      const results: ControlResult[] = [];
      for (const mode of MODES) {
        for (const workerConcurrency of CONCURRENCY) {
          process.stdout.write(`-- control: ${mode}, worker concurrency ${workerConcurrency}\n`);
          results.push(
            await runControlRound(db, {
              count: COUNT,
              clients: CLIENTS,
              workerConcurrency,
              mode,
              spawnDelayMs: SPAWN_DELAY_MS,
              postmaster,
            }),
          );
        }
      }
      if (SHARED_LOOP) {
        const [count, workerConcurrency] = SHARED_LOOP.split('@').map(Number);
        process.stdout.write(
          `-- control: loop (one project), worker concurrency ${workerConcurrency}\n`,
        );
        results.push(
          await runControlRound(db, {
            count,
            clients: CLIENTS,
            workerConcurrency,
            mode: 'loop',
            spawnDelayMs: SPAWN_DELAY_MS,
            postmaster,
          }),
        );
      }
      printControl(results);
      if (process.env.SERVERS_JSON) {
        fs.writeFileSync(
          process.env.SERVERS_JSON,
          JSON.stringify(results, (_k, v) => (v instanceof Map ? Object.fromEntries(v) : v), 2),
        );
      }
    }
    if (PARTS.includes('list')) {
      printList(await runList(db, { rows: LIST_ROWS, requests: LIST_REQUESTS }));
    }
    if (PARTS.includes('boot')) {
      const skip = qemuSkipReason();
      if (skip) process.stdout.write(`\nboot: skipped (${skip})\n`);
      else printBoot(await runBoot(db, { rounds: BOOT_ROUNDS, pollMs: BOOT_POLL_MS }));
    }
  } finally {
    await db.stop();
    removeTemps();
  }
});
