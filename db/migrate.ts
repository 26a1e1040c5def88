import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import type { Connection } from './connection';

const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Applies pending migrations; an advisory lock keeps two starting processes from racing. */
export async function migrateDatabase({ pool, db }: Connection): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock(7243001)');
    await migrate(db, { migrationsFolder });
  } finally {
    await client.query('select pg_advisory_unlock(7243001)').catch(() => {});
    client.release();
  }
}
