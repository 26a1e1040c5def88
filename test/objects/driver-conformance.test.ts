import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChecksumMismatchError,
  InvalidKeyError,
  InvalidMetadataError,
  InvalidRangeError,
  InvalidWriteOptionError,
  ObjectNotFoundError,
  SizeMismatchError,
  TooLargeError,
} from '../../drivers/objects/errors';
import { FilesystemObjectStore } from '../../drivers/objects/filesystem';
import { S3ObjectStore } from '../../drivers/objects/s3';
import type { ObjectStore } from '../../drivers/objects/types';
import { startS3rver } from '../support/s3rver';

const MiB = 1024 * 1024;

interface StoreUnderTest {
  store: ObjectStore;
  /** Temporaries left behind: files in `.tmp/` (filesystem), keys under `.tmp/` (S3). */
  leftovers(): Promise<string[]>;
  /** Everything the store's backend holds, to prove an operation touched nothing. */
  snapshot(): Promise<string[]>;
  stop(): Promise<void>;
}

interface BackendTraits {
  /**
   * The backend replaces an object atomically, so a reader that started before an overwrite
   * finishes reading the old bytes and concurrent writers do not mix. Null when it does not,
   * with the reason.
   */
  replacesAtomically: true | string;
}

/** V8's full garbage collection, as jest's leak detector reaches it. */
function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

/** `bytes` as a stream of `chunkBytes` pieces. */
function bodyOf(bytes: Buffer, chunkBytes = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < bytes.length; i += chunkBytes) yield bytes.subarray(i, i + chunkBytes);
    })(),
  );
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of iterable) keys.push(key);
  return keys.sort();
}

/** A body that sends 1 MiB and then fails, like a client that goes away mid-upload. */
function failingBody(): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (sent) {
        this.destroy(new Error('client went away'));
      } else {
        sent = true;
        this.push(randomBytes(MiB));
      }
    },
  });
}

/** A body whose chunks the test releases one at a time. */
function controlledBody() {
  const body = new Readable({ read() {} });
  return {
    body,
    push: (bytes: Buffer) => body.push(bytes),
    end: () => body.push(null),
  };
}

/** Resolves once `predicate` holds, polling; fails the test after 10 s. */
async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !predicate(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(predicate()).toBe(true);
}

/**
 * The contract of types.ts, run against every implementation of the `objects` kind. Each test
 * uses keys of its own, so the order of tests does not matter.
 */
function describeObjectStore(
  name: string,
  factory: () => Promise<StoreUnderTest>,
  traits: BackendTraits,
) {
  describe(`${name} object store`, () => {
    let t: StoreUnderTest;
    let store: ObjectStore;

    beforeAll(async () => {
      t = await factory();
      store = t.store;
      await store.probe();
    });
    afterAll(async () => {
      await t?.stop();
    });

    async function expectNothingUnder(key: string) {
      expect(await store.stat(key)).toBeNull();
      await expect(store.read(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await t.leftovers()).toEqual([]);
    }

    async function expectObject(key: string, bytes: Buffer) {
      const back = await readAll(await store.read(key));
      expect(back.length).toBe(bytes.length);
      expect(md5(back)).toBe(md5(bytes));
    }

    it('writes a 3 MiB body and reads back identical bytes, with the MD5 node computes', async () => {
      const key = randomUUID();
      const bytes = randomBytes(3 * MiB);
      const written = await store.write(key, bodyOf(bytes));
      expect(written).toEqual({ sizeBytes: bytes.length, md5Hex: md5(bytes) });
      const back = await readAll(await store.read(key));
      expect(back.equals(bytes)).toBe(true);
      expect(await t.leftovers()).toEqual([]);
    });

    it('accepts any async iterable of bytes as a body', async () => {
      const key = `${randomUUID()}/part-00001`;
      const parts = [randomBytes(1000), randomBytes(70_000), new Uint8Array([1, 2, 3])];
      const written = await store.write(
        key,
        (async function* () {
          yield* parts;
        })(),
      );
      const all = Buffer.concat(parts);
      expect(written).toEqual({ sizeBytes: all.length, md5Hex: md5(all) });
      expect((await readAll(await store.read(key))).equals(all)).toBe(true);
    });

    it('stores an empty body as a zero-byte object', async () => {
      const key = randomUUID();
      const written = await store.write(key, bodyOf(Buffer.alloc(0)));
      expect(written).toEqual({ sizeBytes: 0, md5Hex: 'd41d8cd98f00b204e9800998ecf8427e' });
      expect(await store.stat(key)).toEqual({ sizeBytes: 0, metadata: {} });
      expect((await readAll(await store.read(key))).length).toBe(0);
    });

    it('reads exactly the requested inclusive byte range', async () => {
      const key = randomUUID();
      const bytes = randomBytes(3 * MiB);
      await store.write(key, bodyOf(bytes));
      const slice = await readAll(await store.read(key, { start: 1000, end: 2 * MiB + 17 }));
      expect(slice.equals(bytes.subarray(1000, 2 * MiB + 18))).toBe(true);
      const oneByte = await readAll(await store.read(key, { start: 12345, end: 12345 }));
      expect([...oneByte]).toEqual([bytes[12345]]);
      const lastBytes = await readAll(
        await store.read(key, { start: bytes.length - 10, end: bytes.length - 1 }),
      );
      expect(lastBytes.equals(bytes.subarray(bytes.length - 10))).toBe(true);
    });

    it('clamps a range that ends past the object and refuses one that starts past it', async () => {
      const key = randomUUID();
      const bytes = randomBytes(5000);
      await store.write(key, bodyOf(bytes));
      const tail = await readAll(await store.read(key, { start: 4990, end: 1_000_000 }));
      expect(tail.equals(bytes.subarray(4990))).toBe(true);
      await expect(store.read(key, { start: 5000, end: 6000 })).rejects.toBeInstanceOf(
        InvalidRangeError,
      );
      await expect(store.read(key, { start: 10, end: 9 })).rejects.toBeInstanceOf(
        InvalidRangeError,
      );
      await expect(store.read(key, { start: -1, end: 9 })).rejects.toBeInstanceOf(
        InvalidRangeError,
      );
    });

    it('stats size and metadata, and null for a missing key', async () => {
      const key = randomUUID();
      const metadata = { 'content-type': 'image/png', 'x-origin': 'glance import 42' };
      await store.write(key, bodyOf(randomBytes(4321)), { metadata });
      expect(await store.stat(key)).toEqual({ sizeBytes: 4321, metadata });
      expect(await store.stat(randomUUID())).toBeNull();
    });

    it('replaces an object on overwrite, bytes and metadata together', async () => {
      const key = randomUUID();
      await store.write(key, bodyOf(randomBytes(2 * MiB)), { metadata: { first: 'yes' } });
      const second = randomBytes(MiB + 3);
      const written = await store.write(key, bodyOf(second), { metadata: { second: 'yes' } });
      expect(written.md5Hex).toBe(md5(second));
      await expectObject(key, second);
      expect(await store.stat(key)).toEqual({
        sizeBytes: second.length,
        metadata: { second: 'yes' },
      });
    });

    it('keeps a write in progress invisible: readers see the previous object until it ends', async () => {
      const key = randomUUID();
      const before = randomBytes(100_000);
      await store.write(key, bodyOf(before), { metadata: { version: '1' } });
      const { body, push, end } = controlledBody();
      const after = randomBytes(3 * MiB);
      let pulled = 0;
      body.on('data', (chunk: Buffer) => {
        pulled += chunk.length;
      });
      body.pause();
      const writing = store.write(key, body, { metadata: { version: '2' } });
      push(after.subarray(0, 2 * MiB));
      await until(() => pulled >= 2 * MiB);
      expect(await store.stat(key)).toEqual({
        sizeBytes: before.length,
        metadata: { version: '1' },
      });
      await expectObject(key, before);
      push(after.subarray(2 * MiB));
      end();
      await writing;
      await expectObject(key, after);
      expect((await store.stat(key))?.metadata).toEqual({ version: '2' });
    });

    it.runIf(traits.replacesAtomically === true)(
      `lets a reader that started before an overwrite finish with the old bytes${
        traits.replacesAtomically === true ? '' : ` (skipped: ${traits.replacesAtomically})`
      }`,
      async () => {
        const key = randomUUID();
        const before = randomBytes(4 * MiB);
        await store.write(key, bodyOf(before));
        const reading = await store.read(key);
        await store.write(key, bodyOf(randomBytes(4 * MiB)));
        expect(md5(await readAll(reading))).toBe(md5(before));
      },
    );

    it.runIf(traits.replacesAtomically === true)(
      `ends concurrent writes of one key with one whole write, its bytes with its metadata${
        traits.replacesAtomically === true ? '' : ` (skipped: ${traits.replacesAtomically})`
      }`,
      async () => {
        const key = randomUUID();
        const bodies = Array.from({ length: 6 }, () => randomBytes(300_000));
        await Promise.all(
          bodies.map((bytes, i) =>
            store.write(key, bodyOf(bytes, 16 * 1024), { metadata: { writer: String(i) } }),
          ),
        );
        const stat = await store.stat(key);
        const winner = Number(stat?.metadata.writer);
        expect(winner).toBeGreaterThanOrEqual(0);
        await expectObject(key, bodies[winner]);
        expect(await t.leftovers()).toEqual([]);
      },
    );

    it('refuses a body with the wrong MD5 and keeps the previous object, leaving no temporaries', async () => {
      const key = randomUUID();
      const previous = randomBytes(MiB);
      await store.write(key, bodyOf(previous), { metadata: { keep: 'me' } });
      const bytes = randomBytes(3 * MiB);
      const wrong = md5(randomBytes(16));
      const failure = store.write(key, bodyOf(bytes), { expectedMd5Hex: wrong });
      await expect(failure).rejects.toBeInstanceOf(ChecksumMismatchError);
      await expect(failure).rejects.toMatchObject({ expected: wrong, actual: md5(bytes) });
      await expectObject(key, previous);
      expect(await store.stat(key)).toEqual({
        sizeBytes: previous.length,
        metadata: { keep: 'me' },
      });
      expect(await t.leftovers()).toEqual([]);
    });

    it('refuses a wrong MD5 on a body of several S3 parts (12 MiB) and keeps the previous object', async () => {
      const key = randomUUID();
      const previous = randomBytes(1000);
      await store.write(key, bodyOf(previous));
      const bytes = randomBytes(12 * MiB);
      await expect(
        store.write(key, bodyOf(bytes, MiB), { expectedMd5Hex: md5(previous) }),
      ).rejects.toBeInstanceOf(ChecksumMismatchError);
      await expectObject(key, previous);
      expect(await t.leftovers()).toEqual([]);
    });

    it('accepts the right MD5 in either case', async () => {
      const key = randomUUID();
      const bytes = randomBytes(10_000);
      const written = await store.write(key, bodyOf(bytes), {
        expectedMd5Hex: md5(bytes).toUpperCase(),
        expectedSizeBytes: bytes.length,
      });
      expect(written.md5Hex).toBe(md5(bytes));
    });

    it.each([
      ['shorter', 3 * MiB - 1, false],
      ['longer', 3 * MiB + 1, true],
    ])('refuses a body %s than expectedSizeBytes and stores nothing', async (_, size, atLeast) => {
      const key = randomUUID();
      const expected = 3 * MiB;
      const failure = store.write(key, bodyOf(randomBytes(size)), { expectedSizeBytes: expected });
      await expect(failure).rejects.toBeInstanceOf(SizeMismatchError);
      // A longer body is stopped at the chunk that passes the size, here the last byte.
      await expect(failure).rejects.toMatchObject({ expected, actual: size, atLeast });
      await expectNothingUnder(key);
    });

    it('refuses a body over maxBytes and stores nothing, but takes one of exactly maxBytes', async () => {
      const key = randomUUID();
      const failure = store.write(key, bodyOf(randomBytes(2 * MiB + 1)), { maxBytes: 2 * MiB });
      await expect(failure).rejects.toBeInstanceOf(TooLargeError);
      await expect(failure).rejects.toMatchObject({ limit: 2 * MiB });
      await expectNothingUnder(key);
      const exact = randomBytes(2 * MiB);
      expect((await store.write(key, bodyOf(exact), { maxBytes: 2 * MiB })).sizeBytes).toBe(
        2 * MiB,
      );
    });

    it('stops reading a body as soon as it passes maxBytes', async () => {
      const key = randomUUID();
      let produced = 0;
      const endless = (async function* () {
        for (;;) {
          produced += MiB;
          yield Buffer.alloc(MiB);
        }
      })();
      await expect(store.write(key, endless, { maxBytes: 3 * MiB })).rejects.toBeInstanceOf(
        TooLargeError,
      );
      expect(produced).toBeLessThan(20 * MiB);
      await expectNothingUnder(key);
    });

    it('rejects when the body stream fails midway, storing nothing and leaving no temporaries', async () => {
      const key = randomUUID();
      await expect(store.write(key, failingBody())).rejects.toThrow('client went away');
      await expectNothingUnder(key);
    });

    it('rejects when the body stream is destroyed midway without an error, storing nothing', async () => {
      const key = randomUUID();
      const body = new Readable({ read() {} });
      const writing = store.write(key, body);
      body.push(randomBytes(MiB));
      setTimeout(() => body.destroy(), 20);
      await expect(writing).rejects.toThrow();
      await expectNothingUnder(key);
    });

    it('keeps the previous object when an overwrite body fails midway', async () => {
      const key = randomUUID();
      const previous = randomBytes(50_000);
      await store.write(key, bodyOf(previous));
      await expect(store.write(key, failingBody())).rejects.toThrow('client went away');
      await expectObject(key, previous);
      expect(await t.leftovers()).toEqual([]);
    });

    it('refuses malformed write options and metadata before reading the body', async () => {
      const key = randomUUID();
      const cases: [object, new (...args: never[]) => Error][] = [
        [{ maxBytes: -1 }, InvalidWriteOptionError],
        [{ expectedSizeBytes: 1.5 }, InvalidWriteOptionError],
        [{ expectedMd5Hex: 'not-hex' }, InvalidWriteOptionError],
        [{ colour: 'blue' }, InvalidWriteOptionError],
        [{ metadata: { 'Upper-Case': 'x' } }, InvalidMetadataError],
        [{ metadata: { under_score: 'x' } }, InvalidMetadataError],
        [{ metadata: { name: 'caf\u00e9' } }, InvalidMetadataError],
        [{ metadata: { name: ' padded' } }, InvalidMetadataError],
        [{ metadata: { big: 'x'.repeat(2100) } }, InvalidMetadataError],
        [{ maxBytes: 10, expectedSizeBytes: 11 }, TooLargeError],
      ];
      for (const [options, error] of cases) {
        let touched = false;
        const body = new Readable({
          read() {
            touched = true;
            this.push(null);
          },
        });
        await expect(
          store.write(key, body, options as never),
          JSON.stringify(options),
        ).rejects.toBeInstanceOf(error);
        expect(touched, JSON.stringify(options)).toBe(false);
      }
      await expectNothingUnder(key);
    });

    it('throws ObjectNotFoundError reading a missing key', async () => {
      const key = randomUUID();
      await expect(store.read(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(store.read(key, { start: 0, end: 10 })).rejects.toBeInstanceOf(
        ObjectNotFoundError,
      );
      await expect(store.read(key)).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND', key });
    });

    it('deletes idempotently', async () => {
      const key = `${randomUUID()}/part-00001`;
      await store.delete(key);
      await store.write(key, bodyOf(randomBytes(1000)), { metadata: { a: 'b' } });
      await store.delete(key);
      await store.delete(key);
      await expectNothingUnder(key);
      expect(await collect(store.list(key))).toEqual([]);
    });

    it('copies bytes and metadata to a new key, returning size and MD5', async () => {
      const from = randomUUID();
      const to = `${randomUUID()}/copy`;
      const bytes = randomBytes(3 * MiB);
      const metadata = { 'content-type': 'application/x-qcow2' };
      await store.write(from, bodyOf(bytes), { metadata });
      expect(await store.copy(from, to)).toEqual({ sizeBytes: bytes.length, md5Hex: md5(bytes) });
      await expectObject(to, bytes);
      expect(await store.stat(to)).toEqual({ sizeBytes: bytes.length, metadata });
      await expectObject(from, bytes);
      expect(await t.leftovers()).toEqual([]);
    });

    it('keeps a copy whole when its source is overwritten or deleted', async () => {
      const from = randomUUID();
      const to = randomUUID();
      const bytes = randomBytes(MiB);
      await store.write(from, bodyOf(bytes), { metadata: { v: '1' } });
      await store.copy(from, to);
      await store.write(from, bodyOf(randomBytes(MiB)), { metadata: { v: '2' } });
      await expectObject(to, bytes);
      await store.delete(from);
      await expectObject(to, bytes);
      expect(await store.stat(to)).toEqual({ sizeBytes: bytes.length, metadata: { v: '1' } });
    });

    it('copies an object onto itself and onto an existing key', async () => {
      const a = randomUUID();
      const b = randomUUID();
      const bytes = randomBytes(20_000);
      await store.write(a, bodyOf(bytes), { metadata: { which: 'a' } });
      await store.write(b, bodyOf(randomBytes(10)), { metadata: { which: 'b' } });
      expect(await store.copy(a, a)).toEqual({ sizeBytes: bytes.length, md5Hex: md5(bytes) });
      await expectObject(a, bytes);
      await store.copy(a, b);
      await expectObject(b, bytes);
      expect((await store.stat(b))?.metadata).toEqual({ which: 'a' });
    });

    it('throws ObjectNotFoundError copying a missing key, creating nothing', async () => {
      const to = randomUUID();
      await expect(store.copy(randomUUID(), to)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expectNothingUnder(to);
    });

    it('lists exactly the keys under a prefix', async () => {
      const base = randomUUID();
      const p = `${base}/`;
      const keys = [`${p}a`, `${p}b`, `${p}b/c`, `${p}b/d/e`, `${base}x`];
      for (const key of keys) await store.write(key, bodyOf(randomBytes(10)));
      expect(await collect(store.list(p))).toEqual([`${p}a`, `${p}b`, `${p}b/c`, `${p}b/d/e`]);
      expect(await collect(store.list(`${p}b`))).toEqual([`${p}b`, `${p}b/c`, `${p}b/d/e`]);
      expect(await collect(store.list(`${p}b/`))).toEqual([`${p}b/c`, `${p}b/d/e`]);
      expect(await collect(store.list(base))).toEqual([...keys].sort());
      expect(await collect(store.list(`${p}zzz`))).toEqual([]);
      const all = await collect(store.list());
      for (const key of keys) expect(all).toContain(key);
      expect(all.some((key) => key.startsWith('.'))).toBe(false);
      await store.delete(`${p}b/c`);
      expect(await collect(store.list(`${p}b/`))).toEqual([`${p}b/d/e`]);
    });

    const badKeys: [string, string][] = [
      ['empty', ''],
      ['parent segment', '../escape'],
      ['parent segment inside', 'a/../../escape'],
      ['leading slash', '/etc/passwd'],
      ['trailing slash', 'a/'],
      ['doubled slash', 'a//b'],
      ['NUL byte', 'a\u0000b'],
      ['reserved .tmp', '.tmp/x'],
      ['dot segment', 'a/./b'],
      ['space', 'a b'],
      ['non-ASCII', 'caf\u00e9'],
      ['backslash', '..\\escape'],
      ['201 characters', 'k'.repeat(201)],
    ];

    it.each(badKeys)(
      'refuses a key with %s in every method without touching the store',
      async (_, key) => {
        const before = await t.snapshot();
        const good = randomUUID();
        let touched = false;
        const body = new Readable({
          read() {
            touched = true;
            this.push(null);
          },
        });
        await expect(store.write(key, body)).rejects.toBeInstanceOf(InvalidKeyError);
        expect(touched).toBe(false);
        await expect(store.read(key)).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(store.stat(key)).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(store.delete(key)).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(store.copy(key, good)).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(store.copy(good, key)).rejects.toBeInstanceOf(InvalidKeyError);
        expect(await t.snapshot()).toEqual(before);
      },
    );

    it('accepts a key of exactly 200 characters', async () => {
      const key = `${randomUUID()}/${'k'.repeat(163)}`;
      expect(key.length).toBe(200);
      await store.write(key, bodyOf(Buffer.from('x')));
      expect(await collect(store.list(key))).toEqual([key]);
    });

    it.each([['../'], ['.tmp/'], ['/a'], ['a//']])('refuses the list prefix %j', async (prefix) => {
      expect(() => store.list(prefix)).toThrow(InvalidKeyError);
    });

    it('streams a 64 MiB write and its read back in bounded memory', async () => {
      const key = randomUUID();
      const chunk = randomBytes(256 * 1024);
      const total = 64 * MiB;
      const expected = createHash('md5');
      // Warm up (module loading, connection pools) with a body of more than one S3 part.
      await store.write(`${key}-warmup`, bodyOf(randomBytes(6 * MiB)));
      await store.delete(`${key}-warmup`);
      // RSS after a full GC every 4 MiB: memory the store holds, not garbage V8 has yet to
      // collect (which depends on V8's heuristics, not on whether the store streams).
      const gc = collectGarbage();
      gc();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sample = (offset: number) => {
        if (offset % (4 * MiB) !== 0) return;
        gc();
        peak = Math.max(peak, process.memoryUsage().rss);
      };
      const body = (async function* () {
        for (let sent = 0; sent < total; sent += chunk.length) {
          // Vary the bytes so a store that deduplicated or compressed could not cheat.
          chunk.writeUInt32BE(sent, 0);
          const piece = Buffer.from(chunk);
          expected.update(piece);
          sample(sent);
          yield piece;
        }
      })();
      const written = await store.write(key, body, { expectedSizeBytes: total });
      const md5Hex = expected.digest('hex');
      expect(written).toEqual({ sizeBytes: total, md5Hex });
      const readBack = createHash('md5');
      let size = 0;
      for await (const piece of await store.read(key)) {
        readBack.update(piece as Buffer);
        const before = size;
        size += (piece as Buffer).length;
        if (Math.floor(before / (4 * MiB)) !== Math.floor(size / (4 * MiB))) sample(0);
      }
      expect(size).toBe(total);
      expect(readBack.digest('hex')).toBe(md5Hex);
      expect(peak - baseline).toBeLessThan(48 * MiB);
      await store.delete(key);
    });
  });
}

describeObjectStore(
  'filesystem',
  async () => {
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-objects-'));
    const root = path.join(base, 'store');
    const walk = async (dir: string): Promise<string[]> => {
      const entries = await fs.readdir(dir, { recursive: true });
      return entries.sort();
    };
    return {
      store: new FilesystemObjectStore({ root }),
      leftovers: () => fs.readdir(path.join(root, '.tmp')),
      // The parent of the root too: a key that escaped would land there.
      snapshot: () => walk(base),
      stop: () => fs.rm(base, { recursive: true, force: true }),
    };
  },
  { replacesAtomically: true },
);

describeObjectStore(
  's3',
  async () => {
    const s3rver = await startS3rver();
    const client = new S3Client({
      region: s3rver.config.region,
      endpoint: s3rver.endpoint,
      forcePathStyle: true,
      credentials: {
        accessKeyId: s3rver.config.accessKeyId,
        secretAccessKey: s3rver.config.secretAccessKey,
      },
    });
    const rawKeys = async (prefix?: string) => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: s3rver.config.bucket,
            Prefix: prefix,
            ContinuationToken: token,
          }),
        );
        for (const o of page.Contents ?? []) keys.push(o.Key!);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    };
    return {
      store: new S3ObjectStore(s3rver.config),
      leftovers: () => rawKeys('.tmp/'),
      snapshot: () => rawKeys(),
      async stop() {
        client.destroy();
        await s3rver.stop();
      },
    };
  },
  {
    replacesAtomically:
      's3rver rewrites an object file in place; S3 itself replaces objects atomically',
  },
);
