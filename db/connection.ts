import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import * as tables from './tables';

export type Database = NodePgDatabase<typeof tables>;
/** A transaction handle; services accept either so they compose inside one transaction. */
export type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];
export type DbOrTx = Database | Tx;

export interface Connection {
  pool: pg.Pool;
  db: Database;
}

/** Opens the pool every part of one Stratus process shares; `onQuery` sees each drizzle statement. */
export function connect(databaseUrl: string, max = 20, onQuery?: () => void): Connection {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  // An idle client losing its server must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return {
    pool,
    db: drizzle(pool, { schema: tables, logger: onQuery ? { logQuery: onQuery } : false }),
  };
}
