/**
 * Part 3 of bench/servers.ts: boot latency with real QEMU under TCG. The test guest
 * (scripts/build-test-guest: kernel + busybox initramfs, uploaded as aki/ari/ami) prints
 * `STRATUS-GUEST-BOOT-OK` once its /init runs.
 *
 * - Stratus: createServer as a project member, then two watchers at once: this script polls
 *   `node(id) { status consoleOutput }` over HTTP every `pollMs` (what a client sees), and reads
 *   the instance's console.log in the state folder every 10 ms (when the line reached the file),
 *   plus qemu.pid and /proc/<pid>/stat (when QEMU started; ±20 ms, /proc has 10 ms ticks).
 *   The server is deleted (its QEMU ends) before the next run.
 * - By hand: the QEMU command line of the previous Stratus run, read from /proc/<pid>/cmdline,
 *   started with `spawn` in a folder of its own: without `-daemonize` and `-pidfile`, the
 *   instance folder's paths pointing to the new folder (console.log, QMP socket, fw_cfg files,
 *   a new qcow2 overlay on the same cached base image, made before the clock starts). Its
 *   console.log is read every 10 ms, as for Stratus. Then SIGTERM.
 *
 * A first Stratus run (cold image cache: the kernel, initrd and disk are fetched from the image
 * store) is reported apart; then `rounds` rounds, alternating which of the two goes first.
 * Never two guests at once. Every QEMU started here is ended before the script returns.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../server/config';
import { uploadTestGuest } from '../test/support/compute';
import {
  buildWorld,
  type ChildStratus,
  createServer,
  deleteServer,
  freshDatabase,
  ms,
  pgClient,
  postGraphQLOk,
  rawId,
  startChildStratus,
  tempDir,
  type World,
} from './servers-common';
import { type BenchDatabase, fmt, nowNs, printTable, sleep } from './support';

const BOOT_LINE = 'STRATUS-GUEST-BOOT-OK';
const FILE_POLL_MS = 10;
const BOOT_TIMEOUT_MS = 300_000;

export interface BootOptions {
  rounds: number;
  pollMs: number;
}

interface StratusBoot {
  name: string;
  /** All in ms from just before createServer was sent. */
  createResponse: number;
  qemuStart: number | null;
  active: number | null;
  inFile: number;
  inApi: number;
}

interface HandBoot {
  /** ms from just before spawn to the boot line in the console file. */
  inFile: number;
}

export interface BootRound {
  first: 'stratus' | 'hand';
  stratus: StratusBoot;
  hand: HandBoot;
}

export interface BootResult {
  options: BootOptions;
  cold: StratusBoot;
  rounds: BootRound[];
  /** Server-side stages per Stratus run (instance action events and the job's queue wait), ms. */
  stages: Map<string, Record<string, number>>;
  qemuArgv: string[];
}

/** What a hand run needs from a Stratus run: argv, instance folder, copies of its inputs. */
interface Template {
  argv: string[];
  instanceDir: string;
  files: Map<string, Buffer>;
  backing: { file: string; format: string; virtualSize: number };
}

/** CLOCK_MONOTONIC ns at which process `pid` started (via /proc/<pid>/stat and /proc/uptime). */
function processStartNs(pid: number): bigint | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const uptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    const now = nowNs();
    return now - BigInt(Math.round((uptime - startTicks / 100) * 1e9));
  } catch {
    return null;
  }
}

function readPid(file: string): number | null {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function contains(file: string, text: string): boolean {
  try {
    return fs.readFileSync(file, 'latin1').includes(text);
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function stratusBoot(
  s: ChildStratus,
  world: World,
  stateDir: string,
  input: { name: string; imageId: string; flavorId: string },
  pollMs: number,
): Promise<{ boot: StratusBoot; template: Template }> {
  const t0 = nowNs();
  const id = await createServer(s, world.memberToken, input);
  const createResponse = ms(t0, nowNs());
  const instanceDir = path.join(stateDir, 'instances', rawId(id));
  const consoleLog = path.join(instanceDir, 'console.log');
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  let pid: number | null = null;
  let template: Template | null = null;
  let qemuStart: number | null = null;
  let inFile: number | null = null;
  let active: number | null = null;
  let inApi: number | null = null;
  const file = (async () => {
    while (inFile === null) {
      if (Date.now() > deadline) throw new Error(`${input.name}: no boot line in ${consoleLog}`);
      if (pid === null) {
        pid = readPid(path.join(instanceDir, 'qemu.pid'));
        if (pid !== null) {
          const started = processStartNs(pid);
          qemuStart = started === null ? null : ms(t0, started);
        }
      }
      if (contains(consoleLog, BOOT_LINE)) inFile = ms(t0, nowNs());
      else await sleep(FILE_POLL_MS);
    }
    if (pid === null) throw new Error(`${input.name}: no qemu.pid in ${instanceDir}`);
    // Everything a hand run needs, read while the instance folder exists.
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const files = new Map<string, Buffer>();
    for (const name of ['user-data', 'meta-data.json']) {
      const p = path.join(instanceDir, name);
      if (fs.existsSync(p)) files.set(name, fs.readFileSync(p));
    }
    const info = JSON.parse(
      execFileSync(
        'qemu-img',
        ['info', '-U', '--output=json', path.join(instanceDir, 'disk.qcow2')],
        { encoding: 'utf8' },
      ),
    );
    template = {
      argv,
      instanceDir,
      files,
      backing: {
        file: info['full-backing-filename'] ?? info['backing-filename'],
        format: info['backing-filename-format'] ?? 'raw',
        virtualSize: info['virtual-size'],
      },
    };
  })();
  const api = (async () => {
    while (inApi === null) {
      if (Date.now() > deadline) throw new Error(`${input.name}: no boot line in consoleOutput`);
      const data = await postGraphQLOk(
        s.graphqlUrl,
        `query($id: ID!) { node(id: $id) { ... on Server { status taskState consoleOutput } } }`,
        { id },
        world.memberToken,
      );
      const at = ms(t0, nowNs());
      const server = data.node;
      if (server.status === 'ERROR') throw new Error(`${input.name} went to ERROR`);
      if (active === null && server.status === 'ACTIVE' && server.taskState === null) active = at;
      if (typeof server.consoleOutput === 'string' && server.consoleOutput.includes(BOOT_LINE))
        inApi = at;
      else await sleep(pollMs);
    }
  })();
  await Promise.all([file, api]);
  await deleteServer(s, world.memberToken, id);
  const gone = Date.now() + 60_000;
  const qemuPid = pid as number | null;
  while (qemuPid !== null && alive(qemuPid)) {
    if (Date.now() > gone) throw new Error(`QEMU ${qemuPid} still runs after deleteServer`);
    await sleep(50);
  }
  for (;;) {
    const data = await postGraphQLOk(
      s.graphqlUrl,
      `query($id: ID!) { node(id: $id) { ... on Server { status } } }`,
      { id },
      world.memberToken,
    );
    if (data.node.status === 'DELETED') break;
    if (Date.now() > gone) throw new Error(`${input.name} not DELETED`);
    await sleep(100);
  }
  return {
    boot: {
      name: input.name,
      createResponse,
      qemuStart,
      active,
      inFile: inFile as unknown as number,
      inApi: inApi as unknown as number,
    },
    template: template as unknown as Template,
  };
}

const running = new Set<ChildProcess>();

async function handBoot(template: Template): Promise<HandBoot> {
  // Short: QMP socket paths must fit in 107 bytes.
  const dir = tempDir('sh-');
  for (const [name, bytes] of template.files) fs.writeFileSync(path.join(dir, name), bytes);
  execFileSync('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-F',
    template.backing.format,
    '-b',
    template.backing.file,
    path.join(dir, 'disk.qcow2'),
    String(template.backing.virtualSize),
  ]);
  const [binary, ...rest] = template.argv;
  const argv: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '-daemonize') continue;
    if (rest[i] === '-pidfile') {
      i++;
      continue;
    }
    argv.push(rest[i].replaceAll(template.instanceDir, dir));
  }
  const consoleLog = path.join(dir, 'console.log');
  let stderr = '';
  const t0 = nowNs();
  const child = spawn(binary, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.stderr?.on('data', (c) => {
    stderr += c;
  });
  try {
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    for (;;) {
      if (contains(consoleLog, BOOT_LINE)) return { inFile: ms(t0, nowNs()) };
      if (child.exitCode !== null) throw new Error(`hand QEMU exited ${child.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error('hand QEMU: no boot line');
      await sleep(FILE_POLL_MS);
    }
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    running.delete(child);
  }
}

/** Ends every QEMU whose pidfile is in our state folder (and any hand run still alive). */
function killLeftovers(stateDir: string): void {
  for (const child of running) child.kill('SIGKILL');
  const instances = path.join(stateDir, 'instances');
  for (const name of fs.existsSync(instances) ? fs.readdirSync(instances) : []) {
    const pid = readPid(path.join(instances, name, 'qemu.pid'));
    if (pid === null || !alive(pid)) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(stateDir)) {
        process.kill(pid, 'SIGKILL');
        console.error(`killed a QEMU left running: ${pid}`);
      }
    } catch {
      // Gone meanwhile.
    }
  }
}

async function stages(databaseUrl: string): Promise<Map<string, Record<string, number>>> {
  const client = await pgClient(databaseUrl);
  try {
    const out = new Map<string, Record<string, number>>();
    const { rows } = await client.query(
      `select s.name, e.event, extract(epoch from e.finish_time - e.start_time) * 1000 as ms
         from instance_action_events e join instance_actions a on a.id = e.action_id
         join servers s on s.id = a.server_id
        where a.action = 'create'`,
    );
    for (const r of rows) out.set(r.name, { ...out.get(r.name), [r.event]: Number(r.ms) });
    const queued = await client.query(
      `select s.name, extract(epoch from o.started_at - o.created_at) * 1000 as ms
         from operations o join servers s on s.id::text = o.resource_id
        where o.kind = 'server.build' or o.kind like 'server.build@%'`,
    );
    for (const r of queued.rows) out.set(r.name, { ...out.get(r.name), queued: Number(r.ms) });
    return out;
  } finally {
    await client.end();
  }
}

export async function runBoot(db: BenchDatabase, options: BootOptions): Promise<BootResult> {
  const databaseUrl = await freshDatabase(db, 'stratus_servers_boot');
  // Short: QMP socket paths (<stateDir>/instances/<uuid>/qmp.sock) must fit in 107 bytes.
  const stateDir = tempDir('sb-');
  const base = loadConfig({});
  const s = await startChildStratus(databaseUrl, {
    objects: {
      driver: 'filesystem',
      driverConfig: { root: tempDir('stratus-bench-boot-objects-') },
      maxObjectBytes: 5 * 1024 ** 3,
    },
    compute: {
      ...base.compute,
      driver: 'qemu',
      driverConfig: { stateDir, accelerator: 'tcg' },
      imageCacheDir: path.join(stateDir, '_base'),
      shutdownTimeoutMs: 5_000,
    },
  });
  try {
    const world = await buildWorld(s, 128);
    const imageId = await uploadTestGuest(world.client, world.memberToken);
    const input = (name: string) => ({ name, imageId, flavorId: world.flavorId });
    const cold = await stratusBoot(s, world, stateDir, input('boot-cold'), options.pollMs);
    let template = cold.template;
    const rounds: BootRound[] = [];
    for (let r = 1; r <= options.rounds; r++) {
      const first = r % 2 === 1 ? 'stratus' : 'hand';
      let stratus: StratusBoot;
      let hand: HandBoot;
      if (first === 'stratus') {
        const run = await stratusBoot(s, world, stateDir, input(`boot-${r}`), options.pollMs);
        stratus = run.boot;
        template = run.template;
        hand = await handBoot(template);
      } else {
        hand = await handBoot(template);
        const run = await stratusBoot(s, world, stateDir, input(`boot-${r}`), options.pollMs);
        stratus = run.boot;
        template = run.template;
      }
      rounds.push({ first, stratus, hand });
      process.stdout.write(
        `-- boot round ${r}: Stratus ${fmt(stratus.inApi)} ms (file ${fmt(stratus.inFile)}), by hand ${fmt(hand.inFile)} ms\n`,
      );
    }
    return {
      options,
      cold: cold.boot,
      rounds,
      stages: await stages(databaseUrl),
      qemuArgv: template.argv,
    };
  } finally {
    killLeftovers(stateDir);
    await s.stop();
    killLeftovers(stateDir);
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export function printBoot(r: BootResult): void {
  const opt = (v: number | null) => (v === null ? '—' : fmt(v));
  const row = (label: string, b: StratusBoot) => {
    const st = r.stages.get(b.name) ?? {};
    return [
      label,
      fmt(b.createResponse),
      opt(b.qemuStart),
      opt(b.active),
      fmt(b.inFile),
      fmt(b.inApi),
      opt(b.qemuStart === null ? null : b.inFile - b.qemuStart),
      `${opt(st.queued ?? null)} / ${opt(st.schedule_instance ?? null)} / ${opt(st.fetch_image ?? null)} / ${opt(st.compute_build_and_run_instance ?? null)}`,
    ];
  };
  printTable(
    `Boot of the test guest under TCG, Stratus: ms from just before createServer (consoleOutput polled every ${r.options.pollMs} ms, console.log every ${FILE_POLL_MS} ms)`,
    [
      [
        'run',
        'createServer response',
        'QEMU process started',
        'ACTIVE (API)',
        'boot line in console.log',
        'boot line in consoleOutput',
        'QEMU start → boot line',
        'job queued / schedule / fetch_image / spawn',
      ],
      row('first (image cache cold)', r.cold),
      ...r.rounds.map((x, i) => row(`round ${i + 1}`, x.stratus)),
    ],
  );
  printTable('Stratus against the same QEMU command by hand, same rounds (ms)', [
    [
      'round',
      'first',
      'by hand: spawn → boot line in file',
      'Stratus: createServer → boot line in consoleOutput',
      'Stratus adds',
      'Stratus: createServer → boot line in file',
      'adds (file)',
    ],
    ...r.rounds.map((x, i) => [
      i + 1,
      x.first,
      fmt(x.hand.inFile),
      fmt(x.stratus.inApi),
      `${fmt(x.stratus.inApi - x.hand.inFile)} (${fmt(((x.stratus.inApi - x.hand.inFile) / x.hand.inFile) * 100, 1)} %)`,
      fmt(x.stratus.inFile),
      `${fmt(x.stratus.inFile - x.hand.inFile)} (${fmt(((x.stratus.inFile - x.hand.inFile) / x.hand.inFile) * 100, 1)} %)`,
    ]),
    (() => {
      const hand = median(r.rounds.map((x) => x.hand.inFile));
      const api = median(r.rounds.map((x) => x.stratus.inApi));
      const file = median(r.rounds.map((x) => x.stratus.inFile));
      return [
        'median of each column',
        '',
        fmt(hand),
        fmt(api),
        `${fmt(api - hand)} (${fmt(((api - hand) / hand) * 100, 1)} %)`,
        fmt(file),
        `${fmt(file - hand)} (${fmt(((file - hand) / hand) * 100, 1)} %)`,
      ];
    })(),
    (() => {
      const pct = (d: number[]) => median(d.map((v, i) => (v / r.rounds[i].hand.inFile) * 100));
      const api = r.rounds.map((x) => x.stratus.inApi - x.hand.inFile);
      const file = r.rounds.map((x) => x.stratus.inFile - x.hand.inFile);
      return [
        'median of the per-round differences',
        '',
        '',
        '',
        `${fmt(median(api))} (${fmt(pct(api), 1)} %)`,
        '',
        `${fmt(median(file))} (${fmt(pct(file), 1)} %)`,
      ];
    })(),
  ]);
  process.stdout.write(`\nQEMU command line of the last Stratus run:\n  ${r.qemuArgv.join(' ')}\n`);
}
