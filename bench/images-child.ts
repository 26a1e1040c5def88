/**
 * Reference servers for bench/images.ts, not Stratus: a plain node:http server that takes a PUT
 * body the way Stratus's image upload does (resolvers/images/upload.ts and the filesystem
 * driver: hashes while streaming, one FileHandle.writev per chunk, fsync at the end), with no
 * express, token, database, metadata file or qemu-img. IMAGES_BARE_MODE picks how it hashes:
 *
 * - `inline`: MD5 and SHA-512 on the event loop, as Stratus does today;
 * - `worker`: MD5 and SHA-512 in one worker thread; each chunk is posted (copied) to it while
 *   the event loop goes on receiving and writing;
 * - `nohash`: no hashing at all (the floor of HTTP + write + fsync in Node on this machine).
 *
 * It answers 204 with Content-MD5 (base64) and X-Sha512 (hex) (none without hashing), so the parent checks that every
 * byte was hashed, deletes the file, and stops on `{ type: 'stop' }`. Started with `{ root }`,
 * it answers `{ url }`.
 */
import { createHash, randomUUID } from 'node:crypto';
import fsp from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';

export type BareMode = 'inline' | 'worker' | 'nohash';

export interface BareImageJob {
  root: string;
}

export interface BareImageReady {
  url: string;
}

/** The worker's code: `start`, then chunks, then `end` answers [md5 hex, sha512 hex]. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let md5;
let sha512;
parentPort.on('message', (m) => {
  if (m === 'start') {
    md5 = createHash('md5');
    sha512 = createHash('sha512');
  } else if (m === 'end') {
    parentPort.postMessage([md5.digest('hex'), sha512.digest('hex')]);
  } else {
    md5.update(m);
    sha512.update(m);
  }
});
`;

interface Hasher {
  update(chunk: Buffer): void;
  /** [md5 hex, sha512 hex], or empty strings when not hashing. */
  digest(): Promise<[string, string]>;
}

function inlineHasher(): Hasher {
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  return {
    update: (chunk) => {
      md5.update(chunk);
      sha512.update(chunk);
    },
    digest: async () => [md5.digest('hex'), sha512.digest('hex')],
  };
}

/** One worker, one upload at a time (the bench sends one at a time to these references). */
function workerHasher(worker: Worker): Hasher {
  worker.postMessage('start');
  return {
    update: (chunk) => worker.postMessage(chunk),
    digest: () =>
      new Promise((resolve) => {
        worker.once('message', (digests: [string, string]) => resolve(digests));
        worker.postMessage('end');
      }),
  };
}

const noHasher: Hasher = { update: () => {}, digest: async () => ['', ''] };

function serve(mode: BareMode, job: BareImageJob): Promise<http.Server> {
  const worker = mode === 'worker' ? new Worker(WORKER_SOURCE, { eval: true }) : null;
  const server = http.createServer((req, res) => {
    const handle = async () => {
      if (req.method !== 'PUT') {
        res.writeHead(405).end();
        return;
      }
      const file = path.join(job.root, randomUUID());
      const out = await fsp.open(file, 'wx', 0o600);
      const hasher = worker ? workerHasher(worker) : mode === 'inline' ? inlineHasher() : noHasher;
      try {
        await pipeline(
          req,
          new Writable({
            write(chunk: Buffer, _encoding, done) {
              hasher.update(chunk);
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
      const [md5, sha512] = await hasher.digest();
      await fsp.rm(file, { force: true });
      res
        .writeHead(
          204,
          mode === 'nohash'
            ? {}
            : { 'content-md5': Buffer.from(md5, 'hex').toString('base64'), 'x-sha512': sha512 },
        )
        .end();
    };
    handle().catch((error) => {
      console.error(error);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server));
    server.on('close', () => void worker?.terminate());
  });
}

const mode = process.env.IMAGES_BARE_MODE as BareMode;
process.once('message', (job: BareImageJob) => {
  if (!['inline', 'worker', 'nohash'].includes(mode)) {
    console.error('IMAGES_BARE_MODE must be inline, worker or nohash');
    process.exit(1);
  }
  serve(mode, job).then(
    (server) => {
      process.on('message', (command: { type: string }) => {
        if (command.type !== 'stop') return;
        server.closeAllConnections();
        server.close(() => process.exit(0));
      });
      const ready: BareImageReady = {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      };
      process.send?.(ready);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
});
