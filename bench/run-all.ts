/**
 * `npm run bench`: runs every benchmark in sequence, each in its own process (its own
 * PostgreSQL and Stratus), and exits non-zero if one failed. Names on the command line pick a
 * subset: `npm run bench -- tokens fanout`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

const ALL = ['tokens', 'http-overhead', 'fanout', 'objects', 'images', 'servers'];
const picked = process.argv.slice(2);
const names = picked.length ? picked : ALL;
for (const name of names) {
  if (!ALL.includes(name)) {
    console.error(`unknown benchmark "${name}"; known: ${ALL.join(', ')}`);
    process.exit(2);
  }
}

const failed: string[] = [];
for (const name of names) {
  const started = Date.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, `${name}.ts`)], {
      stdio: 'inherit',
    });
    child.on('exit', resolve);
  });
  process.stdout.write(
    `-- ${name}: exit ${code} after ${Math.round((Date.now() - started) / 1000)} s\n\n`,
  );
  if (code !== 0) failed.push(name);
}
if (failed.length) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exit(1);
}
