import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { S3Config } from '../../drivers/objects/s3';

/** The part of s3rver's (untyped, CommonJS) API these tests use. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const require = createRequire(import.meta.url);
const patched = Symbol.for('stratus.test.s3rverDes');

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node >= 17)
 * refuses, so every truncated listing fails with a 500. Tokens are opaque to clients: in this
 * process, DES becomes the identity, and s3rver's tokens are plain text. Nothing else uses DES.
 */
function letS3rverPageListings(): void {
  const crypto = require('node:crypto') as Record<string, unknown> & {
    [patched]?: true;
  };
  if (crypto[patched]) return;
  crypto[patched] = true;
  for (const name of ['createCipheriv', 'createDecipheriv']) {
    const original = crypto[name] as (algorithm: string, ...rest: unknown[]) => unknown;
    crypto[name] = (algorithm: string, ...rest: unknown[]) =>
      algorithm === 'des'
        ? {
            update: (data: string | Buffer, encoding?: BufferEncoding) =>
              typeof data === 'string' ? Buffer.from(data, encoding) : Buffer.from(data),
            final: () => Buffer.alloc(0),
          }
        : original(algorithm, ...rest);
  }
}

export const S3RVER_BUCKET = 'stratus-test';

/**
 * Starts s3rver in this process on 127.0.0.1 (a free port), keeping its data in a temporary
 * folder, with one bucket and no logging. `stop` closes it and removes the folder.
 */
export async function startS3rver(): Promise<{
  endpoint: string;
  config: S3Config;
  stop(): Promise<void>;
}> {
  letS3rverPageListings();
  const S3rver = require('s3rver') as S3rverClass;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: S3RVER_BUCKET }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    config: {
      endpoint,
      region: 'us-east-1',
      bucket: S3RVER_BUCKET,
      // s3rver's built-in account.
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      forcePathStyle: true,
    },
    async stop() {
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
