/**
 * Writes the SDL of the Stratus schema to `schema.graphql` at the repository root.
 * The schema is already sorted lexicographically (schema/index.ts), so the file only
 * changes when the schema does. Run with `npm run schema:print`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { printSchema } from 'graphql';
import { schema } from '../schema/index';

export const SCHEMA_FILE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'schema.graphql',
);

/** The SDL exactly as it is committed: printSchema's output and one trailing newline. */
export function currentSdl(): string {
  return `${printSchema(schema)}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(SCHEMA_FILE, currentSdl());
  process.stdout.write(`wrote ${path.relative(process.cwd(), SCHEMA_FILE) || SCHEMA_FILE}\n`);
}
