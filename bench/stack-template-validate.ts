/**
 * HOT template validation: parse + validate (sections, parameters, every function's static
 * check, references, dependency graph) of generated templates of 10, 100 and 1,000 resources,
 * and evaluating every resource's properties. Pure CPU: no database, no server.
 *
 *   npx tsx bench/stack-template-validate.ts
 *
 * Env: TEMPLATE_RUNS (21): timed runs per size after 3 warm-up runs; the median is reported.
 */
import { parseTemplate } from '../resolvers/stacks/template/index';
import { parseSource } from '../resolvers/stacks/template/parse';
import { bigTemplate } from '../test/stacks/template-generate';
import { fmt, machineLine, printTable, runMain, summarize } from './support';

const RUNS = Number(process.env.TEMPLATE_RUNS ?? 21);
const SIZES = [10, 100, 1000];
const HOOKS = {
  getResource: (n: string) => `${n}-id`,
  getAttr: () => [{ ip_address: '10.0.0.9' }],
};

/** Wall-clock and CPU milliseconds per run (CPU time holds up better on a busy machine). */
async function time(
  fn: () => Promise<unknown> | unknown,
): Promise<{ wall: number[]; cpu: number[] }> {
  for (let i = 0; i < 3; i++) await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    const used = process.cpuUsage();
    await fn();
    const d = process.cpuUsage(used);
    wall.push(Number(process.hrtime.bigint() - start) / 1e6);
    cpu.push((d.user + d.system) / 1000);
  }
  return { wall, cpu };
}

runMain(async () => {
  console.log(machineLine('not used (pure CPU)'));
  const rows: Array<Array<string | number>> = [
    [
      'resources',
      'template bytes',
      'parse+validate p50',
      'p90',
      'CPU p50',
      'of which YAML (CPU)',
      'per resource (CPU)',
      'resolve all (CPU)',
    ],
  ];
  for (const n of SIZES) {
    const text = bigTemplate(n);
    const runs = await time(() => parseTemplate(text));
    const validate = summarize(runs.wall);
    const cpu = summarize(runs.cpu);
    const yaml = summarize((await time(() => parseSource(text))).cpu);
    const t = await parseTemplate(text);
    const resolve = summarize(
      (
        await time(() => {
          for (const name of Object.keys(t.resources)) t.resolveProperties(name, HOOKS);
        })
      ).cpu,
    );
    rows.push([
      n,
      fmt(Buffer.byteLength(text)),
      `${fmt(validate.p50, 2)} ms`,
      `${fmt(validate.p90, 2)} ms`,
      `${fmt(cpu.p50, 2)} ms`,
      `${fmt(yaml.p50, 2)} ms`,
      `${fmt((cpu.p50 * 1000) / n, 1)} µs`,
      `${fmt(resolve.p50, 2)} ms`,
    ]);
  }
  printTable(`HOT template validation (median of ${RUNS} runs)`, rows);
});
