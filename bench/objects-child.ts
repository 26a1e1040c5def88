/**
 * Child processes for bench/objects.ts, one role each (OBJECTS_CHILD_ROLE):
 *
 * - `stratus`: Stratus with the object driver it is sent over IPC (`StratusJob`), so the parent
 *   can read this process's RSS from /proc and the client never shares its event loop. With
 *   OBJECTS_CPU_PROF set, `profile-start` / `profile-stop` messages record a V8 CPU profile
 *   of a phase (node:inspector) into that folder.
 * - `s3rver`: s3rver (test/support/s3rver.ts) on loopback, one bucket.
 * - `bare`: a reference, not Stratus: a plain node:http server that stores PUT bodies the way the
 *   filesystem driver's data path does (MD5 while streaming, FileHandle.writev per chunk, fsync,
 *   rename into place) and serves GETs from a FileHandle read stream, with no express, token,
 *   database, metadata file or directory fsync. It shows what Node alone reaches on this machine.
 * - `load`: one autocannon run (`ObjectLoadJob`) of object PUTs or GETs, then exit.
 *
 * Each answers its first message with a `ChildReady` (or `ObjectLoadResult`) and stops on `stop`.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import inspector from 'node:inspector';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ObjectsConfig } from '../server/config';

export interface StratusJob {
  databaseUrl: string;
  objects: ObjectsConfig;
}

export interface BareJob {
  /** Folder for the objects (and their temp files). */
  root: string;
}

export interface ChildReady {
  url: string;
  /** The s3rver role's S3Config (endpoint, bucket, credentials). */
  s3?: Record<string, unknown>;
}

export type ChildCommand =
  | { type: 'stop' }
  | { type: 'memory' }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; name: string };

export interface ObjectLoadJob {
  /** http://host:port */
  origin: string;
  method: 'PUT' | 'GET';
  /** Object paths (/v1/AUTH_.../c/o); requests go through them in turn. For PUT, a number is appended. */
  paths: string[];
  /** PUT only: the body of every request. */
  bodyBase64?: string;
  token: string;
  connections: number;
  duration: number;
}

export interface ObjectLoadResult {
  requests: number;
  reqPerSec: number;
  mbPerSec: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
}

const role = process.env.OBJECTS_CHILD_ROLE;

function onCommands(stop: () => Promise<void>): void {
  let session: inspector.Session | null = null;
  const post = <T>(method: string): Promise<T> =>
    new Promise((resolve, reject) =>
      session!.post(method, (err, result) => (err ? reject(err) : resolve(result as T))),
    );
  process.on('message', async (command: ChildCommand) => {
    try {
      if (command.type === 'stop') {
        await stop();
        process.exit(0);
      }
      if (command.type === 'memory') {
        process.send?.({ type: 'memory', usage: process.memoryUsage() });
        return;
      }
      const dir = process.env.OBJECTS_CPU_PROF;
      if (!dir) return;
      if (command.type === 'profile-start') {
        session = new inspector.Session();
        session.connect();
        await post('Profiler.enable');
        await post('Profiler.start');
        process.send?.({ type: 'profile-started' });
      } else if (command.type === 'profile-stop' && session) {
        const { profile } = await post<{ profile: unknown }>('Profiler.stop');
        session.disconnect();
        session = null;
        const file = path.join(dir, `${command.name}.cpuprofile`);
        fs.writeFileSync(file, JSON.stringify(profile));
        process.send?.({ type: 'profile-stopped', file });
      }
    } catch (error) {
      console.error(error);
      process.exit(1);
    }
  });
}

// Each role imports what it needs when it starts, so the `bare` reference carries none of
// Stratus's modules in its RSS.
async function runStratus(job: StratusJob): Promise<void> {
  const { startStratus } = await import('../server/app');
  const { benchConfig } = await import('./support');
  const stratus = await startStratus(benchConfig(job.databaseUrl, { objects: job.objects }));
  onCommands(() => stratus.stop());
  const ready: ChildReady = { url: stratus.url };
  process.send?.(ready);
}

async function runS3rver(): Promise<void> {
  const { startS3rver } = await import('../test/support/s3rver');
  const s3 = await startS3rver();
  onCommands(() => s3.stop());
  const ready: ChildReady = { url: s3.endpoint, s3: { ...s3.config } };
  process.send?.(ready);
}

async function runLoad(job: ObjectLoadJob): Promise<void> {
  const { default: autocannon } = await import('autocannon');
  let next = 0;
  const body = job.bodyBase64 ? Buffer.from(job.bodyBase64, 'base64') : undefined;
  const headers: Record<string, string> = { 'x-auth-token': job.token };
  // autocannon adds Content-Length itself (a second one would make the request malformed).
  if (body) headers['content-type'] = 'application/octet-stream';
  const result = await autocannon({
    url: job.origin,
    connections: job.connections,
    duration: job.duration,
    requests: [
      {
        method: job.method,
        headers,
        ...(body ? { body } : {}),
        setupRequest: (req) => {
          const i = next++;
          const p = job.paths[i % job.paths.length];
          return { ...req, path: job.method === 'PUT' ? `${p}${i}` : p };
        },
      },
    ],
  });
  const seconds = result.duration || job.duration;
  const statusCodes: Record<string, number> = {};
  for (const [code, count] of Object.entries(result.statusCodeStats ?? {}))
    statusCodes[code] = (count as { count: number }).count;
  const out: ObjectLoadResult = {
    requests: result.requests.total,
    reqPerSec: result.requests.total / seconds,
    mbPerSec:
      (job.method === 'PUT'
        ? result.requests.total * (body?.length ?? 0)
        : result.throughput.total) /
      seconds /
      1e6,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    non2xx: result.non2xx,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
  };
  process.send?.(out, () => process.exit(0));
}

async function runBare(job: BareJob): Promise<void> {
  const file = (url: string) =>
    path.join(job.root, encodeURIComponent(url.split('?')[0].replace(/^\/v1\//, '')));
  const server = http.createServer((req, res) => {
    const target = file(req.url ?? '/');
    const handle = async () => {
      if (req.method === 'PUT') {
        const tmp = path.join(job.root, `.tmp-${randomUUID()}`);
        const out = await fsp.open(tmp, 'wx', 0o600);
        const hash = createHash('md5');
        try {
          await pipeline(
            req,
            new Transform({
              transform(chunk: Buffer, _encoding, done) {
                hash.update(chunk);
                done(null, chunk);
              },
            }),
            new Writable({
              write(chunk: Buffer, _encoding, done) {
                out.writev([chunk]).then(() => done(), done);
              },
              final(done) {
                out.sync().then(() => done(), done);
              },
            }),
          );
        } finally {
          await out.close();
        }
        await fsp.rename(tmp, target);
        res.writeHead(201, { etag: `"${hash.digest('hex')}"` }).end();
      } else if (req.method === 'GET') {
        let input: fsp.FileHandle;
        try {
          input = await fsp.open(target, 'r');
        } catch {
          res.writeHead(404).end();
          return;
        }
        const { size } = await input.stat();
        res.writeHead(200, {
          'content-length': size,
          'content-type': 'application/octet-stream',
        });
        await pipeline(input.createReadStream(), res);
      } else if (req.method === 'DELETE') {
        await fsp.rm(target, { force: true });
        res.writeHead(204).end();
      } else {
        res.writeHead(405).end();
      }
    };
    handle().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.keepAliveTimeout = 30_000;
  onCommands(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const ready: ChildReady = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  };
  process.send?.(ready);
}

process.once('message', (job: StratusJob | ObjectLoadJob | BareJob | { type: 'start' }) => {
  const run =
    role === 'stratus'
      ? runStratus(job as StratusJob)
      : role === 's3rver'
        ? runS3rver()
        : role === 'bare'
          ? runBare(job as BareJob)
          : role === 'load'
            ? runLoad(job as ObjectLoadJob)
            : Promise.reject(new Error('OBJECTS_CHILD_ROLE must be stratus, s3rver, bare or load'));
  run.catch((error) => {
    console.error(error);
    process.exit(1);
  });
});
