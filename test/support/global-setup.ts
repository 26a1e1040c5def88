import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../server/embedded-postgres';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL URL on whose server each test file creates its own database. */
    adminDatabaseUrl: string;
  }
}

/**
 * One real PostgreSQL per test run: the one DATABASE_URL names, or an embedded server in a
 * temporary folder, removed afterwards.
 */
export default async function setup(project: TestProject) {
  if (process.env.DATABASE_URL) {
    project.provide('adminDatabaseUrl', process.env.DATABASE_URL);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-test-'));
  const db = await startEmbeddedPostgres(dir, 'postgres');
  project.provide('adminDatabaseUrl', db.adminUrl);
  return async () => {
    await db.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
}
