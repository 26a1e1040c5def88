/**
 * Volume attach through the GraphQL API (issue #4): time from sending `attachVolume` to the
 * disk visible in the guest, against the same QMP commands sent by hand to a second, identical
 * guest booted by hand, in the same run. Goal: overhead below 20 %.
 *
 *   npx tsx bench/volume-attach-api.ts     # ~30 s with the guest built; VOLUME_ROUNDS (default 10)
 *
 * Stratus runs in-process (embedded PostgreSQL, the qemu compute driver under TCG, the file
 * volume driver in a temp folder, no network driver). The test guest (scripts/build-test-guest)
 * is uploaded as aki/ari/ami and booted by createServer with user data DISK_WATCH_SCRIPT, which
 * prints `DISKS vda vdb` within 2 ms of /sys/block changing. A 1 GiB blank volume comes from
 * createVolume. The second guest is started by hand from the driver's own argv builder
 * (qemuArgv: same kernel, initrd, command line, memory, machine, hot-plug ports), without
 * -daemonize, with its own QMP socket and a qcow2 volume file from qemu-img.
 * One warm-up round (not counted), then rounds alternating which side goes first, the console
 * file read the same way (ConsoleTail, every 1 ms) for both:
 *   (a) API: attachVolume mutation sent -> console shows `DISKS vda vdb`; then detachVolume,
 *       the volume AVAILABLE again and the console back to `DISKS vda`;
 *   (b) by hand: blockdev-add x2 + device_add -> console shows it; then detach by hand.
 * Also prints when the attach Operation reached SUCCEEDED (its finishedAt), and where the
 * operation's time went (queue wait before the job started, its stages).
 * Everything (both VMs, temp folders, the database) is removed at the end, also on failure and
 * on Ctrl-C / SIGTERM.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { instancePaths, qemuArgv } from '../drivers/compute/qemu-args';
import { loadConfig } from '../server/config';
import { startEmbeddedPostgres } from '../server/embedded-postgres';
import {
  createFlavor,
  createServer,
  qemuCompute,
  rawId,
  uploadTestGuest,
  waitForOperation,
  waitForStatus,
} from '../test/support/compute';
import type { Json, TestStratus } from '../test/support/harness';
import { GUEST_DIR, qemuSkipReason } from '../test/support/host-tools';
import {
  type BenchStratus,
  fmt,
  machineLine,
  printTable,
  runMain,
  sleep,
  startBenchStratus,
  summarize,
} from './support';
import {
  attachByHand,
  ConsoleTail,
  DISK_WATCH_SCRIPT,
  detachByHand,
  disksLine,
  median,
  RawQmp,
  timeToConsole,
} from './volume-attach-common';

const ROUNDS = Number(process.env.VOLUME_ROUNDS ?? 10);
const MEMORY_MIB = 256;
const KERNEL_CMDLINE = 'console=ttyS0 panic=-1';
const BOOT_TIMEOUT_MS = 600_000;

const VOLUME_ERRORS = `__typename ... on Error { message }`;
const STARTED = `started { volume { id status } operation { id } }`;
const OPERATION_TIMES = `query($id: ID!) { node(id: $id) { ... on Operation {
  status createdAt startedAt finishedAt error { message } stages { name startedAt finishedAt } } } }`;

/** One Stratus volume mutation answering `{ started }`; returns the operation's id. */
async function volumeMutation(
  s: BenchStratus,
  token: string,
  mutation: 'createVolume' | 'attachVolume' | 'detachVolume',
  input: Record<string, unknown>,
): Promise<{ volumeId: string; operationId: string }> {
  const type = `${mutation[0].toUpperCase()}${mutation.slice(1)}`;
  const data = await s.ok(
    `mutation($input: ${type}Input!) { ${mutation}(input: $input) { ${VOLUME_ERRORS} ... on ${type}Success { ${STARTED} } } }`,
    { input },
    token,
  );
  const payload = data[mutation];
  if (!payload.started) throw new Error(`${mutation}: ${JSON.stringify(payload)}`);
  return { volumeId: payload.started.volume.id, operationId: payload.started.operation.id };
}

async function volumeStatus(s: BenchStratus, token: string, id: string): Promise<string> {
  return (await s.ok(`query($id: ID!) { volume(id: $id) { status } }`, { id }, token)).volume
    .status;
}

/** Polls (every 20 ms) until the volume has `status`. */
async function waitForVolume(
  s: BenchStratus,
  token: string,
  id: string,
  status: string,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const now = await volumeStatus(s, token, id);
    if (now === status) return;
    if (now === 'ERROR' || Date.now() > deadline)
      throw new Error(`volume ${id} is ${now}, waited for ${status}`);
    await sleep(20);
  }
}

/** The operation once it ended (it must have SUCCEEDED), with its timestamps. */
async function finishedOperation(s: BenchStratus, token: string, id: string): Promise<Json> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const op = (await s.ok(OPERATION_TIMES, { id }, token)).node;
    if (op.status === 'SUCCEEDED') return op;
    if (op.status === 'FAILED' || Date.now() > deadline)
      throw new Error(`operation ${id}: ${JSON.stringify(op)}`);
    await sleep(20);
  }
}

/** The second guest, started by hand with the driver's argv (minus -daemonize: our child). */
function bootByHand(
  dir: string,
  metaData: Buffer | null,
): { child: ChildProcess; consoleLog: string; qmpSocket: string } {
  const paths = instancePaths(dir, randomUUID());
  fs.mkdirSync(paths.dir, { recursive: true });
  fs.writeFileSync(paths.userData, DISK_WATCH_SCRIPT);
  if (metaData) fs.writeFileSync(paths.metaData, metaData);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', paths.disk, '1G']);
  const argv = qemuArgv({
    instanceId: path.basename(paths.dir),
    name: 'bench-by-hand',
    vcpus: 1,
    memoryMib: MEMORY_MIB,
    accelerator: 'tcg',
    paths,
    rootDisk: 'overlay',
    volumes: [],
    nics: [],
    kernel: {
      kernelPath: path.join(GUEST_DIR, 'vmlinuz'),
      initrdPath: path.join(GUEST_DIR, 'initrd.img'),
      cmdline: KERNEL_CMDLINE,
    },
    hasUserData: true,
    hasMetaData: metaData !== null,
    startPaused: false,
  });
  const daemonize = argv.indexOf('-daemonize');
  argv.splice(daemonize, 3); // -daemonize -pidfile <path>
  const child = spawn('qemu-system-x86_64', argv, { stdio: 'ignore' });
  return { child, consoleLog: paths.consoleLog, qmpSocket: paths.qmpSocket };
}

/**
 * Kills every QEMU whose command line names `stateDir` (our own temp folder, so only the
 * guests this run's Stratus started): a leftover of a failure, or of a kill while a build
 * job was still launching one.
 */
function killInstances(stateDir: string): void {
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (path.basename(argv.split('\0')[0]).startsWith('qemu-system') && argv.includes(stateDir)) {
        process.kill(Number(pid), 'SIGKILL');
      }
    } catch {
      // Gone meanwhile, or not ours to read: nothing to end.
    }
  }
}

const ms = (from: string, to: string) => Date.parse(to) - Date.parse(from);

async function main(): Promise<void> {
  const skip = qemuSkipReason();
  if (skip) {
    console.log(`volume-attach-api: skipped (${skip})`);
    return;
  }
  // The driver's QMP sockets are unref'd: keep the loop alive through awaited closes.
  const keepAlive = setInterval(() => {}, 1000);
  const cleanups: (() => unknown)[] = [() => clearInterval(keepAlive)];
  /** Undoes everything started so far, newest first, going on past a failed step. */
  const cleanUp = async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error('cleanup:', error instanceof Error ? error.message : error);
      }
    }
  };
  // On Ctrl-C or a kill, embedded-postgres (async-exit-hook) stops PostgreSQL and exits the
  // process by itself, before any async cleanup of ours could run: so what is left is undone
  // synchronously on 'exit' (also after a normal run, where it finds nothing).
  const leftovers = { dirs: [] as string[], stateDir: '', hand: null as ChildProcess | null };
  process.once('exit', () => {
    if (leftovers.stateDir) killInstances(leftovers.stateDir);
    leftovers.hand?.kill('SIGKILL');
    for (const dir of leftovers.dirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  try {
    const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bench-pg-'));
    leftovers.dirs.push(dbDir);
    cleanups.push(() => fs.rmSync(dbDir, { recursive: true, force: true }));
    const db = await startEmbeddedPostgres(dbDir, 'stratus');
    cleanups.push(() => db.stop());
    const base = loadConfig({});
    const compute = qemuCompute(base.compute);
    const stateDir = String(compute.driverConfig.stateDir);
    leftovers.stateDir = stateDir;
    leftovers.dirs.push(stateDir);
    cleanups.push(() => fs.rmSync(stateDir, { recursive: true, force: true }));
    cleanups.push(() => killInstances(stateDir));
    const volumeRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bench-volumes-'));
    leftovers.dirs.push(volumeRoot);
    cleanups.push(() => fs.rmSync(volumeRoot, { recursive: true, force: true }));
    const handDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bench-hand-'));
    leftovers.dirs.push(handDir);
    cleanups.push(() => fs.rmSync(handDir, { recursive: true, force: true }));

    const s = await startBenchStratus(db.url, {
      compute,
      volume: { ...base.volume, driver: 'file', driverConfig: { root: volumeRoot } },
      network: { ...base.network, driver: 'none', driverConfig: {} },
    });
    cleanups.push(() => s.stop());
    const token = await s.adminLogin();
    // The test helpers need only `ok` (and the admin token for flavors).
    const client = { ok: s.ok, adminToken: token } as unknown as TestStratus;
    console.log(machineLine('embedded'));
    console.log(
      `load average at start: ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );

    const imageId = await uploadTestGuest(client, token);
    const flavorId = await createFlavor(client, {
      name: 'bench-volume-attach',
      vcpus: 1,
      ramMib: MEMORY_MIB,
      rootDiskGib: 1,
    });
    const created = await createServer(client, token, {
      name: 'bench-volume-attach',
      imageId,
      flavorId,
      userData: DISK_WATCH_SCRIPT,
    });
    if (!created.created) throw new Error(`createServer: ${JSON.stringify(created)}`);
    const serverId: string = created.created.server.id;
    cleanups.push(async () => {
      // Deleting through the API ends its QEMU (a daemon: it would outlive Stratus).
      const data = await s.ok(
        `mutation($input: ServerIdInput!) { deleteServer(input: $input) { __typename } }`,
        { input: { id: serverId } },
        token,
      );
      if (data.deleteServer.__typename === 'DeleteServerSuccess')
        await waitForStatus(client, token, serverId, 'DELETED', 60_000);
    });
    await waitForOperation(client, token, created.created.operation.id, BOOT_TIMEOUT_MS);
    await waitForStatus(client, token, serverId, 'ACTIVE', BOOT_TIMEOUT_MS);
    const folder = path.join(stateDir, 'instances', rawId(serverId));
    const apiTail = new ConsoleTail(path.join(folder, 'console.log'));

    // The same metadata the driver gave its guest, so both guests boot alike.
    const metaPath = path.join(folder, 'meta-data.json');
    const hand = bootByHand(handDir, fs.existsSync(metaPath) ? fs.readFileSync(metaPath) : null);
    leftovers.hand = hand.child;
    cleanups.push(() => hand.child.kill('SIGKILL'));
    const handTail = new ConsoleTail(hand.consoleLog);
    await apiTail.waitFor(disksLine(['vda']), 0, BOOT_TIMEOUT_MS);
    for (let i = 0; !fs.existsSync(hand.consoleLog) && i < 1000; i++) await sleep(10);
    await handTail.waitFor(disksLine(['vda']), 0, BOOT_TIMEOUT_MS);
    const qmp = await RawQmp.connect(hand.qmpSocket);
    cleanups.push(() => qmp.close());
    const handVolume = {
      volumeId: randomUUID(),
      driver: 'qcow2' as const,
      path: path.join(handDir, 'volume.qcow2'),
    };
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', handVolume.path, '1G']);

    const volume = await volumeMutation(s, token, 'createVolume', { name: 'bench', sizeGib: 1 });
    await finishedOperation(s, token, volume.operationId);
    await waitForVolume(s, token, volume.volumeId, 'AVAILABLE');
    const ids = { volumeId: volume.volumeId, serverId };

    const apiVisible: number[] = [];
    const apiCall: number[] = [];
    const opDone: number[] = [];
    const queueWait: number[] = [];
    const stageMs = new Map<string, number[]>();
    const stageStart = new Map<string, number[]>();
    const afterPlugStart: number[] = [];
    const handVisible: number[] = [];
    const handCall: number[] = [];
    /** (a) attachVolume through the API until the guest shows it; then detachVolume. */
    async function throughApi(record: boolean): Promise<string> {
      let operationId = '';
      let sentAt = 0;
      const a = await timeToConsole(apiTail, disksLine(['vda', 'vdb']), async () => {
        sentAt = Date.now();
        operationId = (await volumeMutation(s, token, 'attachVolume', ids)).operationId;
      });
      const op = await finishedOperation(s, token, operationId);
      const done = Date.parse(op.finishedAt) - sentAt;
      if (record) {
        apiVisible.push(a.visibleMs);
        apiCall.push(a.actionMs);
        opDone.push(done);
        queueWait.push(ms(op.createdAt, op.startedAt));
        for (const stage of op.stages as Json[]) {
          if (!stage.startedAt || !stage.finishedAt) continue;
          const durations = stageMs.get(stage.name) ?? [];
          durations.push(ms(stage.startedAt, stage.finishedAt));
          stageMs.set(stage.name, durations);
          const starts = stageStart.get(stage.name) ?? [];
          starts.push(Date.parse(stage.startedAt) - sentAt);
          stageStart.set(stage.name, starts);
          // What is left after Stratus's part before the QMP commands: comparable to (b).
          if (stage.name === 'hot-plugging')
            afterPlugStart.push(a.visibleMs - (Date.parse(stage.startedAt) - sentAt));
        }
      }
      const detachFrom = await apiTail.mark();
      const detach = await volumeMutation(s, token, 'detachVolume', ids);
      await finishedOperation(s, token, detach.operationId);
      await waitForVolume(s, token, volume.volumeId, 'AVAILABLE');
      await apiTail.waitFor(disksLine(['vda']), detachFrom);
      return `API ${a.visibleMs.toFixed(1)} ms (mutation ${a.actionMs.toFixed(1)}, operation SUCCEEDED ${done} ms)`;
    }

    /** (b) the same QMP commands by hand on the second guest; then detach by hand. */
    async function byHand(record: boolean): Promise<string> {
      const b = await timeToConsole(handTail, disksLine(['vda', 'vdb']), () =>
        attachByHand(qmp, handVolume, 0),
      );
      if (record) {
        handVisible.push(b.visibleMs);
        handCall.push(b.actionMs);
      }
      const handFrom = await handTail.mark();
      await detachByHand(qmp, handVolume.volumeId);
      await handTail.waitFor(disksLine(['vda']), handFrom);
      return `by hand ${b.visibleMs.toFixed(1)} ms (commands ${b.actionMs.toFixed(1)})`;
    }

    // One warm-up round, not counted: each guest's first hot-plug is slow (cold guest code
    // paths under TCG; up to ~1.3 s), and so are Stratus's first attach mutation and job.
    const warm = [await throughApi(false), await byHand(false)];
    process.stdout.write(`warm-up (not counted): ${warm.join(', ')}\n`);
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating which goes first, so neither always follows the other's detach.
      const lines =
        round % 2 === 0
          ? [await throughApi(true), await byHand(true)]
          : [await byHand(true), await throughApi(true)].reverse();
      process.stdout.write(`round ${round + 1}/${ROUNDS}: ${lines.join(', ')}\n`);
    }

    const row = (label: string, samples: number[]) => {
      const t = summarize(samples);
      // The median as the ratio below takes it (mean of the middle two); p90 nearest rank.
      return [label, fmt(median(samples), 1), fmt(t.p90, 1), fmt(t.min, 1), fmt(t.max, 1)];
    };
    printTable(
      `volume attach through the API, ${ROUNDS} interleaved rounds, test guest under TCG (ms)`,
      [
        ['measure', 'median', 'p90', 'min', 'max'],
        row('API: attachVolume sent -> DISKS vda vdb on the console', apiVisible),
        row('by hand: blockdev-add x2 + device_add -> console', handVisible),
        row('API: the mutation response alone', apiCall),
        row('by hand: the QMP commands alone', handCall),
        row('API: attachVolume sent -> operation finishedAt (SUCCEEDED)', opDone),
        row('operation: createdAt -> startedAt (job pickup)', queueWait),
        ...[...stageStart].map(([name, samples]) =>
          row(`API: attachVolume sent -> stage ${name} started`, samples),
        ),
        row('API: stage hot-plugging started -> DISKS vda vdb', afterPlugStart),
        ...[...stageMs].map(([name, samples]) =>
          row(`operation stage ${name} (duration)`, samples),
        ),
      ],
    );
    const ratio = median(apiVisible) / median(handVisible);
    const overhead = (ratio - 1) * 100;
    const p90Ratio = summarize(apiVisible).p90 / summarize(handVisible).p90;
    console.log(
      `\nmedian ratio API / by hand: ${ratio.toFixed(2)} -> overhead ${overhead.toFixed(1)} % (p90 ratio ${p90Ratio.toFixed(2)}); goal < 20 %: ${overhead < 20 ? 'met' : 'not met'}`,
    );
  } finally {
    await cleanUp();
  }
}

runMain(main);
