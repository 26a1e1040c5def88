/**
 * Child processes for bench/objects.ts, one role each (OBJECTS_CHILD_ROLE):
 *
 * - `stratus`: Stratus with the object driver it is sent over IPC (`StratusJob`), so the parent
 *   can read this process's RSS from /proc and the client never shares its event loop. With
 *   OBJECTS_CPU_PROF set, `profile-start` / `profile-stop` messages record a V8 CPU profile
 *   of a phase (node:inspector) into that folder.
 * - `s3rver`: s3rver (test/support/s3rver.ts) on loopback, one bucket.
 * - `load`: one autocannon run (`ObjectLoadJob`) of object PUTs or GETs, then exit.
 *
 * Each answers its first message with a `ChildReady` (or `ObjectLoadResult`) and stops on `stop`.
 */
import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';
import autocannon from 'autocannon';
import type { RunningStratus } from '../server/app';
import { startStratus } from '../server/app';
import type { ObjectsConfig } from '../server/config';
import { startS3rver } from '../test/support/s3rver';
import { benchConfig } from './support';

export interface StratusJob {
  databaseUrl: string;
  objects: ObjectsConfig;
}

export interface ChildReady {
  url: string;
  /** The s3rver role's S3Config (endpoint, bucket, credentials). */
  s3?: Record<string, unknown>;
}

export type ChildCommand =
  | { type: 'stop' }
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

async function runStratus(job: StratusJob): Promise<void> {
  const stratus: RunningStratus = await startStratus(
    benchConfig(job.databaseUrl, { objects: job.objects }),
  );
  onCommands(() => stratus.stop());
  const ready: ChildReady = { url: stratus.url };
  process.send?.(ready);
}

async function runS3rver(): Promise<void> {
  const s3 = await startS3rver();
  onCommands(() => s3.stop());
  const ready: ChildReady = { url: s3.endpoint, s3: { ...s3.config } };
  process.send?.(ready);
}

async function runLoad(job: ObjectLoadJob): Promise<void> {
  let next = 0;
  const body = job.bodyBase64 ? Buffer.from(job.bodyBase64, 'base64') : undefined;
  const headers: Record<string, string> = { 'x-auth-token': job.token };
  if (body) {
    headers['content-type'] = 'application/octet-stream';
    headers['content-length'] = String(body.length);
  }
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

process.once('message', (job: StratusJob | ObjectLoadJob | { type: 'start' }) => {
  const run =
    role === 'stratus'
      ? runStratus(job as StratusJob)
      : role === 's3rver'
        ? runS3rver()
        : role === 'load'
          ? runLoad(job as ObjectLoadJob)
          : Promise.reject(new Error(`OBJECTS_CHILD_ROLE must be stratus, s3rver or load`));
  run.catch((error) => {
    console.error(error);
    process.exit(1);
  });
});
