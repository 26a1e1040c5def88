/**
 * The stacks engine end to end: create and then delete stacks of N TestResources (10
 * dependency chains: r<i> reads get_attr of r<i-10>) through the engine on one Stratus, as
 * the admin in the admin project. Prints create and delete seconds and seconds per resource.
 *
 *   npm run bench:stacks            (or: npx tsx bench/stack-create-delete.ts)
 *
 * Env: SIZES (10,100,1000), TIMEOUT_S (600).
 */
import { eq } from 'drizzle-orm';
import { projects, stacks, users } from '../db/tables';
import type { Runtime } from '../resolvers/runtime';
import { startStackCreate, startStackDelete } from '../resolvers/stacks/engine/index';
import { ownerContext } from '../resolvers/stacks/engine/owner';
import {
  fmt,
  machineLine,
  nowNs,
  printTable,
  runMain,
  sleep,
  startBenchStratus,
  startDatabase,
} from './support';

const SIZES = (process.env.SIZES ?? '10,100,1000').split(',').map(Number);
const TIMEOUT_S = Number(process.env.TIMEOUT_S ?? 600);

function template(n: number): string {
  const lines = ['heat_template_version: 2018-08-31', 'resources:'];
  for (let i = 0; i < n; i++) {
    const value = i < 10 ? `v${i}` : `{ get_attr: [r${i - 10}, output] }`;
    lines.push(`  r${i}: { type: OS::Heat::TestResource, properties: { value: ${value} } }`);
  }
  return lines.join('\n');
}

async function waitFor(rt: Runtime, id: string, want: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT_S * 1000;
  for (;;) {
    const [row] = await rt.db.select().from(stacks).where(eq(stacks.id, id));
    const state = row ? `${row.action}_${row.status}` : 'GONE';
    if (state === want) return;
    if (state.endsWith('FAILED')) throw new Error(`stack ${id}: ${state} ${row?.statusReason}`);
    if (Date.now() > deadline) throw new Error(`stack ${id} still ${state}`);
    await sleep(20);
  }
}

runMain(async () => {
  const database = await startDatabase();
  const s = await startBenchStratus(database.url);
  try {
    console.log(machineLine(database.source));
    const rt = s.stratus.runtime;
    const [admin] = await rt.db.select().from(users).where(eq(users.name, 'admin'));
    const [project] = await rt.db.select().from(projects).where(eq(projects.name, 'admin'));
    const svc = await ownerContext(rt, { userId: admin.id, projectId: project.id }, s.url);
    const rows: Array<Array<string | number>> = [
      ['resources', 'create s', 'create s/resource', 'delete s', 'delete s/resource'],
    ];
    for (const n of SIZES) {
      const text = template(n);
      const t0 = nowNs();
      const stack = await startStackCreate(svc, { name: `bench-${n}`, template: text });
      await waitFor(rt, stack.id, 'CREATE_COMPLETE');
      const t1 = nowNs();
      await startStackDelete(svc, stack.id);
      await waitFor(rt, stack.id, 'GONE');
      const t2 = nowNs();
      const create = Number(t1 - t0) / 1e9;
      const del = Number(t2 - t1) / 1e9;
      rows.push([n, fmt(create, 2), fmt(create / n, 4), fmt(del, 2), fmt(del / n, 4)]);
      console.log(`${n} resources: create ${fmt(create, 2)} s, delete ${fmt(del, 2)} s`);
    }
    printTable(
      `Stack create/delete through the engine (worker concurrency ${rt.config.workerConcurrency})`,
      rows,
    );
  } finally {
    await s.stop();
    await database.stop();
  }
});
