/**
 * Image upload (Glance's job): a 1 GiB raw image streamed into Stratus with `createImage`, then
 * PUT /v2/images/<id>/file (MD5 + SHA-512 computed while streaming, qemu-img probe, fsync,
 * commit), against `cp` of the same file to the same filesystem in the same round. Also: the
 * Stratus process's RSS during the upload against before it, several uploads at once with
 * per-stream MB/s, downloads of the same image with the MD5 check, and the speed of the hashing
 * alone (openssl and node:crypto), which is the ceiling of a single upload.
 *
 *   npx tsx bench/images.ts                            # or: npm run bench -- images  (~5 min)
 *   IMAGES_CPU_PROF=/tmp/prof npx tsx bench/images.ts  # also profiles one upload in Stratus
 *
 * Stratus runs in a child process (the `stratus` role of bench/objects-child.ts, filesystem
 * driver, store in the work folder), so its RSS and CPU time read from /proc/<pid> are the
 * server's alone. Three reference servers (bench/images-child.ts, not Stratus) take the same PUT
 * with the same hashing and writes but nothing else: hashing on the event loop as Stratus does,
 * hashing in a worker thread, and no hashing; curl sends to them.
 *
 * Every upload is checked: the 204's Content-MD5, and the image's `status`, `sizeBytes`,
 * `checksum` (MD5) and `osHashValue` (SHA-512) against what this script computed while writing
 * the file; every download's MD5 against the local one and its Content-MD5. A mismatch throws. The source is one random 1 MiB block repeated (cheap to make; hashing and
 * copying cost the same as for any bytes). Nothing drops the page cache: sources are read once,
 * untimed, before each measurement so they come from cache; `cp` writes into the cache, Stratus
 * fsyncs (so `cp + sync` is the fairer reference). A `sync` runs before each round's phases.
 *
 * Env: IMAGES_ROUNDS (3), IMAGES_MIB (1024), IMAGES_STREAMS (4), IMAGES_STREAM_MIB (256),
 * IMAGES_CPU_PROF (a folder: record and summarise a CPU profile of Stratus during one upload).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BareImageJob, BareImageReady, BareMode } from './images-child';
import type { ChildCommand, ChildReady, StratusJob } from './objects-child';
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
const ROUNDS = Number(process.env.IMAGES_ROUNDS ?? 3);
const SINGLE_MIB = Number(process.env.IMAGES_MIB ?? 1024);
const STREAMS = Number(process.env.IMAGES_STREAMS ?? 4);
const STREAM_MIB = Number(process.env.IMAGES_STREAM_MIB ?? 256);
const CPU_PROF = process.env.IMAGES_CPU_PROF ?? '';
const GOAL_MBPS = 200;
const GLANCE_MBPS = 23;
/** Chunk size of the client's file reads, and of the in-memory hashing reference. */
const CLIENT_CHUNK = 256 * 1024;

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

// ---------------------------------------------------------------- files

interface Source {
  file: string;
  bytes: number;
  md5: string;
  sha512: string;
}

/** Writes `bytes` as one random 1 MiB block repeated; returns its MD5 and SHA-512. */
function makeSource(file: string, bytes: number): Source {
  const block = randomBytes(MiB);
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  const out = fs.openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; left -= MiB) {
      const chunk = block.subarray(0, Math.min(left, MiB));
      md5.update(chunk);
      sha512.update(chunk);
      fs.writeSync(out, chunk);
    }
  } finally {
    fs.closeSync(out);
  }
  return { file, bytes, md5: md5.digest('hex'), sha512: sha512.digest('hex') };
}

/** Output of `bash -c script` with positional arguments (no interpolation into the script). */
function bash(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `set -o pipefail; ${script}`, 'bash', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`bash exited ${code}: ${err || out}`)),
    );
  });
}

/**
 * Reads a file once, untimed, so the measurement after it reads from the page cache: this VM's
 * DAMON `pageout` scheme evicts pages that stay cold for a while, sources included.
 */
const warmCache = (file: string) => bash('cat "$1" > /dev/null', [file]);

// ---------------------------------------------------------------- the Stratus child

interface Server {
  child: ChildProcess;
  pid: number;
  origin: string;
  token: string;
  send(command: ChildCommand): void;
  next(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

async function startServer(databaseUrl: string, root: string): Promise<Server> {
  const child = fork(path.join(BENCH_DIR, 'objects-child.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      OBJECTS_CHILD_ROLE: 'stratus',
      ...(CPU_PROF ? { OBJECTS_CPU_PROF: CPU_PROF } : {}),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const job: StratusJob = {
    databaseUrl,
    objects: { driver: 'filesystem', driverConfig: { root }, maxObjectBytes: 5 * 1024 ** 3 },
  };
  const ready = await new Promise<ChildReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ChildReady));
    child.once('error', reject);
    void exited.then((code) => reject(new Error(`Stratus child exited with ${code}`)));
    child.send(job);
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.send({ type: 'stop' } satisfies ChildCommand);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const result = await gql(`${ready.url}/graphql`, LOGIN_MUTATION, {
      input: { userName: 'admin', password: ADMIN_PASSWORD, scope: { projectName: 'admin' } },
    });
    if (result.data?.login?.__typename !== 'LoginSuccess')
      throw new Error(`login failed: ${JSON.stringify(result)}`);
    return {
      child,
      pid: child.pid!,
      origin: ready.url,
      token: result.data.login.data.token as string,
      send: (command) => child.send(command),
      next: () => new Promise((resolve) => child.once('message', (m) => resolve(m as never))),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface Bare {
  mode: BareMode;
  pid: number;
  url: string;
  stop(): Promise<void>;
}

/** A reference server of bench/images-child.ts (not Stratus). */
async function startBare(mode: BareMode, root: string): Promise<Bare> {
  const child = fork(path.join(BENCH_DIR, 'images-child.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, IMAGES_BARE_MODE: mode },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = await new Promise<BareImageReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as BareImageReady));
    child.once('error', reject);
    void exited.then((code) => reject(new Error(`bare ${mode} child exited with ${code}`)));
    child.send({ root } satisfies BareImageJob);
  });
  return {
    mode,
    pid: child.pid!,
    url: `${ready.url}/v2/images/bare/file`,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const CLOCK_TICKS = 100; // USER_HZ on Linux
/** User + system CPU time of a process (all its threads), in ms. */
function cpuMsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

// ---------------------------------------------------------------- images over GraphQL and HTTP

interface Image {
  id: string;
  status: string;
  checksum: string | null;
  osHashAlgo: string | null;
  osHashValue: string | null;
  sizeBytes: number | null;
  uploadUrl: string;
  fileUrl: string;
  failureReason: string | null;
}

const IMAGE_FIELDS =
  'id status checksum osHashAlgo osHashValue sizeBytes uploadUrl fileUrl failureReason';
const ERROR = '__typename ... on Error { message code }';

async function createImage(s: Server, name: string): Promise<Image> {
  const result = await gql(
    `${s.origin}/graphql`,
    `mutation($input: CreateImageInput!) { createImage(input: $input) { ${ERROR} ... on CreateImageSuccess { image { ${IMAGE_FIELDS} } } } }`,
    { input: { name, diskFormat: 'raw', containerFormat: 'bare' } },
    s.token,
  );
  const image = result.data?.createImage?.image as Image | undefined;
  if (!image) throw new Error(`createImage failed: ${JSON.stringify(result)}`);
  return image;
}

async function getImage(s: Server, id: string): Promise<Image> {
  const result = await gql(
    `${s.origin}/graphql`,
    `query($id: ID!) { node(id: $id) { ... on Image { ${IMAGE_FIELDS} } } }`,
    { id },
    s.token,
  );
  if (!result.data?.node) throw new Error(`image ${id}: ${JSON.stringify(result)}`);
  return result.data.node as Image;
}

async function deleteImage(s: Server, id: string): Promise<void> {
  const result = await gql(
    `${s.origin}/graphql`,
    `mutation($id: ID!) { deleteImage(id: $id) { ${ERROR} } }`,
    { id },
    s.token,
  );
  if (result.data?.deleteImage?.__typename !== 'DeleteImageSuccess')
    throw new Error(`deleteImage failed: ${JSON.stringify(result)}`);
}

const checks = { uploads: 0, downloads: 0 };

/** Throws unless the image is active with exactly the source's size, MD5 and SHA-512. */
async function verifyImage(s: Server, id: string, src: Source, contentMd5Hex: string) {
  const image = await getImage(s, id);
  const problems: string[] = [];
  if (contentMd5Hex !== src.md5) problems.push(`Content-MD5 ${contentMd5Hex} != ${src.md5}`);
  if (image.status !== 'active')
    problems.push(`status ${image.status} (${image.failureReason ?? ''})`);
  if (Number(image.sizeBytes) !== src.bytes)
    problems.push(`sizeBytes ${image.sizeBytes} != ${src.bytes}`);
  if (image.checksum !== src.md5) problems.push(`checksum ${image.checksum} != ${src.md5}`);
  if (image.osHashAlgo !== 'sha512') problems.push(`osHashAlgo ${image.osHashAlgo}`);
  if (image.osHashValue !== src.sha512)
    problems.push(`osHashValue ${image.osHashValue} != ${src.sha512}`);
  if (problems.length)
    throw new Error(`CHECKSUM/STATE MISMATCH for image ${id}: ${problems.join('; ')}`);
  checks.uploads++;
}

function verifyDownload(what: string, src: Source, got: Download): void {
  const problems: string[] = [];
  if (got.bytes !== src.bytes) problems.push(`${got.bytes} bytes != ${src.bytes}`);
  if (got.md5Hex !== src.md5) problems.push(`MD5 of the bytes ${got.md5Hex} != ${src.md5}`);
  if (got.headerMd5Hex !== src.md5) problems.push(`Content-MD5 ${got.headerMd5Hex} != ${src.md5}`);
  if (problems.length) throw new Error(`DOWNLOAD MISMATCH (${what}): ${problems.join('; ')}`);
  checks.downloads++;
}

const base64ToHex = (value: string | string[] | undefined) =>
  Buffer.from(String(value ?? ''), 'base64').toString('hex');

interface Upload {
  contentMd5Hex: string;
  /** The bare references' X-Sha512 (Stratus reports SHA-512 as the image's osHashValue). */
  sha512Hex?: string;
  /** From the request's last byte handed to the kernel to the 204 (fsync, qemu-img, commit). */
  tailMs: number;
}

/** PUTs a file streamed from disk with node:http; throws unless 204. */
function nodePut(s: Server, url: string, file: string, bytes: number): Promise<Upload> {
  return new Promise((resolve, reject) => {
    let sentAt = Number.NaN;
    const req = http.request(
      url,
      {
        method: 'PUT',
        agent,
        headers: {
          'x-auth-token': s.token,
          'content-type': 'application/octet-stream',
          'content-length': bytes,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => {
          if (res.statusCode !== 204) reject(new Error(`PUT ${url}: ${res.statusCode} ${text}`));
          else
            resolve({
              contentMd5Hex: base64ToHex(res.headers['content-md5']),
              tailMs: performance.now() - sentAt,
            });
        });
        res.on('error', reject);
      },
    );
    req.on('finish', () => {
      sentAt = performance.now();
    });
    req.on('error', reject);
    fs.createReadStream(file, { highWaterMark: CLIENT_CHUNK })
      .on('error', (e) => req.destroy(e))
      .pipe(req);
  });
}

/** PUTs a file with `curl -T` (no Expect: 100-continue round trip). */
async function curlPut(s: Pick<Server, 'token'>, url: string, file: string): Promise<Upload> {
  const headers = await bash(
    'curl -sS -f -D - -o /dev/null -T "$1" -H "X-Auth-Token: $2" -H "Content-Type: application/octet-stream" -H "Expect:" "$3"',
    [file, s.token, url],
  );
  const status = /^HTTP\/[\d.]+ (\d+)/m.exec(headers)?.[1];
  if (status !== '204') throw new Error(`curl PUT ${url}: ${headers}`);
  return {
    contentMd5Hex: base64ToHex(/^content-md5:[ \t]*(\S+)/im.exec(headers)?.[1]),
    sha512Hex: /^x-sha512:[ \t]*(\S+)/im.exec(headers)?.[1],
    tailMs: Number.NaN,
  };
}

interface Download {
  bytes: number;
  md5Hex: string;
  headerMd5Hex: string;
}

/** GETs an image with node:http, hashing the bytes (MD5) as they arrive; no file is written. */
function nodeGet(s: Server, url: string): Promise<Download> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent, headers: { 'x-auth-token': s.token } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url}: ${res.statusCode}`));
        return;
      }
      const hash = createHash('md5');
      let bytes = 0;
      pipeline(
        res,
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            bytes += chunk.length;
            hash.update(chunk);
            done();
          },
        }),
      ).then(
        () =>
          resolve({
            bytes,
            md5Hex: hash.digest('hex'),
            headerMd5Hex: base64ToHex(res.headers['content-md5']),
          }),
        reject,
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** GETs an image with curl into `md5sum` (a pipe, no file written). */
async function curlGet(s: Server, url: string, headerFile: string): Promise<Download> {
  const out = await bash('curl -sS -f -D "$1" -H "X-Auth-Token: $2" "$3" | md5sum', [
    headerFile,
    s.token,
    url,
  ]);
  const headers = fs.readFileSync(headerFile, 'utf8');
  fs.rmSync(headerFile, { force: true });
  return {
    bytes: Number(/^content-length:[ \t]*(\d+)/im.exec(headers)?.[1]),
    md5Hex: out.split(' ')[0],
    headerMd5Hex: base64ToHex(/^content-md5:[ \t]*(\S+)/im.exec(headers)?.[1]),
  };
}

// ---------------------------------------------------------------- measuring

interface Sample {
  label: string;
  round: number;
  /** Bytes this one operation moved. */
  bytes: number;
  ms: number;
  serverCpuMs: number | null;
  baselineRss: number | null;
  peakRss: number | null;
  hwmAfter: number | null;
  tailMs: number | null;
}

const samples: Sample[] = [];

/** Times `body`; with a server's pid, also its CPU time and RSS (sampled every 100 ms). */
async function measure(
  label: string,
  round: number,
  bytes: number,
  pid: number | null,
  body: () => Promise<Upload | undefined>,
): Promise<Sample> {
  const before = pid ? memoryOf(pid) : null;
  const cpuBefore = pid ? cpuMsOf(pid) : 0;
  let peak = before?.rss ?? 0;
  const timer = pid
    ? setInterval(() => {
        peak = Math.max(peak, memoryOf(pid).rss);
      }, 100)
    : null;
  const started = performance.now();
  let upload: Upload | undefined;
  try {
    upload = await body();
  } finally {
    if (timer) clearInterval(timer);
  }
  const ms = performance.now() - started;
  const after = pid ? memoryOf(pid) : null;
  const sample: Sample = {
    label,
    round,
    bytes,
    ms,
    serverCpuMs: pid ? cpuMsOf(pid) - cpuBefore : null,
    baselineRss: before?.rss ?? null,
    peakRss: after ? Math.max(peak, after.rss) : null,
    hwmAfter: after?.hwm ?? null,
    tailMs: upload && Number.isFinite(upload.tailMs) ? upload.tailMs : null,
  };
  samples.push(sample);
  return sample;
}

/** Runs `count` copies of `body` at once, each measured on its own; returns the wall time. */
async function concurrently(
  label: string,
  round: number,
  bytes: number,
  count: number,
  body: (i: number) => Promise<void>,
): Promise<void> {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      measure(label, round, bytes, null, async () => {
        await body(i);
        return undefined;
      }),
    ),
  );
  concurrentWalls.push({ label, round, bytes: bytes * count, ms: performance.now() - started });
}

const concurrentWalls: Array<{ label: string; round: number; bytes: number; ms: number }> = [];
const concurrentServer: Array<{
  label: string;
  round: number;
  cpuMs: number;
  ms: number;
  baselineRss: number;
  peakRss: number;
}> = [];

/** Like `concurrently`, with the server's CPU time and RSS over the whole group. */
async function concurrentlyOnServer(
  label: string,
  round: number,
  bytes: number,
  count: number,
  s: Server,
  body: (i: number) => Promise<void>,
): Promise<void> {
  const before = memoryOf(s.pid).rss;
  const cpuBefore = cpuMsOf(s.pid);
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, memoryOf(s.pid).rss);
  }, 100);
  const started = performance.now();
  try {
    await concurrently(label, round, bytes, count, body);
  } finally {
    clearInterval(timer);
  }
  concurrentServer.push({
    label,
    round,
    cpuMs: cpuMsOf(s.pid) - cpuBefore,
    ms: performance.now() - started,
    baselineRss: before,
    peakRss: Math.max(peak, memoryOf(s.pid).rss),
  });
}

/** MD5 and/or SHA-512 of `bytes` in memory, in CLIENT_CHUNK pieces, on this thread. */
function hashInMemory(algorithms: string[], bytes: number, block: Buffer): void {
  const hashes = algorithms.map((a) => createHash(a));
  for (let left = bytes; left > 0; left -= CLIENT_CHUNK) {
    const chunk = block.subarray(0, Math.min(left, CLIENT_CHUNK));
    for (const h of hashes) h.update(chunk);
  }
  for (const h of hashes) h.digest();
}

const mbps = (bytes: number, ms: number) => bytes / (ms / 1000) / 1e6;
const median = (values: number[]) => {
  const sorted = [...values].filter(Number.isFinite).sort((a, b) => a - b);
  if (!sorted.length) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const mib = (bytes: number) => fmt(bytes / MiB, 1);
const sizeLabel = (bytes: number) =>
  bytes >= 1024 * MiB ? `${bytes / (1024 * MiB)} GiB` : `${bytes / MiB} MiB`;

// Labels of the single-stream table.
const CP = 'cp FILE (same filesystem)';
const CP_SYNC = 'cp + sync FILE';
const OPENSSL_MD5 = 'openssl dgst -md5 FILE';
const OPENSSL_SHA512 = 'openssl dgst -sha512 FILE';
const NODE_MD5 = 'node:crypto MD5, in memory, one thread';
const NODE_SHA512 = 'node:crypto SHA-512, in memory, one thread';
const NODE_BOTH = 'node:crypto MD5 + SHA-512, in memory, one thread';
const PUT_NODE = 'Stratus PUT image, node:http client';
const PUT_CURL = 'Stratus PUT image, curl';
const BARE_LABEL: Record<BareMode, string> = {
  inline: 'bare node:http ref., MD5 + SHA-512 on the event loop, curl',
  worker: 'bare node:http ref., MD5 + SHA-512 in a worker thread, curl',
  nohash: 'bare node:http ref., no hashing, curl',
};
const GET_NODE = 'Stratus GET image + MD5 check, node:http client';
const GET_CURL = 'Stratus GET image | md5sum, curl';
// Labels of the concurrent table.
const CP_N = 'cp FILE, concurrently';
const PUT_N = 'Stratus PUT image, node:http, concurrently';
const GET_N = 'Stratus GET image + MD5 check, node:http, concurrently';

// ---------------------------------------------------------------- rounds

async function singleRound(
  s: Server,
  bares: Bare[],
  src: Source,
  block: Buffer,
  work: string,
  round: number,
) {
  const copy = path.join(work, 'copy');
  await warmCache(src.file);
  await measure(CP, round, src.bytes, null, async () => {
    await run('cp', [src.file, copy]);
    return undefined;
  });
  fs.rmSync(copy, { force: true });
  await measure(CP_SYNC, round, src.bytes, null, async () => {
    await run('cp', [src.file, copy]);
    await run('sync', [copy]);
    return undefined;
  });
  fs.rmSync(copy, { force: true });
  for (const [label, algorithm] of [
    [OPENSSL_MD5, '-md5'],
    [OPENSSL_SHA512, '-sha512'],
  ] as const) {
    await measure(label, round, src.bytes, null, async () => {
      await run('openssl', ['dgst', algorithm, '-out', '/dev/null', src.file]);
      return undefined;
    });
  }
  for (const [label, algorithms] of [
    [NODE_MD5, ['md5']],
    [NODE_SHA512, ['sha512']],
    [NODE_BOTH, ['md5', 'sha512']],
  ] as const) {
    await measure(label, round, src.bytes, null, async () => {
      hashInMemory([...algorithms], src.bytes, block);
      return undefined;
    });
  }

  for (const [putLabel, getLabel, client] of [
    [PUT_NODE, GET_NODE, 'node'],
    [PUT_CURL, GET_CURL, 'curl'],
  ] as const) {
    const image = await createImage(s, `bench-${client}-${round}`);
    await warmCache(src.file);
    await sleep(500);
    let uploaded: Upload | undefined;
    await measure(putLabel, round, src.bytes, s.pid, async () => {
      uploaded =
        client === 'node'
          ? await nodePut(s, image.uploadUrl, src.file, src.bytes)
          : await curlPut(s, image.uploadUrl, src.file);
      return uploaded;
    });
    await verifyImage(s, image.id, src, uploaded!.contentMd5Hex);
    await sleep(500);
    let got: Download | undefined;
    await measure(getLabel, round, src.bytes, s.pid, async () => {
      got =
        client === 'node'
          ? await nodeGet(s, image.fileUrl)
          : await curlGet(s, image.fileUrl, path.join(work, 'curl-headers'));
      return undefined;
    });
    verifyDownload(`${getLabel}, round ${round}`, src, got!);
    await deleteImage(s, image.id);
  }

  for (const bare of bares) {
    await warmCache(src.file);
    await sleep(500);
    let uploaded: Upload | undefined;
    await measure(BARE_LABEL[bare.mode], round, src.bytes, bare.pid, async () => {
      uploaded = await curlPut({ token: 'none' }, bare.url, src.file);
      return uploaded;
    });
    const expected = bare.mode === 'nohash' ? ['', undefined] : [src.md5, src.sha512];
    if (uploaded!.contentMd5Hex !== expected[0] || uploaded!.sha512Hex !== expected[1])
      throw new Error(
        `CHECKSUM MISMATCH from ${BARE_LABEL[bare.mode]}: ${uploaded!.contentMd5Hex} ${uploaded!.sha512Hex}`,
      );
  }
}

async function concurrentRound(s: Server, src: Source, work: string, round: number) {
  const copy = (i: number) => path.join(work, `copy-${i}`);
  await warmCache(src.file);
  await concurrently(CP_N, round, src.bytes, STREAMS, (i) => run('cp', [src.file, copy(i)]));
  for (let i = 0; i < STREAMS; i++) fs.rmSync(copy(i), { force: true });
  const images: Image[] = [];
  for (let i = 0; i < STREAMS; i++) images.push(await createImage(s, `bench-c${round}-${i}`));
  await warmCache(src.file);
  await sleep(500);
  const uploads: Upload[] = [];
  await concurrentlyOnServer(PUT_N, round, src.bytes, STREAMS, s, async (i) => {
    uploads[i] = await nodePut(s, images[i].uploadUrl, src.file, src.bytes);
  });
  for (let i = 0; i < STREAMS; i++)
    await verifyImage(s, images[i].id, src, uploads[i].contentMd5Hex);
  await sleep(500);
  const downloads: Download[] = [];
  await concurrentlyOnServer(GET_N, round, src.bytes, STREAMS, s, async (i) => {
    downloads[i] = await nodeGet(s, images[i].fileUrl);
  });
  for (let i = 0; i < STREAMS; i++)
    verifyDownload(`${GET_N} #${i}, round ${round}`, src, downloads[i]);
  for (const image of images) await deleteImage(s, image.id);
}

// ---------------------------------------------------------------- reports

function printSingle(bytes: number): void {
  const labels = [
    CP,
    CP_SYNC,
    OPENSSL_MD5,
    OPENSSL_SHA512,
    NODE_MD5,
    NODE_SHA512,
    NODE_BOTH,
    PUT_NODE,
    PUT_CURL,
    BARE_LABEL.inline,
    BARE_LABEL.worker,
    BARE_LABEL.nohash,
    GET_NODE,
    GET_CURL,
  ];
  const of = (label: string) => samples.filter((m) => m.label === label && m.bytes === bytes);
  const rows: Array<Array<string | number>> = [
    [
      'what',
      ...Array.from({ length: ROUNDS }, (_, i) => `MB/s r${i + 1}`),
      'median MB/s',
      'median s',
      'server CPU % of wall',
      'last byte -> 204 ms',
    ],
  ];
  for (const label of labels) {
    const ms = of(label);
    if (!ms.length) continue;
    const cpu = ms.filter((m) => m.serverCpuMs !== null);
    const tails = ms.filter((m) => m.tailMs !== null);
    rows.push([
      label,
      ...ms.map((m) => fmt(mbps(m.bytes, m.ms), 1)),
      fmt(median(ms.map((m) => mbps(m.bytes, m.ms))), 1),
      fmt(median(ms.map((m) => m.ms / 1000)), 2),
      cpu.length ? `${fmt(median(cpu.map((m) => (100 * m.serverCpuMs!) / m.ms)), 0)}%` : '-',
      tails.length ? fmt(median(tails.map((m) => m.tailMs!)), 0) : '-',
    ]);
  }
  printTable(
    `One ${sizeLabel(bytes)} raw image, one stream (MB = 10^6 bytes); PUT time runs from the first byte to the 204 (MD5 + SHA-512, qemu-img probe, fsync, commit); goal >= ${GOAL_MBPS} MB/s per stream, Glance anchor ~${GLANCE_MBPS} MB/s`,
    rows,
  );

  const ratioRows: Array<Array<string | number>> = [
    [
      'ratio of MB/s, same round',
      ...Array.from({ length: ROUNDS }, (_, i) => `r${i + 1}`),
      'median',
    ],
  ];
  const pairs: Array<[string, string]> = [
    [PUT_NODE, CP],
    [PUT_CURL, CP],
    [PUT_NODE, CP_SYNC],
    [PUT_CURL, CP_SYNC],
    [PUT_NODE, NODE_BOTH],
    [PUT_CURL, NODE_BOTH],
    [PUT_CURL, BARE_LABEL.inline],
    [BARE_LABEL.worker, BARE_LABEL.inline],
    [GET_NODE, CP],
    [GET_CURL, CP],
    [NODE_BOTH, CP],
  ];
  for (const [a, b] of pairs) {
    const as = of(a);
    const bs = of(b);
    if (!as.length || as.length !== bs.length) continue;
    const values = as.map((m, i) => (100 * bs[i].ms) / m.ms);
    ratioRows.push([
      `${a} / ${b}`,
      ...values.map((v) => `${fmt(v, 1)}%`),
      `${fmt(median(values), 1)}%`,
    ]);
  }
  printTable('Ratios, measured in the same round', ratioRows);

  const memRows: Array<Array<string | number>> = [
    [
      'server process during',
      'round',
      'MB/s',
      'RSS before MiB',
      'peak RSS MiB',
      'peak - before MiB',
      'VmHWM after MiB',
    ],
  ];
  for (const m of samples.filter((x) => x.peakRss !== null && x.bytes === bytes)) {
    memRows.push([
      m.label,
      m.round,
      fmt(mbps(m.bytes, m.ms), 1),
      mib(m.baselineRss!),
      mib(m.peakRss!),
      mib(m.peakRss! - m.baselineRss!),
      mib(m.hwmAfter!),
    ]);
  }
  printTable(
    'Server process RSS (VmRSS sampled every 100 ms from /proc/<pid>/status): the Stratus child, and the bare references as the floor of a Node process',
    memRows,
  );
}

function printConcurrent(bytes: number): void {
  const rows: Array<Array<string | number>> = [
    [
      `${STREAMS} x ${sizeLabel(bytes)} at once`,
      'round',
      'aggregate MB/s',
      'per stream MB/s min',
      'median',
      'max',
      'Stratus CPU % of wall',
      'RSS before MiB',
      'peak RSS MiB',
      'peak - before MiB',
    ],
  ];
  for (const label of [CP_N, PUT_N, GET_N]) {
    for (let round = 1; round <= ROUNDS; round++) {
      const wall = concurrentWalls.find((w) => w.label === label && w.round === round);
      if (!wall) continue;
      const per = samples
        .filter((m) => m.label === label && m.round === round)
        .map((m) => mbps(m.bytes, m.ms))
        .sort((a, b) => a - b);
      const server = concurrentServer.find((c) => c.label === label && c.round === round);
      rows.push([
        label,
        round,
        fmt(mbps(wall.bytes, wall.ms), 1),
        fmt(per[0], 1),
        fmt(median(per), 1),
        fmt(per[per.length - 1], 1),
        server ? `${fmt((100 * server.cpuMs) / server.ms, 0)}%` : '-',
        server ? mib(server.baselineRss) : '-',
        server ? mib(server.peakRss) : '-',
        server ? mib(server.peakRss - server.baselineRss) : '-',
      ]);
    }
  }
  printTable(
    `Concurrent streams (each stream timed on its own; aggregate = all bytes / wall time; goal >= ${GOAL_MBPS} MB/s per stream)`,
    rows,
  );
}

// ---------------------------------------------------------------- CPU profile

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/** Self time by function and by owner (innermost package or Stratus file on the stack). */
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
  const owner = (n: ProfileNode): string | null => {
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    if (pkg) return pkg;
    return url.startsWith(root) ? path.relative(root, url) : null;
  };
  const self = new Map<string, number>();
  const owners = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])!;
    const dt = profile.timeDeltas[i] ?? 0;
    if (node.callFrame.functionName === '(idle)') continue;
    // The profiler's own IPC handler (bench/objects-child.ts) is not Stratus's work.
    let profiler = false;
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id))
      if (byId.get(id)!.callFrame.url.includes('bench/objects-child.ts')) profiler = true;
    if (profiler) continue;
    busy += dt;
    const name = `${owner(node) ?? (node.callFrame.url || '(native)')}:${node.callFrame.functionName || '(anonymous)'}`;
    self.set(name, (self.get(name) ?? 0) + dt);
    let who: string | null = null;
    for (let id: number | undefined = node.id; id !== undefined && !who; id = parent.get(id))
      who = owner(byId.get(id)!);
    who ??= node.callFrame.functionName.startsWith('(')
      ? node.callFrame.functionName
      : 'node internals only';
    owners.set(who, (owners.get(who) ?? 0) + dt);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  const pct = (v: number) => `${fmt((100 * v) / busy, 1)}%`;
  printTable(`self time, top 12 (of ${fmt(busy / 1000, 0)} ms busy on the main thread)`, [
    ['function', 'self'],
    ...top(self, 12).map(([k, v]) => [k, pct(v)]),
  ]);
  printTable('self time by owner, top 10', [
    ['owner', 'share'],
    ...top(owners, 10).map(([k, v]) => [k, pct(v)]),
  ]);
}

async function profiledUpload(s: Server, src: Source): Promise<void> {
  fs.mkdirSync(CPU_PROF, { recursive: true });
  const image = await createImage(s, 'bench-profiled');
  const started = s.next();
  s.send({ type: 'profile-start' });
  await started;
  const t0 = performance.now();
  const up = await nodePut(s, image.uploadUrl, src.file, src.bytes);
  const ms = performance.now() - t0;
  const stopped = s.next();
  s.send({ type: 'profile-stop', name: 'images-put' });
  const { file } = (await stopped) as { file: string };
  await verifyImage(s, image.id, src, up.contentMd5Hex);
  await deleteImage(s, image.id);
  process.stdout.write(
    `\nCPU profile of Stratus during one ${sizeLabel(src.bytes)} PUT (${fmt(mbps(src.bytes, ms), 1)} MB/s while profiling): ${file}\n`,
  );
  summarizeProfile(file);
}

// ---------------------------------------------------------------- main

runMain(async () => {
  process.stdout.write('== bench/images.ts ==\n');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bench-images-'));
  const db = await startDatabase();
  let server: Server | null = null;
  const bares: Bare[] = [];
  try {
    const free = fs.statfsSync(work);
    const freeBytes = free.bavail * free.bsize;
    const needed = (SINGLE_MIB * 3 + STREAM_MIB * (2 * STREAMS + 1)) * MiB;
    if (needed > freeBytes)
      throw new Error(
        `${work} has ${mib(freeBytes)} MiB free; this needs ~${mib(needed)} MiB (set IMAGES_MIB, IMAGES_STREAM_MIB)`,
      );
    process.stdout.write(`${machineLine(db.source)}\n`);
    process.stdout.write(
      `work folder ${work} (${fmt(freeBytes / 2 ** 30, 1)} GiB free); ${ROUNDS} rounds; one ${SINGLE_MIB} MiB image, then ${STREAMS} x ${STREAM_MIB} MiB at once. Page cache not dropped.\n`,
    );
    const block = randomBytes(MiB);
    const single = makeSource(path.join(work, 'single.raw'), SINGLE_MIB * MiB);
    const stream = makeSource(path.join(work, 'stream.raw'), STREAM_MIB * MiB);
    const root = path.join(work, 'store');
    fs.mkdirSync(root);
    await run('sync', []);
    server = await startServer(db.url, root);
    const s = server;
    const bareRoot = path.join(work, 'bare');
    fs.mkdirSync(bareRoot);
    for (const mode of ['inline', 'worker', 'nohash'] as const)
      bares.push(await startBare(mode, bareRoot));

    // Warm-up: the code paths of an upload and a download (qemu-img included), then settle.
    const warmSrc = makeSource(path.join(work, 'warm.raw'), 8 * MiB);
    const warm = await createImage(s, 'bench-warm');
    const warmUp = await nodePut(s, warm.uploadUrl, warmSrc.file, warmSrc.bytes);
    await verifyImage(s, warm.id, warmSrc, warmUp.contentMd5Hex);
    verifyDownload('warm-up', warmSrc, await nodeGet(s, warm.fileUrl));
    await deleteImage(s, warm.id);
    await sleep(1000);
    const warmHwm = memoryOf(s.pid).hwm;
    process.stdout.write(
      `Stratus child pid ${s.pid}: RSS after warm-up ${mib(memoryOf(s.pid).rss)} MiB, VmHWM ${mib(warmHwm)} MiB\n`,
    );

    for (let round = 1; round <= ROUNDS; round++) {
      // Dirty pages left by earlier work would be written back during the next measurement.
      await run('sync', []);
      const load = os.loadavg().map((v) => fmt(v, 2));
      await singleRound(s, bares, single, block, work, round);
      await run('sync', []);
      await concurrentRound(s, stream, work, round);
      process.stdout.write(
        `round ${round} done (load average at its start: ${load.join(' / ')}; 1 / 5 / 15 min)\n`,
      );
    }
    printSingle(single.bytes);
    printConcurrent(stream.bytes);
    process.stdout.write(
      `\nChecksums: ${checks.uploads} uploads matched (Content-MD5, status active, sizeBytes, checksum = MD5, osHashValue = SHA-512 computed here); ${checks.downloads} downloads matched (bytes, MD5, Content-MD5).\n`,
    );

    const putMedian = median(
      samples.filter((m) => m.label === PUT_NODE).map((m) => mbps(m.bytes, m.ms)),
    );
    const perStream = median(
      samples.filter((m) => m.label === PUT_N).map((m) => mbps(m.bytes, m.ms)),
    );
    const ceiling = median(
      samples.filter((m) => m.label === NODE_BOTH).map((m) => mbps(m.bytes, m.ms)),
    );
    process.stdout.write(
      `Goal >= ${GOAL_MBPS} MB/s per stream: one stream ${fmt(putMedian, 1)} MB/s (${putMedian >= GOAL_MBPS ? 'met' : 'NOT met'}); ${STREAMS} at once ${fmt(perStream, 1)} MB/s per stream (${perStream >= GOAL_MBPS ? 'met' : 'NOT met'}). MD5 + SHA-512 on one thread alone: ${fmt(ceiling, 1)} MB/s. Glance anchor: ~${GLANCE_MBPS} MB/s per upload.\n`,
    );

    const stratusRows = [
      ...samples.filter((m) => m.peakRss !== null && m.label.startsWith('Stratus')),
      ...concurrentServer,
    ];
    const growth = Math.max(...stratusRows.map((m) => m.peakRss! - m.baselineRss!));
    const peak = Math.max(...stratusRows.map((m) => m.peakRss!));
    process.stdout.write(
      `Memory: the Stratus process's RSS rose at most ${mib(growth)} MiB during any transfer (peak ${mib(peak)} MiB over all of them; VmHWM at the end ${mib(memoryOf(s.pid).hwm)} MiB, after warm-up it was ${mib(warmHwm)} MiB).\n`,
    );

    if (CPU_PROF) await profiledUpload(s, single);
  } finally {
    await server?.stop().catch(() => {});
    for (const bare of bares) await bare.stop().catch(() => {});
    agent.destroy();
    await db.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
