import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_PART_BYTES, md5FromEtag, partSizeFor, S3ObjectStore } from '../../drivers/objects/s3';
import { startS3rver } from '../support/s3rver';

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('md5FromEtag', () => {
  const hex = '9e107d9d372bb6826bd81d3542a419d6';
  it.each([
    ['a quoted single-part ETag', `"${hex}"`, undefined, hex],
    ['an unquoted one, upper case', hex.toUpperCase(), undefined, hex],
    ['a single-part ETag with SSE-S3', `"${hex}"`, 'AES256', hex],
    ['a multipart ETag', `"${hex}-3"`, undefined, null],
    ['an SSE-KMS ETag', `"${hex}"`, 'aws:kms', null],
    ['an SSE-KMS-DSSE ETag', `"${hex}"`, 'aws:kms:dsse', null],
    ['no ETag', undefined, undefined, null],
    ['a short ETag', '"abc"', undefined, null],
  ])('reads %s', (_, etag, sse, expected) => {
    expect(md5FromEtag(etag, sse)).toBe(expected);
  });
});

describe('partSizeFor', () => {
  it.each([
    [undefined, MIN_PART_BYTES],
    [0, MIN_PART_BYTES],
    [3 * 1024 ** 3, MIN_PART_BYTES],
    [100 * 1024 ** 3, Math.ceil((100 * 1024 ** 3) / 10_000)],
  ])('gives a body of %s bytes parts of %i bytes, at most 10 000 of them', (size, expected) => {
    expect(partSizeFor(size)).toBe(expected);
    if (size) expect(Math.ceil(size / partSizeFor(size))).toBeLessThanOrEqual(10_000);
  });
});

/** A store whose copies take the paths real S3 takes for multipart or huge sources. */
class ReadBackStore extends S3ObjectStore {
  protected override md5FromCopyEtag(): string | null {
    return null; // as for a multipart or SSE-KMS object
  }
}
class SmallCopyLimitStore extends S3ObjectStore {
  protected override readonly maxCopyObjectBytes = 1000;
}

describe('s3 object store against s3rver', () => {
  let s3rver: Awaited<ReturnType<typeof startS3rver>>;
  beforeAll(async () => {
    s3rver = await startS3rver();
  });
  afterAll(async () => {
    await s3rver?.stop();
  });

  it('copies with an MD5 read back from the copy when the ETag is not one', async () => {
    const store = new ReadBackStore(s3rver.config);
    const bytes = randomBytes(200_000);
    await store.write('rb-src', Readable.from([bytes]), { metadata: { m: '1' } });
    expect(await store.copy('rb-src', 'rb-dst')).toEqual({
      sizeBytes: bytes.length,
      md5Hex: md5(bytes),
    });
    expect(await store.stat('rb-dst')).toEqual({ sizeBytes: bytes.length, metadata: { m: '1' } });
  });

  it('copies a source over the CopyObject limit through Stratus, bytes and metadata', async () => {
    const store = new SmallCopyLimitStore(s3rver.config);
    const bytes = randomBytes(50_000);
    await store.write('big-src', Readable.from([bytes]), { metadata: { m: '2' } });
    expect(await store.copy('big-src', 'big-dst')).toEqual({
      sizeBytes: bytes.length,
      md5Hex: md5(bytes),
    });
    expect((await readAll(await store.read('big-dst'))).equals(bytes)).toBe(true);
    expect(await store.stat('big-dst')).toEqual({ sizeBytes: bytes.length, metadata: { m: '2' } });
  });

  it('lists neither reserved .tmp/ keys nor foreign keys that are not shaped like keys', async () => {
    const store = new S3ObjectStore(s3rver.config);
    await store.write('foreign-test/ok', Readable.from([Buffer.from('x')]));
    const client = new S3Client({
      region: s3rver.config.region,
      endpoint: s3rver.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    for (const Key of ['.tmp/left-over', 'foreign-test/with space', 'foreign-test/../x']) {
      await client.send(
        new PutObjectCommand({ Bucket: s3rver.config.bucket, Key, Body: 'x', ContentLength: 1 }),
      );
    }
    client.destroy();
    const keys: string[] = [];
    for await (const key of store.list()) keys.push(key);
    expect(keys.filter((k) => k.startsWith('foreign-test') || k.startsWith('.'))).toEqual([
      'foreign-test/ok',
    ]);
  });

  it('pages through listings longer than one ListObjectsV2 page', async () => {
    const store = new S3ObjectStore(s3rver.config);
    const written: string[] = [];
    for (let i = 0; i < 1005; i++) written.push(`paged/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < written.length; i += 50) {
      await Promise.all(
        written.slice(i, i + 50).map((key) => store.write(key, Readable.from([Buffer.from('x')]))),
      );
    }
    const keys: string[] = [];
    for await (const key of store.list('paged/')) keys.push(key);
    expect(keys.sort()).toEqual(written);
  });
});
