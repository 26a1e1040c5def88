/**
 * Object storage: (1) throughput of 1 MiB and large objects through Stratus against `cp`
 * (filesystem driver) and against talking to s3rver directly (s3 driver); (2) resident memory
 * of the Stratus process while a 1 GiB object goes through it; (3) 4 KiB PUTs and GETs per
 * second with 20 concurrent clients.
 *
 *   npx tsx bench/objects.ts
 *   OBJECTS_CPU_PROF=/tmp/prof npx tsx bench/objects.ts   # also profiles Stratus (big and small)
 *
 * Stratus, s3rver, the load generator and a bare node:http reference server run in child
 * processes (bench/objects-child.ts), so the client in this process never shares their event
 * loop and their RSS can be read from /proc/<pid>/status. Every body is streamed from a file on
 * disk; every download goes to a file or an MD5 sink. `curl` is a second client, `cp`,
 * `cp + sync`, `fs.copyFile` and `md5sum` are local references. Nothing drops the page cache.
 *
 * Env: OBJECTS_PHASES ("throughput,memory,small"), OBJECTS_ROUNDS (3), OBJECTS_1MIB_OPS (20,
 * sequential 1 MiB operations per round), OBJECTS_BIG_MIB (256), OBJECTS_MEMORY_MIB (1024),
 * OBJECTS_SMALL_CONNECTIONS (20), OBJECTS_SMALL_SECONDS (10), OBJECTS_SMALL_WARMUP_SECONDS (2),
 * OBJECTS_SMALL_ROUNDS (2), OBJECTS_GET_OBJECTS (1000), OBJECTS_CPU_PROF (a folder: record and
 * summarise CPU profiles of Stratus). Sizes are halved while the temp folder lacks room.
 */
import { type ChildProcess, execFile, fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import pg from 'pg';
import type { S3Config } from '../drivers/objects/s3';
import type { ObjectsConfig } from '../server/config';
import type {
  BareJob,
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
  memoryOf,
  printTable,
  run,
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
const PHASES = (process.env.OBJECTS_PHASES ?? 'throughput,memory,small').split(',');
const SMALL_BYTES = 4096;
/** The s3 driver's own part size and queue (drivers/objects/s3.ts), used for the direct client too. */
const S3_PART_BYTES = 5 * MiB;
const S3_QUEUE = 2;
const MAX_OBJECT_BYTES = 5 * 1024 ** 3;

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const CP = 'cp (child_process)';
const CP_SYNC = 'cp + sync FILE';
/** Reads and hashes only: the MD5 every Swift-style PUT must compute for its ETag. */
const MD5SUM = 'md5sum FILE (reads + hashes, writes nothing)';
const STRATUS_FS = 'Stratus fs driver, Node client';
const STRATUS_FS_CURL = 'Stratus fs driver, curl';
const BARE = 'bare node:http reference, Node client';
const BARE_CURL = 'bare node:http reference, curl';
const STRATUS_S3 = 'Stratus s3 driver -> s3rver, Node client';
const S3_DIRECT = 's3rver direct (client-s3 + lib-storage)';

// ---------------------------------------------------------------- child processes

interface Child {
  process: ChildProcess;
  ready: ChildReady;
  send(command: ChildCommand): void;
  /** Resolves with the next message (answers to `memory` and `profile-*` commands). */
  next(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

async function startChild(
  role: 'stratus' | 's3rver' | 'bare',
  job: StratusJob | BareJob | { type: 'start' },
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

async function runLoadChecked(job: ObjectLoadJob): Promise<ObjectLoadResult> {
  const result = await runLoad(job);
  if (result.requests === 0 || result.non2xx === result.requests)
    throw new Error(`${job.method}: no successful request: ${JSON.stringify(result)}`);
  return result;
}

// ---------------------------------------------------------------- Stratus over HTTP

interface Target {
  child: Child;
  origin: string;
  token: string;
}

async function connectStratus(databaseUrl: string, objects: ObjectsConfig): Promise<Target> {
  const child = await startChild('stratus', { databaseUrl, objects });
  const result = await gql(`${child.ready.url}/graphql`, LOGIN_MUTATION, {
    input: { userName: 'admin', password: ADMIN_PASSWORD, scope: { projectName: 'admin' } },
  });
  if (result.data?.login?.__typename !== 'LoginSuccess')
    throw new Error(`login failed: ${JSON.stringify(result)}`);
  return { child, origin: child.ready.url, token: result.data.login.data.token };
}

/** The reference server of bench/objects-child.ts (`bare`); it takes any token. */
async function startBare(root: string): Promise<Target> {
  const child = await startChild('bare', { root });
  return { child, origin: child.ready.url, token: 'none' };
}

const CREATE_CONTAINER = `mutation($input: CreateContainerInput!) { createContainer(input: $input) { __typename ... on CreateContainerSuccess { container { id uploadUrlPrefix } } ... on Error { message } } }`;

/** Creates a container; returns its object path prefix (/v1/AUTH_<project>/<name>/). */
async function createContainer(s: Target, name: string): Promise<string> {
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
async function putFile(s: Target, objectPath: string, file: string): Promise<string> {
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

async function putBuffer(s: Target, objectPath: string, body: Buffer): Promise<void> {
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
async function getInto(s: Target, objectPath: string, sink: Writable): Promise<number> {
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

async function deleteObject(s: Target, objectPath: string): Promise<void> {
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

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('curl', ['-sS', '-f', ...args], (error, stdout, stderr) =>
      error
        ? reject(new Error(`curl ${args.at(-1)}: ${stderr || error.message}`))
        : resolve(stdout),
    ),
  );
}

/** PUTs a file with `curl -T` (no Expect: 100-continue round trip); returns the ETag. */
async function curlPut(s: Target, objectPath: string, file: string): Promise<string> {
  const headers = await curl([
    '-D',
    '-',
    '-o',
    '/dev/null',
    '-T',
    file,
    '-H',
    `X-Auth-Token: ${s.token}`,
    '-H',
    'Content-Type: application/octet-stream',
    '-H',
    'Expect:',
    `${s.origin}${objectPath}`,
  ]);
  return /^etag:\s*"?([0-9a-f]{32})/im.exec(headers)?.[1] ?? `(none in ${headers})`;
}

/** GETs an object into a file with curl; returns the file's size. */
async function curlGet(s: Target, objectPath: string, file: string): Promise<number> {
  await curl(['-o', file, '-H', `X-Auth-Token: ${s.token}`, `${s.origin}${objectPath}`]);
  return fs.statSync(file).size;
}

// ---------------------------------------------------------------- local references

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

/** Where and how the throughput loop sends its requests. */
interface HttpWay {
  label: string;
  target: Target;
  prefix: string;
  client: 'node' | 'curl';
}

async function filesystemThroughput(
  s: Target,
  bare: Target,
  sources: Source[],
  work: string,
): Promise<void> {
  const prefix = await createContainer(s, 'throughput');
  const ways: HttpWay[] = [
    { label: STRATUS_FS, target: s, prefix, client: 'node' },
    { label: STRATUS_FS_CURL, target: s, prefix, client: 'curl' },
    { label: BARE, target: bare, prefix: '/v1/AUTH_bare/c/', client: 'node' },
    { label: BARE_CURL, target: bare, prefix: '/v1/AUTH_bare/c/', client: 'curl' },
  ];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const src of sources) {
      const ops = src.bytes <= MiB ? ONE_MIB_OPS : 1;
      const dst = (i: number) => path.join(work, `copy-${i}`);
      const clean = () => {
        for (let i = 0; i < ops; i++) fs.rmSync(dst(i), { force: true });
      };
      await timed(CP, 'copy', src.bytes, round, ops, (i) => run('cp', [src.file, dst(i)]));
      clean();
      await timed(CP_SYNC, 'copy', src.bytes, round, ops, async (i) => {
        await run('cp', [src.file, dst(i)]);
        await run('sync', [dst(i)]);
      });
      clean();
      await timed('fs.copyFile (in-process)', 'copy', src.bytes, round, ops, (i) =>
        fs.promises.copyFile(src.file, dst(i)),
      );
      clean();
      await timed(MD5SUM, 'copy', src.bytes, round, ops, () => run('md5sum', [src.file]));
      for (const way of ways) {
        const name = (i: number) => `${way.prefix}t-${src.bytes}-${round}-${i}`;
        await timed(way.label, 'upload', src.bytes, round, ops, async (i) => {
          const etag =
            way.client === 'node'
              ? await putFile(way.target, name(i), src.file)
              : await curlPut(way.target, name(i), src.file);
          if (etag !== src.md5) throw new Error(`${way.label}: ETag ${etag}, expected ${src.md5}`);
        });
        await timed(way.label, 'download', src.bytes, round, ops, async (i) => {
          const bytes =
            way.client === 'node'
              ? await getInto(way.target, name(i), fs.createWriteStream(dst(i)))
              : await curlGet(way.target, name(i), dst(i));
          if (bytes !== src.bytes)
            throw new Error(`${way.label}: GET gave ${bytes} bytes, expected ${src.bytes}`);
        });
        if (round === 1 && (await md5OfFile(dst(0))) !== src.md5)
          throw new Error(`${way.label}: downloaded bytes differ from the source`);
        clean();
        for (let i = 0; i < ops; i++) await deleteObject(way.target, name(i));
      }
    }
  }
  if (CPU_PROF) {
    const src = sources[sources.length - 1];
    const dst = path.join(work, 'copy-prof');
    await profiled(s, `${sizeLabel(src.bytes)} PUT`, 'objects-big-put', () =>
      putFile(s, `${prefix}prof`, src.file).then(() => {}),
    );
    await profiled(s, `${sizeLabel(src.bytes)} GET into a file`, 'objects-big-get', () =>
      getInto(s, `${prefix}prof`, fs.createWriteStream(dst)).then(() => {}),
    );
    fs.rmSync(dst, { force: true });
    await deleteObject(s, `${prefix}prof`);
  }
}

/** Runs `body` while the Stratus child records a CPU profile, then prints its summary. */
async function profiled(
  s: Target,
  what: string,
  name: string,
  body: () => Promise<unknown>,
): Promise<void> {
  fs.mkdirSync(CPU_PROF, { recursive: true });
  const started = s.child.next();
  s.child.send({ type: 'profile-start' });
  await started;
  const t0 = performance.now();
  const result = await body();
  const ms = performance.now() - t0;
  const stopped = s.child.next();
  s.child.send({ type: 'profile-stop', name });
  const { file } = (await stopped) as { file: string };
  const rate =
    typeof result === 'object' && result && 'reqPerSec' in result
      ? `${fmt((result as ObjectLoadResult).reqPerSec)} req/s`
      : `${fmt(ms, 0)} ms`;
  process.stdout.write(
    `\nCPU profile of Stratus during ${what} (${rate} while profiling): ${file}\n`,
  );
  summarizeProfile(file);
}

async function s3Throughput(
  s: Target,
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
      await timed(S3_DIRECT, 'upload', src.bytes, round, ops, (i) =>
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
      await timed(S3_DIRECT, 'download', src.bytes, round, ops, async (i) => {
        const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key(i) }));
        await pipeline(got.Body as NodeJS.ReadableStream, fs.createWriteStream(dst(i)));
      });
      if (round === 1 && (await md5OfFile(dst(0))) !== src.md5)
        throw new Error('bytes read back from s3rver differ from the source');
      clean();
      for (let i = 0; i < ops; i++)
        await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key(i) }));

      const name = (i: number) => `${prefix}t-${src.bytes}-${round}-${i}`;
      await timed(STRATUS_S3, 'upload', src.bytes, round, ops, async (i) => {
        const etag = await putFile(s, name(i), src.file);
        if (etag !== src.md5) throw new Error(`ETag ${etag}, expected ${src.md5}`);
      });
      await timed(STRATUS_S3, 'download', src.bytes, round, ops, async (i) => {
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
  const pairs: Array<[string, Measure['op'], string, Measure['op']]> = [
    [STRATUS_FS, 'upload', CP, 'copy'],
    [STRATUS_FS, 'download', CP, 'copy'],
    [STRATUS_FS_CURL, 'upload', CP, 'copy'],
    [STRATUS_FS_CURL, 'download', CP, 'copy'],
    [STRATUS_FS, 'upload', CP_SYNC, 'copy'],
    [MD5SUM, 'copy', CP, 'copy'],
    [BARE, 'upload', CP, 'copy'],
    [BARE, 'download', CP, 'copy'],
    [STRATUS_FS, 'upload', BARE, 'upload'],
    [STRATUS_FS, 'download', BARE, 'download'],
    [STRATUS_FS_CURL, 'upload', BARE_CURL, 'upload'],
    [STRATUS_FS_CURL, 'download', BARE_CURL, 'download'],
    [STRATUS_S3, 'upload', S3_DIRECT, 'upload'],
    [STRATUS_S3, 'download', S3_DIRECT, 'download'],
  ];
  for (const src of sources) {
    for (const [a, aOp, b, bOp] of pairs) {
      const values = ratio(a, aOp, b, bOp, src.bytes);
      if (!values.length) continue;
      const goal = a === STRATUS_FS && b === CP ? ' (goal >= 70%)' : '';
      add(
        `${a}${aOp === 'copy' ? '' : ` ${aOp}`} / ${b}${bOp === 'copy' ? '' : ` ${bOp}`}${goal}`,
        values,
        src.bytes,
      );
    }
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
  const usages: Array<[string, NodeJS.MemoryUsage]> = [];
  // Stratus first, then the bare node:http reference (same tsx loader) for the floor.
  for (const which of ['Stratus', 'bare reference'] as const) {
    const root = fs.mkdtempSync(path.join(work, 'store-memory-'));
    const s =
      which === 'Stratus'
        ? await connectStratus(databaseUrl, {
            driver: 'filesystem',
            driverConfig: { root },
            maxObjectBytes: MAX_OBJECT_BYTES,
          })
        : await startBare(root);
    try {
      const prefix = which === 'Stratus' ? await createContainer(s, 'memory') : '/v1/AUTH_bare/c/';
      // Warm up the code paths (first PUT and GET), then let the process settle.
      await putFile(s, `${prefix}warm`, warm.file);
      await getInto(s, `${prefix}warm`, md5Sink());
      await sleep(1000);
      const pid = s.child.process.pid!;
      usages.push([`${which}: baseline (before the PUT)`, await childMemory(s.child)]);
      await sampled(
        pid,
        `${which}: PUT ${sizeLabel(big.bytes)} from a file`,
        big.bytes,
        async () => {
          const etag = await putFile(s, `${prefix}big`, big.file);
          if (etag !== big.md5) throw new Error(`ETag ${etag}, expected ${big.md5}`);
        },
      );
      usages.push([`${which}: after the PUT`, await childMemory(s.child)]);
      await sleep(1000);
      await sampled(
        pid,
        `${which}: GET ${sizeLabel(big.bytes)} into an MD5 sink`,
        big.bytes,
        async () => {
          const sink = md5Sink();
          await getInto(s, `${prefix}big`, sink);
          if (sink.hex() !== big.md5) throw new Error('downloaded bytes differ from the source');
        },
      );
      await deleteObject(s, `${prefix}big`);
    } finally {
      await s.child.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
  const mib = (b: number) => fmt(b / MiB, 1);
  const rows: Array<Array<string | number>> = [
    [
      'process: phase',
      'seconds',
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
    'Child process memory (VmRSS sampled every 100 ms from /proc/<pid>/status; goal for Stratus: peak < 150 MB = 143.1 MiB)',
    rows,
  );
  printTable('What the child holds (process.memoryUsage(), MiB)', [
    ['when', 'rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'],
    ...usages.map(([when, u]) => [
      when,
      mib(u.rss),
      mib(u.heapTotal),
      mib(u.heapUsed),
      mib(u.external),
      mib(u.arrayBuffers),
    ]),
  ]);
}

async function childMemory(child: Child): Promise<NodeJS.MemoryUsage> {
  const answer = child.next();
  child.send({ type: 'memory' });
  return ((await answer) as { usage: NodeJS.MemoryUsage }).usage;
}

// ---------------------------------------------------------------- small objects

interface SmallRow {
  name: string;
  round: number;
  result: ObjectLoadResult;
  /** SQL statements Stratus issued per request (stratus_db_queries_total), when it is Stratus. */
  sqlPerRequest: number | null;
  pgActivity: PgActivity | null;
}

interface PgActivity {
  /** Mean number of Stratus's backends running a statement. */
  active: number;
  /** ... of which waiting for a lock held by another transaction (row or advisory). */
  lockWait: number;
  /** Mean number of backends inside a transaction, waiting for Stratus's next statement. */
  idleInTx: number;
  /** Lock waits by kind (pg_stat_activity.wait_event): `transactionid` rows, `advisory`, ... */
  lockEvents: string;
}

/**
 * Samples pg_stat_activity every 100 ms while `body` runs: how many of the database's backends
 * (other than this sampler) run a statement, wait for a lock, or sit in a transaction waiting
 * for the client.
 */
async function withPgActivity<T>(
  databaseUrl: string,
  body: () => Promise<T>,
): Promise<[T, PgActivity]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const sums = { active: 0, lockWait: 0, idleInTx: 0 };
  const lockEvents = new Map<string, number>();
  let samples = 0;
  let sampling = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(async () => {
      const { rows } = await client.query<{ state: string; event: string | null; n: number }>(
        `select state, case when wait_event_type = 'Lock' then wait_event end as event,
                count(*)::int as n
           from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid()
            and backend_type = 'client backend'
          group by 1, 2`,
      );
      for (const row of rows) {
        if (row.state === 'active') sums.active += row.n;
        if (row.state === 'idle in transaction') sums.idleInTx += row.n;
        if (row.state === 'active' && row.event) {
          sums.lockWait += row.n;
          lockEvents.set(row.event, (lockEvents.get(row.event) ?? 0) + row.n);
        }
      }
      samples++;
    });
  }, 100);
  try {
    const result = await body();
    return [
      result,
      {
        active: sums.active / samples,
        lockWait: sums.lockWait / samples,
        idleInTx: sums.idleInTx / samples,
        lockEvents: [...lockEvents.entries()]
          .sort((a, b) => b[1] - a[1])
          .map(([event, n]) => `${event} ${fmt(n / samples, 1)}`)
          .join(', '),
      },
    ];
  } finally {
    clearInterval(timer);
    await sampling.catch(() => {});
    await client.end();
  }
}

/** Stratus's count of SQL statements issued through drizzle, from /metrics. */
async function sqlStatements(t: Target): Promise<number> {
  const text = await (await fetch(`${t.origin}/metrics`)).text();
  return Number(/^stratus_db_queries_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

async function smallPhase(databaseUrl: string, work: string): Promise<void> {
  const root = fs.mkdtempSync(path.join(work, 'store-small-'));
  const bareRoot = fs.mkdtempSync(path.join(work, 'store-small-bare-'));
  const s = await connectStratus(databaseUrl, {
    driver: 'filesystem',
    driverConfig: { root },
    maxObjectBytes: MAX_OBJECT_BYTES,
  });
  let bare: Target | null = null;
  const rows: SmallRow[] = [];
  try {
    const ref = await startBare(bareRoot);
    bare = ref;
    const body = randomBytes(SMALL_BYTES);
    const bodyBase64 = body.toString('base64');
    const prefix = await createContainer(s, 'small');
    const spread: string[] = [];
    for (let i = 0; i < SMALL_CONNECTIONS; i++) spread.push(await createContainer(s, `small-${i}`));
    const load = (t: Target, method: 'PUT' | 'GET', paths: string[], duration: number) =>
      runLoadChecked({
        origin: t.origin,
        method,
        paths,
        token: t.token,
        connections: SMALL_CONNECTIONS,
        duration,
        ...(method === 'PUT' ? { bodyBase64 } : {}),
      });

    // GET targets: uploaded once, 20 at a time, to Stratus and to the reference server.
    const getPaths = Array.from({ length: GET_OBJECTS }, (_, i) => `${prefix}get-${i}`);
    const bareGetPaths = getPaths.map((_, i) => `/v1/AUTH_bare/c/get-${i}`);
    for (const [t, paths] of [
      [s, getPaths],
      [ref, bareGetPaths],
    ] as const) {
      for (let i = 0; i < paths.length; i += SMALL_CONNECTIONS)
        await Promise.all(paths.slice(i, i + SMALL_CONNECTIONS).map((p) => putBuffer(t, p, body)));
      const check = md5Sink();
      await getInto(t, paths[0], check);
      if (check.hex() !== createHash('md5').update(body).digest('hex'))
        throw new Error('GET of a 4 KiB object gave other bytes');
    }

    if (SMALL_WARMUP_SECONDS > 0) {
      await load(s, 'PUT', [`${prefix}warm-`], SMALL_WARMUP_SECONDS);
      await load(s, 'GET', getPaths, SMALL_WARMUP_SECONDS);
      await load(ref, 'PUT', ['/v1/AUTH_bare/c/warm-'], SMALL_WARMUP_SECONDS);
      await load(ref, 'GET', bareGetPaths, SMALL_WARMUP_SECONDS);
    }
    for (let round = 1; round <= SMALL_ROUNDS; round++) {
      const add = async (name: string, result: () => Promise<ObjectLoadResult>) => {
        const stratus = name.startsWith('Stratus');
        const before = stratus ? await sqlStatements(s) : 0;
        const [r, pgActivity] = stratus
          ? await withPgActivity(databaseUrl, result)
          : [await result(), null];
        const sqlPerRequest = stratus ? ((await sqlStatements(s)) - before) / r.requests : null;
        rows.push({ name, round, result: r, sqlPerRequest, pgActivity });
      };
      if (round === 1)
        await add('Stratus: PUT 4 KiB, new names, 1 connection (latency)', () =>
          runLoadChecked({
            origin: s.origin,
            method: 'PUT',
            paths: [`${prefix}seq-`],
            token: s.token,
            connections: 1,
            duration: SMALL_SECONDS,
            bodyBase64,
          }),
        );
      await add('Stratus: PUT 4 KiB, new names, one container', () =>
        load(s, 'PUT', [`${prefix}put-${round}-`], SMALL_SECONDS),
      );
      await add(`Stratus: PUT 4 KiB, new names, over ${SMALL_CONNECTIONS} containers`, () =>
        load(
          s,
          'PUT',
          spread.map((p) => `${p}put-${round}-`),
          SMALL_SECONDS,
        ),
      );
      await add(`Stratus: GET 4 KiB, ${GET_OBJECTS} objects in turn`, () =>
        load(s, 'GET', getPaths, SMALL_SECONDS),
      );
      await add('bare node:http reference: PUT 4 KiB (MD5, write, fsync, rename)', () =>
        load(ref, 'PUT', [`/v1/AUTH_bare/c/put-${round}-`], SMALL_SECONDS),
      );
      await add(`bare node:http reference: GET 4 KiB, ${GET_OBJECTS} objects`, () =>
        load(ref, 'GET', bareGetPaths, SMALL_SECONDS),
      );
    }
    const table: Array<Array<string | number>> = [
      [
        'workload',
        'round',
        'req/s',
        'MB/s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'SQL/req',
        'PG active',
        'PG lock wait',
        'PG idle in tx',
        'non-2xx',
        'errors',
      ],
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
        r.sqlPerRequest === null ? '-' : fmt(r.sqlPerRequest, 1),
        r.pgActivity ? fmt(r.pgActivity.active, 1) : '-',
        r.pgActivity ? fmt(r.pgActivity.lockWait, 1) : '-',
        r.pgActivity ? fmt(r.pgActivity.idleInTx, 1) : '-',
        r.result.non2xx,
        r.result.errors + r.result.timeouts,
      ]);
    }
    printTable(
      `Small objects, filesystem driver: autocannon (child process) ${SMALL_CONNECTIONS} connections, ${SMALL_SECONDS} s per row (goals: Stratus PUT >= 1,000/s, GET >= 5,000/s; Swift on 5 nodes: 890 PUT/s, 4,208 GET/s)`,
      table,
    );
    process.stdout.write(
      'SQL/req: stratus_db_queries_total (drizzle statements, background jobs included) per request. PG columns: mean number of Stratus backends, sampled from pg_stat_activity every 100 ms, running a statement / of those waiting for a lock / inside a transaction waiting for Stratus.\n',
    );
    for (const r of rows) {
      if (r.pgActivity?.lockEvents)
        process.stdout.write(
          `  ${r.name} round ${r.round}: lock waits by kind: ${r.pgActivity.lockEvents}\n`,
        );
    }
    for (const r of rows) {
      if (r.result.non2xx > 0)
        process.stdout.write(
          `  ${r.name} round ${r.round}: status codes ${JSON.stringify(r.result.statusCodes)}\n`,
        );
    }

    if (CPU_PROF) {
      await profiled(s, `PUT 4 KiB x ${SMALL_CONNECTIONS}`, 'objects-small-put', () =>
        load(s, 'PUT', [`${prefix}prof-`], SMALL_SECONDS),
      );
      await profiled(s, `GET 4 KiB x ${SMALL_CONNECTIONS}`, 'objects-small-get', () =>
        load(s, 'GET', getPaths, SMALL_SECONDS),
      );
    }
  } finally {
    await s.child.stop();
    await bare?.child.stop();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(bareRoot, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- CPU profile summary

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Prints self time by function, inclusive time by Stratus function, and time by owner. */
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
  // Under tsx, line numbers are those of the transformed code; an anonymous function is named
  // after the nearest named function of the same file that called it instead.
  const label = (n: ProfileNode): string => {
    const w = where(n);
    if (n.callFrame.functionName) return `${w.short}:${n.callFrame.functionName}`;
    if (!w.own) return `${w.short}:(anonymous):${n.callFrame.lineNumber + 1}`;
    for (let id = parent.get(n.id); id !== undefined; id = parent.get(id)) {
      const up = byId.get(id)!;
      if (up.callFrame.url !== n.callFrame.url) break;
      if (up.callFrame.functionName)
        return `${w.short}:(anonymous in ${up.callFrame.functionName})`;
    }
    return `${w.short}:(anonymous)`;
  };
  const self = new Map<string, number>();
  const inclusiveOwn = new Map<string, number>();
  /** Self time charged to the innermost package or Stratus file on the stack. */
  const byOwner = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])!;
    const dt = profile.timeDeltas[i] ?? 0;
    if (node.callFrame.functionName === '(idle)') continue;
    // Samples of the profiler's own IPC handler (bench/objects-child.ts) are not Stratus's work.
    let profiler = false;
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id))
      if (byId.get(id)!.callFrame.url.includes('bench/objects-child.ts')) profiler = true;
    if (profiler) continue;
    busy += dt;
    self.set(label(node), (self.get(label(node)) ?? 0) + dt);
    const seenOwn = new Set<string>();
    let owner: string | null = null;
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      const w = where(n);
      if (w.own) seenOwn.add(label(n));
      owner ??= w.pkg ?? (w.own ? `stratus ${w.short}` : null);
    }
    if (!owner)
      owner = node.callFrame.functionName.startsWith('(')
        ? node.callFrame.functionName
        : 'node internals, no package or Stratus frame on the stack';
    for (const k of seenOwn) inclusiveOwn.set(k, (inclusiveOwn.get(k) ?? 0) + dt);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + dt);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  const pct = (v: number) => `${fmt((100 * v) / busy, 1)}%`;
  printTable(`self time, top 15 (of ${fmt(busy / 1000, 0)} ms busy)`, [
    ['function (file:name)', 'self'],
    ...top(self, 15).map(([k, v]) => [k, pct(v)]),
  ]);
  printTable('inclusive time, Stratus functions, top 20', [
    ['file:function', 'inclusive'],
    ...top(inclusiveOwn, 20).map(([k, v]) => [k, pct(v)]),
  ]);
  printTable('time by owner (innermost package or Stratus file on the stack), top 15', [
    ['owner', 'share'],
    ...top(byOwner, 15).map(([k, v]) => [k, pct(v)]),
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
    for (const src of [one, big, ...(PHASES.includes('memory') ? [memory] : [])])
      src.md5 = await makeFile(src.file, src.bytes);
    const sources = [one, big];

    if (PHASES.includes('throughput')) {
      // (1) throughput, filesystem driver
      const fsRoot = fs.mkdtempSync(path.join(work, 'store-fs-'));
      const fsStratus = await connectStratus(db.url, {
        driver: 'filesystem',
        driverConfig: { root: fsRoot },
        maxObjectBytes: MAX_OBJECT_BYTES,
      });
      children.push(fsStratus.child);
      const bareRoot = fs.mkdtempSync(path.join(work, 'store-bare-'));
      const bare = await startBare(bareRoot);
      children.push(bare.child);
      await filesystemThroughput(fsStratus, bare, sources, work);
      await fsStratus.child.stop();
      await bare.child.stop();
      fs.rmSync(fsRoot, { recursive: true, force: true });
      fs.rmSync(bareRoot, { recursive: true, force: true });

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
    }

    // (2) memory
    if (PHASES.includes('memory')) await memoryPhase(db.url, work, memory, one);

    // (3) small objects
    if (PHASES.includes('small')) await smallPhase(db.url, work);
  } finally {
    for (const child of children) await child.stop().catch(() => {});
    agent.destroy();
    await db.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
