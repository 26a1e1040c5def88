/**
 * Object storage: (1) throughput of large objects through Stratus against `cp` (filesystem
 * driver) and against talking to s3rver directly (s3 driver); (2) peak resident memory of the
 * Stratus process while a 1 GiB object goes through it; (3) 4 KiB PUTs and GETs per second.
 *
 *   npx tsx bench/objects.ts
 *   OBJECTS_CPU_PROF=/tmp/prof npx tsx bench/objects.ts   # also profiles one PUT and one GET run
 *
 * Stratus and s3rver run in child processes (bench/objects-child.ts), so the client in this
 * process never shares their event loop and their RSS can be read from /proc/<pid>/status.
 * Every body is streamed from a file on disk; every download goes to a file or an MD5 sink.
 *
 * Env: OBJECTS_ROUNDS (3), OBJECTS_1MIB_OPS (20, sequential 1 MiB operations per round),
 * OBJECTS_BIG_MIB (256), OBJECTS_MEMORY_MIB (1024), OBJECTS_SMALL_CONNECTIONS (20),
 * OBJECTS_SMALL_SECONDS (10), OBJECTS_SMALL_WARMUP_SECONDS (2), OBJECTS_SMALL_ROUNDS (2),
 * OBJECTS_GET_OBJECTS (1000), OBJECTS_CPU_PROF (a folder: write and summarise CPU profiles).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3Config } from '../drivers/objects/s3';
import type { ObjectsConfig } from '../server/config';
import type {
  ChildCommand,
  ChildReady,
  ObjectLoadJob,
  ObjectLoadResult,
  StratusJob,
} from './objects-child';
import {
  ADMIN_PASSWORD,
  BENCH_DIR,
  fmt,
  gql,
  LOGIN_MUTATION,
  machineLine,
  printTable,
  runMain,
  sleep,
  startDatabase,
} from './support';

const MiB = 1024 * 1024;
const ROUNDS = Number(process.env.OBJECTS_ROUNDS ?? 3);
const ONE_MIB_OPS = Number(process.env.OBJECTS_1MIB_OPS ?? 20);
let BIG_MIB = Number(process.env.OBJECTS_BIG_MIB ?? 256);
let MEMORY_MIB = Number(process.env.OBJECTS_MEMORY_MIB ?? 1024);
const SMALL_CONNECTIONS = Number(process.env.OBJECTS_SMALL_CONNECTIONS ?? 20);
const SMALL_SECONDS = Number(process.env.OBJECTS_SMALL_SECONDS ?? 10);
const SMALL_WARMUP_SECONDS = Number(process.env.OBJECTS_SMALL_WARMUP_SECONDS ?? 2);
const SMALL_ROUNDS = Number(process.env.OBJECTS_SMALL_ROUNDS ?? 2);
const GET_OBJECTS = Number(process.env.OBJECTS_GET_OBJECTS ?? 1000);
const CPU_PROF = process.env.OBJECTS_CPU_PROF ?? '';
const SMALL_BYTES = 4096;
/** The s3 driver's own part size and queue (drivers/objects/s3.ts), used for the direct client too. */
const S3_PART_BYTES = 5 * MiB;
const S3_QUEUE = 2;
const MAX_OBJECT_BYTES = 5 * 1024 ** 3;

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

// ---------------------------------------------------------------- child processes

interface Child {
  process: ChildProcess;
  ready: ChildReady;
  send(command: ChildCommand): void;
  /** Resolves with the next message that is not a ChildReady (profile acknowledgements). */
  next(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

async function startChild(
  role: 'stratus' | 's3rver',
  job: StratusJob | { type: 'start' },
): Promise<Child> {
  const child = fork(path.join(BENCH_DIR, 'objects-child.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, OBJECTS_CHILD_ROLE: role },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = await new Promise<ChildReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ChildReady));
    child.once('error', reject);
    void exited.then((code) => reject(new Error(`${role} child exited with ${code}`)));
    child.send(job);
  });
  return {
    process: child,
    ready,
    send: (command) => child.send(command),
    next: () => new Promise((resolve) => child.once('message', (m) => resolve(m as never))),
    stop: async () => {
      if (child.exitCode !== null) return;
      child.send({ type: 'stop' } satisfies ChildCommand);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function runLoad(job: ObjectLoadJob): Promise<ObjectLoadResult> {
  const child = fork(path.join(BENCH_DIR, 'objects-child.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, OBJECTS_CHILD_ROLE: 'load' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (result) => resolve(result as ObjectLoadResult));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load child exited with ${code}`));
    });
    child.send(job);
  });
}

/** VmRSS and VmHWM of a process, in bytes. */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kib('VmRSS') * 1024, hwm: kib('VmHWM') * 1024 };
}

// ---------------------------------------------------------------- Stratus over HTTP

interface StratusTarget {
  child: Child;
  origin: string;
  token: string;
}

async function connectStratus(databaseUrl: string, objects: ObjectsConfig): Promise<StratusTarget> {
  const child = await startChild('stratus', { databaseUrl, objects });
  const result = await gql(`${child.ready.url}/graphql`, LOGIN_MUTATION, {
    input: { userName: 'admin', password: ADMIN_PASSWORD, scope: { projectName: 'admin' } },
  });
  if (result.data?.login?.__typename !== 'LoginSuccess')
    throw new Error(`login failed: ${JSON.stringify(result)}`);
  return { child, origin: child.ready.url, token: result.data.login.data.token };
}

const CREATE_CONTAINER = `mutation($input: CreateContainerInput!) { createContainer(input: $input) { __typename ... on CreateContainerSuccess { container { id uploadUrlPrefix } } ... on Error { message } } }`;

/** Creates a container; returns its object path prefix (/v1/AUTH_<project>/<name>/). */
async function createContainer(s: StratusTarget, name: string): Promise<string> {
  const result = await gql(`${s.origin}/graphql`, CREATE_CONTAINER, { input: { name } }, s.token);
  const payload = result.data?.createContainer;
  if (payload?.__typename !== 'CreateContainerSuccess')
    throw new Error(`createContainer failed: ${JSON.stringify(result)}`);
  return new URL(payload.container.uploadUrlPrefix as string).pathname;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  res: http.IncomingMessage;
}

function request(
  origin: string,
  method: string,
  objectPath: string,
  headers: Record<string, string | number>,
  send: (req: http.ClientRequest) => void,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${objectPath}`, { method, agent, headers }, (res) =>
      resolve({ status: res.statusCode ?? 0, headers: res.headers, res }),
    );
    req.on('error', reject);
    send(req);
  });
}

async function drain(res: http.IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res) text += chunk;
  return text;
}

/** PUTs a file streamed from disk; returns the server's ETag. Throws unless 201. */
async function putFile(s: StratusTarget, objectPath: string, file: string): Promise<string> {
  const size = fs.statSync(file).size;
  const answer = await request(
    s.origin,
    'PUT',
    objectPath,
    {
      'x-auth-token': s.token,
      'content-type': 'application/octet-stream',
      'content-length': size,
    },
    (req) => {
      fs.createReadStream(file, { highWaterMark: 256 * 1024 })
        .on('error', (e) => req.destroy(e))
        .pipe(req);
    },
  );
  const text = await drain(answer.res);
  if (answer.status !== 201) throw new Error(`PUT ${objectPath}: ${answer.status} ${text}`);
  return String(answer.headers.etag).replace(/"/g, '');
}

async function putBuffer(s: StratusTarget, objectPath: string, body: Buffer): Promise<void> {
  const answer = await request(
    s.origin,
    'PUT',
    objectPath,
    { 'x-auth-token': s.token, 'content-length': body.length },
    (req) => req.end(body),
  );
  const text = await drain(answer.res);
  if (answer.status !== 201) throw new Error(`PUT ${objectPath}: ${answer.status} ${text}`);
}

/** GETs an object into `sink`; returns the number of bytes. Throws unless 200. */
async function getInto(s: StratusTarget, objectPath: string, sink: Writable): Promise<number> {
  const answer = await request(s.origin, 'GET', objectPath, { 'x-auth-token': s.token }, (req) =>
    req.end(),
  );
  if (answer.status !== 200)
    throw new Error(`GET ${objectPath}: ${answer.status} ${await drain(answer.res)}`);
  let bytes = 0;
  answer.res.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  await pipeline(answer.res, sink);
  return bytes;
}

async function deleteObject(s: StratusTarget, objectPath: string): Promise<void> {
  const answer = await request(s.origin, 'DELETE', objectPath, { 'x-auth-token': s.token }, (req) =>
    req.end(),
  );
  await drain(answer.res);
  if (answer.status !== 204) throw new Error(`DELETE ${objectPath}: ${answer.status}`);
}

/** A Writable that only hashes (MD5) what it is given. */
function md5Sink(): Writable & { hex(): string } {
  const hash = createHash('md5');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done();
    },
  }) as Writable & { hex(): string };
  sink.hex = () => hash.digest('hex');
  return sink;
}

async function md5OfFile(file: string): Promise<string> {
  const sink = md5Sink();
  await pipeline(fs.createReadStream(file, { highWaterMark: MiB }), sink);
  return sink.hex();
}

// ---------------------------------------------------------------- local references

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`)),
    );
  });
}

/** Writes `bytes` of random data to `file`; returns its MD5. */
async function makeFile(file: string, bytes: number): Promise<string> {
  const hash = createHash('md5');
  const out = fs.openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; ) {
      const chunk = randomBytes(Math.min(left, 4 * MiB));
      hash.update(chunk);
      fs.writeSync(out, chunk);
      left -= chunk.length;
    }
  } finally {
    fs.closeSync(out);
  }
  return hash.digest('hex');
}

// ---------------------------------------------------------------- throughput

type Op = 'upload' | 'download';
interface Measure {
  target: string;
  op: Op | 'copy';
  sizeBytes: number;
  round: number;
  /** Sequential operations timed together. */
  ops: number;
  ms: number;
}

const measures: Measure[] = [];

async function timed(
  target: string,
  op: Measure['op'],
  sizeBytes: number,
  round: number,
  ops: number,
  body: (i: number) => Promise<void>,
): Promise<void> {
  const started = performance.now();
  for (let i = 0; i < ops; i++) await body(i);
  measures.push({ target, op, sizeBytes, round, ops, ms: performance.now() - started });
}

const mbPerSec = (m: Measure) => (m.sizeBytes * m.ops) / (m.ms / 1000) / 1e6;
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const sizeLabel = (bytes: number) => (bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / 1024} KiB`);

interface Source {
  file: string;
  bytes: number;
  md5: string;
}

async function filesystemThroughput(
  s: StratusTarget,
  sources: Source[],
  work: string,
): Promise<void> {
  const prefix = await createContainer(s, 'throughput');
  for (let round = 1; round <= ROUNDS; round++) {
    for (const src of sources) {
      const ops = src.bytes <= MiB ? ONE_MIB_OPS : 1;
      const dst = (i: number) => path.join(work, `copy-${i}`);
      const clean = () => {
        for (let i = 0; i < ops; i++) fs.rmSync(dst(i), { force: true });
      };
      await timed('cp (child_process)', 'copy', src.bytes, round, ops, (i) =>
        run('cp', [src.file, dst(i)]),
      );
      clean();
      await timed('cp + sync FILE', 'copy', src.bytes, round, ops, async (i) => {
        await run('cp', [src.file, dst(i)]);
        await run('sync', [dst(i)]);
      });
      clean();
      await timed('fs.copyFile (in-process)', 'copy', src.bytes, round, ops, (i) =>
        fs.promises.copyFile(src.file, dst(i)),
      );
      clean();
      const name = (i: number) => `${prefix}t-${src.bytes}-${round}-${i}`;
      await timed('Stratus, filesystem driver', 'upload', src.bytes, round, ops, async (i) => {
        const etag = await putFile(s, name(i), src.file);
        if (etag !== src.md5) throw new Error(`ETag ${etag}, expected ${src.md5}`);
      });
      await timed('Stratus, filesystem driver', 'download', src.bytes, round, ops, async (i) => {
        const bytes = await getInto(s, name(i), fs.createWriteStream(dst(i)));
        if (bytes !== src.bytes) throw new Error(`GET gave ${bytes} bytes, expected ${src.bytes}`);
      });
      if (round === 1 && (await md5OfFile(dst(0))) !== src.md5)
        throw new Error('downloaded bytes differ from the source');
      clean();
      for (let i = 0; i < ops; i++) await deleteObject(s, name(i));
    }
  }
}

async function s3Throughput(
  s: StratusTarget,
  s3: S3Config,
  sources: Source[],
  work: string,
): Promise<void> {
  const client = new S3Client({
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const prefix = await createContainer(s, 'throughput-s3');
  for (let round = 1; round <= ROUNDS; round++) {
    for (const src of sources) {
      const ops = src.bytes <= MiB ? ONE_MIB_OPS : 1;
      const dst = (i: number) => path.join(work, `copy-${i}`);
      const clean = () => {
        for (let i = 0; i < ops; i++) fs.rmSync(dst(i), { force: true });
      };
      const key = (i: number) => `direct/${src.bytes}-${round}-${i}`;
      await timed('s3rver direct (client-s3 + lib-storage)', 'upload', src.bytes, round, ops, (i) =>
        new Upload({
          client,
          params: {
            Bucket: s3.bucket,
            Key: key(i),
            Body: fs.createReadStream(src.file, { highWaterMark: 256 * 1024 }),
          },
          partSize: S3_PART_BYTES,
          queueSize: S3_QUEUE,
          leavePartsOnError: false,
        })
          .done()
          .then(() => {}),
      );
      await timed(
        's3rver direct (client-s3 + lib-storage)',
        'download',
        src.bytes,
        round,
        ops,
        async (i) => {
          const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key(i) }));
          await pipeline(got.Body as NodeJS.ReadableStream, fs.createWriteStream(dst(i)));
        },
      );
      if (round === 1 && (await md5OfFile(dst(0))) !== src.md5)
        throw new Error('bytes read back from s3rver differ from the source');
      clean();
      for (let i = 0; i < ops; i++)
        await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key(i) }));

      const name = (i: number) => `${prefix}t-${src.bytes}-${round}-${i}`;
      await timed('Stratus, s3 driver -> s3rver', 'upload', src.bytes, round, ops, async (i) => {
        const etag = await putFile(s, name(i), src.file);
        if (etag !== src.md5) throw new Error(`ETag ${etag}, expected ${src.md5}`);
      });
      await timed('Stratus, s3 driver -> s3rver', 'download', src.bytes, round, ops, async (i) => {
        const bytes = await getInto(s, name(i), fs.createWriteStream(dst(i)));
        if (bytes !== src.bytes) throw new Error(`GET gave ${bytes} bytes, expected ${src.bytes}`);
      });
      if (round === 1 && (await md5OfFile(dst(0))) !== src.md5)
        throw new Error('downloaded bytes differ from the source');
      clean();
      for (let i = 0; i < ops; i++) await deleteObject(s, name(i));
    }
  }
  client.destroy();
}

function printThroughput(sources: Source[]): void {
  const rows: Array<Array<string | number>> = [
    [
      'target',
      'size',
      'op',
      ...Array.from({ length: ROUNDS }, (_, i) => `MB/s r${i + 1}`),
      'median MB/s',
      'median ms/op',
    ],
  ];
  const keys: Array<[string, Measure['op']]> = [];
  for (const m of measures)
    if (!keys.some(([t, o]) => t === m.target && o === m.op)) keys.push([m.target, m.op]);
  for (const src of sources) {
    for (const [target, op] of keys) {
      const ms = measures.filter(
        (m) => m.target === target && m.op === op && m.sizeBytes === src.bytes,
      );
      if (!ms.length) continue;
      rows.push([
        target,
        sizeLabel(src.bytes),
        op,
        ...ms.map((m) => fmt(mbPerSec(m), 1)),
        fmt(median(ms.map(mbPerSec)), 1),
        fmt(median(ms.map((m) => m.ms / m.ops)), 2),
      ]);
    }
  }
  printTable(
    `Throughput (MB = 10^6 bytes), one request at a time; ${ONE_MIB_OPS} sequential operations per 1 MiB cell, 1 per larger cell`,
    rows,
  );

  const ratio = (
    target: string,
    op: Measure['op'],
    refTarget: string,
    refOp: Measure['op'],
    bytes: number,
  ) => {
    const of = (t: string, o: Measure['op']) =>
      measures.filter((m) => m.target === t && m.op === o && m.sizeBytes === bytes);
    const a = of(target, op);
    const b = of(refTarget, refOp);
    return a.map((m, i) => (100 * mbPerSec(m)) / mbPerSec(b[i]));
  };
  const ratioRows: Array<Array<string | number>> = [
    [
      'ratio of MB/s, same round',
      'size',
      ...Array.from({ length: ROUNDS }, (_, i) => `r${i + 1}`),
      'median',
    ],
  ];
  const add = (label: string, values: number[], bytes: number) =>
    ratioRows.push([
      label,
      sizeLabel(bytes),
      ...values.map((v) => `${fmt(v, 1)}%`),
      `${fmt(median(values), 1)}%`,
    ]);
  for (const src of sources) {
    const fsT = 'Stratus, filesystem driver';
    const s3T = 'Stratus, s3 driver -> s3rver';
    const direct = 's3rver direct (client-s3 + lib-storage)';
    add(
      'Stratus fs upload / cp (goal >= 70%)',
      ratio(fsT, 'upload', 'cp (child_process)', 'copy', src.bytes),
      src.bytes,
    );
    add(
      'Stratus fs download / cp (goal >= 70%)',
      ratio(fsT, 'download', 'cp (child_process)', 'copy', src.bytes),
      src.bytes,
    );
    add(
      'Stratus fs upload / cp + sync',
      ratio(fsT, 'upload', 'cp + sync FILE', 'copy', src.bytes),
      src.bytes,
    );
    add(
      'Stratus fs download / cp + sync',
      ratio(fsT, 'download', 'cp + sync FILE', 'copy', src.bytes),
      src.bytes,
    );
    add(
      'Stratus s3 upload / s3rver direct upload',
      ratio(s3T, 'upload', direct, 'upload', src.bytes),
      src.bytes,
    );
    add(
      'Stratus s3 download / s3rver direct download',
      ratio(s3T, 'download', direct, 'download', src.bytes),
      src.bytes,
    );
  }
  printTable('Throughput ratios, measured in the same round', ratioRows);
}

// ---------------------------------------------------------------- memory

interface MemoryRow {
  phase: string;
  seconds: number;
  baselineRss: number;
  hwmBefore: number;
  peakRss: number;
  hwmAfter: number;
  samples: number;
}

async function sampled(
  pid: number,
  phase: string,
  bytes: number,
  body: () => Promise<void>,
): Promise<MemoryRow> {
  const before = memoryOf(pid);
  let peakRss = before.rss;
  let samples = 0;
  const timer = setInterval(() => {
    const m = memoryOf(pid);
    samples++;
    if (m.rss > peakRss) peakRss = m.rss;
  }, 100);
  const started = performance.now();
  try {
    await body();
  } finally {
    const seconds = (performance.now() - started) / 1000;
    await sleep(300);
    clearInterval(timer);
    const after = memoryOf(pid);
    peakRss = Math.max(peakRss, after.rss);
    void seconds;
    memoryRows.push({
      phase: `${phase} (${fmt(bytes / seconds / 1e6, 0)} MB/s)`,
      seconds,
      baselineRss: before.rss,
      hwmBefore: before.hwm,
      peakRss,
      hwmAfter: after.hwm,
      samples,
    });
  }
  return memoryRows[memoryRows.length - 1];
}

const memoryRows: MemoryRow[] = [];

async function memoryPhase(
  databaseUrl: string,
  work: string,
  big: Source,
  warm: Source,
): Promise<void> {
  const root = fs.mkdtempSync(path.join(work, 'store-memory-'));
  const s = await connectStratus(databaseUrl, {
    driver: 'filesystem',
    driverConfig: { root },
    maxObjectBytes: MAX_OBJECT_BYTES,
  });
  try {
    const prefix = await createContainer(s, 'memory');
    // Warm up the code paths (first PUT and GET), then let the process settle.
    await putFile(s, `${prefix}warm`, warm.file);
    await getInto(s, `${prefix}warm`, md5Sink());
    await sleep(1000);
    const pid = s.child.process.pid!;
    await sampled(pid, `PUT ${sizeLabel(big.bytes)} from a file`, big.bytes, async () => {
      const etag = await putFile(s, `${prefix}big`, big.file);
      if (etag !== big.md5) throw new Error(`ETag ${etag}, expected ${big.md5}`);
    });
    await sleep(1000);
    await sampled(pid, `GET ${sizeLabel(big.bytes)} into an MD5 sink`, big.bytes, async () => {
      const sink = md5Sink();
      await getInto(s, `${prefix}big`, sink);
      if (sink.hex() !== big.md5) throw new Error('downloaded bytes differ from the source');
    });
    await deleteObject(s, `${prefix}big`);
  } finally {
    await s.child.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
  const mib = (b: number) => fmt(b / MiB, 1);
  const rows: Array<Array<string | number>> = [
    [
      'phase',
      's',
      'baseline RSS MiB',
      'VmHWM before MiB',
      'peak RSS MiB',
      'peak - baseline MiB',
      'VmHWM after MiB',
      'samples',
    ],
  ];
  for (const r of memoryRows) {
    rows.push([
      r.phase,
      fmt(r.seconds, 1),
      mib(r.baselineRss),
      mib(r.hwmBefore),
      mib(r.peakRss),
      mib(r.peakRss - r.baselineRss),
      mib(r.hwmAfter),
      r.samples,
    ]);
  }
  printTable(
    'Stratus child process memory (VmRSS sampled every 100 ms from /proc/<pid>/status; goal: peak < 150 MB = 143.1 MiB)',
    rows,
  );
}

// ---------------------------------------------------------------- small objects

interface SmallRow {
  name: string;
  round: number;
  result: ObjectLoadResult;
}

async function smallPhase(databaseUrl: string, work: string): Promise<void> {
  const root = fs.mkdtempSync(path.join(work, 'store-small-'));
  const s = await connectStratus(databaseUrl, {
    driver: 'filesystem',
    driverConfig: { root },
    maxObjectBytes: MAX_OBJECT_BYTES,
  });
  const rows: SmallRow[] = [];
  try {
    const body = randomBytes(SMALL_BYTES);
    const bodyBase64 = body.toString('base64');
    const prefix = await createContainer(s, 'small');
    const spread: string[] = [];
    for (let i = 0; i < SMALL_CONNECTIONS; i++) spread.push(await createContainer(s, `small-${i}`));
    const load = (method: 'PUT' | 'GET', paths: string[], duration: number) =>
      runLoad({
        origin: s.origin,
        method,
        paths,
        token: s.token,
        connections: SMALL_CONNECTIONS,
        duration,
        ...(method === 'PUT' ? { bodyBase64 } : {}),
      });

    // GET targets: uploaded once, 20 at a time.
    const getPaths = Array.from({ length: GET_OBJECTS }, (_, i) => `${prefix}get-${i}`);
    for (let i = 0; i < getPaths.length; i += SMALL_CONNECTIONS)
      await Promise.all(getPaths.slice(i, i + SMALL_CONNECTIONS).map((p) => putBuffer(s, p, body)));
    const check = md5Sink();
    await getInto(s, getPaths[0], check);
    if (check.hex() !== createHash('md5').update(body).digest('hex'))
      throw new Error('GET of a 4 KiB object gave other bytes');

    if (SMALL_WARMUP_SECONDS > 0) {
      await load('PUT', [`${prefix}warm-`], SMALL_WARMUP_SECONDS);
      await load('GET', getPaths, SMALL_WARMUP_SECONDS);
    }
    for (let round = 1; round <= SMALL_ROUNDS; round++) {
      rows.push({
        name: 'PUT 4 KiB, new names, one container',
        round,
        result: await load('PUT', [`${prefix}put-${round}-`], SMALL_SECONDS),
      });
      rows.push({
        name: `PUT 4 KiB, new names, over ${SMALL_CONNECTIONS} containers`,
        round,
        result: await load(
          'PUT',
          spread.map((p) => `${p}put-${round}-`),
          SMALL_SECONDS,
        ),
      });
      rows.push({
        name: `GET 4 KiB, ${GET_OBJECTS} objects in turn`,
        round,
        result: await load('GET', getPaths, SMALL_SECONDS),
      });
    }
    const table: Array<Array<string | number>> = [
      ['workload', 'round', 'req/s', 'MB/s', 'p50 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors'],
    ];
    for (const r of rows) {
      table.push([
        r.name,
        r.round,
        fmt(r.result.reqPerSec),
        fmt(r.result.mbPerSec, 1),
        fmt(r.result.p50, 0),
        fmt(r.result.p99, 0),
        fmt(r.result.max, 0),
        r.result.non2xx,
        r.result.errors + r.result.timeouts,
      ]);
    }
    printTable(
      `Small objects, filesystem driver: autocannon (child process) ${SMALL_CONNECTIONS} connections, ${SMALL_SECONDS} s per row (goals: PUT >= 1,000/s, GET >= 5,000/s; Swift on 5 nodes: 890 PUT/s, 4,208 GET/s)`,
      table,
    );
    for (const r of rows) {
      if (r.result.non2xx > 0)
        process.stdout.write(
          `  ${r.name} round ${r.round}: status codes ${JSON.stringify(r.result.statusCodes)}\n`,
        );
    }

    if (CPU_PROF) {
      fs.mkdirSync(CPU_PROF, { recursive: true });
      for (const [name, method, paths] of [
        ['put', 'PUT', [`${prefix}prof-`]],
        ['get', 'GET', getPaths],
      ] as const) {
        s.child.send({ type: 'profile-start' });
        await s.child.next();
        const result = await load(method, [...paths], SMALL_SECONDS);
        s.child.send({ type: 'profile-stop', name: `objects-small-${name}` });
        const { file } = (await s.child.next()) as { file: string };
        process.stdout.write(
          `\nCPU profile of Stratus during ${method} (${fmt(result.reqPerSec)} req/s while profiling): ${file}\n`,
        );
        summarizeProfile(file);
      }
    }
  } finally {
    await s.child.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- CPU profile summary

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Prints self time by function and inclusive time by Stratus function and by package. */
function summarizeProfile(file: string): void {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const root = process.cwd();
  const where = (n: ProfileNode) => {
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    const short = pkg
      ? `${pkg}`
      : url.startsWith(root)
        ? path.relative(root, url)
        : url || '(native)';
    return { short, pkg, own: !pkg && url.startsWith(root) };
  };
  const label = (n: ProfileNode) =>
    `${where(n).short}:${n.callFrame.functionName || '(anonymous)'}:${n.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const inclusiveOwn = new Map<string, number>();
  const inclusivePkg = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])!;
    const dt = profile.timeDeltas[i] ?? 0;
    if (node.callFrame.functionName === '(idle)') continue;
    busy += dt;
    self.set(label(node), (self.get(label(node)) ?? 0) + dt);
    const seenOwn = new Set<string>();
    const seenPkg = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      const w = where(n);
      if (w.own) seenOwn.add(`${w.short}:${n.callFrame.functionName || '(anonymous)'}`);
      seenPkg.add(
        w.pkg ??
          (w.own
            ? 'stratus (own code)'
            : w.short.startsWith('node:')
              ? 'node: internals'
              : w.short),
      );
    }
    for (const k of seenOwn) inclusiveOwn.set(k, (inclusiveOwn.get(k) ?? 0) + dt);
    for (const k of seenPkg) inclusivePkg.set(k, (inclusivePkg.get(k) ?? 0) + dt);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  const pct = (v: number) => `${fmt((100 * v) / busy, 1)}%`;
  printTable(`self time, top 15 (of ${fmt(busy / 1000, 0)} ms busy)`, [
    ['function (file:name:line)', 'self'],
    ...top(self, 15).map(([k, v]) => [k, pct(v)]),
  ]);
  printTable('inclusive time, Stratus functions, top 20', [
    ['file:function', 'inclusive'],
    ...top(inclusiveOwn, 20).map(([k, v]) => [k, pct(v)]),
  ]);
  printTable('inclusive time by package, top 15', [
    ['package', 'inclusive'],
    ...top(inclusivePkg, 15).map(([k, v]) => [k, pct(v)]),
  ]);
}

// ---------------------------------------------------------------- main

runMain(async () => {
  process.stdout.write('== bench/objects.ts ==\n');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bench-objects-'));
  const free = fs.statfsSync(work);
  const freeBytes = free.bavail * free.bsize;
  // Sources (big + memory) and, at most, two more copies of the largest at a time, plus slack.
  while ((BIG_MIB * 4 + MEMORY_MIB * 2) * MiB + 512 * MiB > freeBytes && MEMORY_MIB > 16) {
    BIG_MIB = Math.max(16, BIG_MIB / 2);
    MEMORY_MIB = Math.max(16, MEMORY_MIB / 2);
  }
  const db = await startDatabase();
  process.stdout.write(`${machineLine(db.source)}\n`);
  process.stdout.write(
    `work folder ${work}: ${fmt(freeBytes / 2 ** 30, 1)} GiB free; sizes ${BIG_MIB} MiB and ${MEMORY_MIB} MiB. Page cache is not dropped: sources are read from cache, writes land in it (only the filesystem driver and "cp + sync" fsync).\n`,
  );
  const children: Child[] = [];
  try {
    const one: Source = { file: path.join(work, 'src-1m'), bytes: MiB, md5: '' };
    const big: Source = { file: path.join(work, 'src-big'), bytes: BIG_MIB * MiB, md5: '' };
    const memory: Source = {
      file: path.join(work, 'src-memory'),
      bytes: MEMORY_MIB * MiB,
      md5: '',
    };
    for (const src of [one, big, memory]) src.md5 = await makeFile(src.file, src.bytes);
    const sources = [one, big];

    // (1) throughput, filesystem driver
    const fsRoot = fs.mkdtempSync(path.join(work, 'store-fs-'));
    const fsStratus = await connectStratus(db.url, {
      driver: 'filesystem',
      driverConfig: { root: fsRoot },
      maxObjectBytes: MAX_OBJECT_BYTES,
    });
    children.push(fsStratus.child);
    await filesystemThroughput(fsStratus, sources, work);
    await fsStratus.child.stop();
    fs.rmSync(fsRoot, { recursive: true, force: true });

    // (1) throughput, s3 driver against s3rver, and s3rver alone
    const s3rver = await startChild('s3rver', { type: 'start' });
    children.push(s3rver);
    const s3 = s3rver.ready.s3 as unknown as S3Config;
    const s3Stratus = await connectStratus(db.url, {
      driver: 's3',
      driverConfig: { ...s3 },
      maxObjectBytes: MAX_OBJECT_BYTES,
    });
    children.push(s3Stratus.child);
    await s3Throughput(s3Stratus, s3, sources, work);
    await s3Stratus.child.stop();
    await s3rver.stop();
    printThroughput(sources);

    // (2) memory
    await memoryPhase(db.url, work, memory, one);

    // (3) small objects
    await smallPhase(db.url, work);
  } finally {
    for (const child of children) await child.stop().catch(() => {});
    agent.destroy();
    await db.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
