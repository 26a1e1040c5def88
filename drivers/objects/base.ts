import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { NotSupportedError } from '../errors';
import {
  ChecksumMismatchError,
  InvalidKeyError,
  InvalidMetadataError,
  InvalidRangeError,
  InvalidWriteOptionError,
  ObjectNotFoundError,
  SizeMismatchError,
  TooLargeError,
} from './errors';
import type {
  ByteRange,
  ObjectStat,
  ObjectStore,
  ObjectStoreInfo,
  WriteOptions,
  WriteResult,
} from './types';

export const MAX_KEY_LENGTH = 200;
const KEY_CHARS = /^[A-Za-z0-9._/-]*$/;

/**
 * Throws `InvalidKeyError` unless `key` has the shape of types.ts: `[A-Za-z0-9._/-]`, at most
 * 200 characters, `/`-separated segments that are neither empty nor start with `.`.
 * WARNING: every store method calls this before touching the store; it is what keeps a key
 * from escaping the filesystem root or reaching reserved names (`.tmp/`).
 */
export function validateKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') {
    throw new InvalidKeyError(String(key), `must be a string, got ${typeof key}`);
  }
  if (key.length === 0) throw new InvalidKeyError(key, 'is empty');
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(key, `is ${key.length} characters, at most ${MAX_KEY_LENGTH}`);
  }
  if (!KEY_CHARS.test(key)) {
    const bad = [...key].find((c) => !KEY_CHARS.test(c));
    throw new InvalidKeyError(
      key,
      `contains ${JSON.stringify(bad)}; only A-Z a-z 0-9 . _ / - are allowed`,
    );
  }
  for (const segment of key.split('/')) {
    if (segment === '') {
      throw new InvalidKeyError(key, 'has an empty segment (a leading, trailing or doubled "/")');
    }
    if (segment.startsWith('.')) {
      throw new InvalidKeyError(
        key,
        `has the segment ${JSON.stringify(segment)}; segments must not start with "."`,
      );
    }
  }
}

/**
 * Throws `InvalidKeyError` unless `prefix` is empty or could begin a valid key (`abc`, `abc/`,
 * `abc/par`); a prefix no key can have (`../`, `.tmp/`) is refused rather than matching nothing.
 */
export function validateListPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string') {
    throw new InvalidKeyError(String(prefix), `list prefix must be a string, got ${typeof prefix}`);
  }
  if (prefix === '') return;
  // Some key starts with `a/b` (itself) or `a/` (`a/x`) exactly when `a/b` or `a` is a key.
  validateKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
}

const METADATA_KEY = /^[a-z0-9][a-z0-9-]{0,127}$/;
const METADATA_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;
export const MAX_METADATA_BYTES = 2048;

/**
 * Throws `InvalidMetadataError` unless `metadata` follows types.ts: lowercase `[a-z0-9-]`
 * names (at most 128), printable ASCII values without leading/trailing spaces, 2 KiB in all.
 * These are the rules S3 user metadata survives unchanged, so both stores agree.
 */
export function validateMetadata(metadata: unknown): asserts metadata is Record<string, string> {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new InvalidMetadataError(null, 'must be an object of string values');
  }
  let total = 0;
  for (const [name, value] of Object.entries(metadata)) {
    if (!METADATA_KEY.test(name)) {
      throw new InvalidMetadataError(
        name,
        'must be 1-128 characters of lowercase a-z, 0-9 and "-", starting with a letter or digit',
      );
    }
    if (typeof value !== 'string') {
      throw new InvalidMetadataError(name, `must have a string value, got ${typeof value}`);
    }
    if (!METADATA_VALUE.test(value)) {
      throw new InvalidMetadataError(
        name,
        'must have a printable ASCII value without leading or trailing spaces (percent-encode other text)',
      );
    }
    total += name.length + value.length;
  }
  if (total > MAX_METADATA_BYTES) {
    throw new InvalidMetadataError(
      null,
      `names and values total ${total} bytes, at most ${MAX_METADATA_BYTES}`,
    );
  }
}

function isByteCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Checks write options (sizes are non-negative integers, the MD5 is 32 hex digits, metadata per
 * `validateMetadata`) and returns them normalised (MD5 lowercase). A body that is expected to
 * be larger than `maxBytes` fails here with `TooLargeError`, before anything is read.
 */
export function validateWriteOptions(options: unknown): WriteOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) {
    throw new InvalidWriteOptionError('options', 'must be an object');
  }
  const { maxBytes, expectedMd5Hex, expectedSizeBytes, metadata, ...rest } =
    options as WriteOptions;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new InvalidWriteOptionError(unknown[0], 'is not a write option');
  if (maxBytes !== undefined && !isByteCount(maxBytes)) {
    throw new InvalidWriteOptionError(
      'maxBytes',
      `must be a non-negative integer, got ${maxBytes}`,
    );
  }
  if (expectedSizeBytes !== undefined && !isByteCount(expectedSizeBytes)) {
    throw new InvalidWriteOptionError(
      'expectedSizeBytes',
      `must be a non-negative integer, got ${expectedSizeBytes}`,
    );
  }
  if (expectedMd5Hex !== undefined && !/^[0-9a-fA-F]{32}$/.test(String(expectedMd5Hex))) {
    throw new InvalidWriteOptionError(
      'expectedMd5Hex',
      `must be 32 hexadecimal digits, got ${JSON.stringify(expectedMd5Hex)}`,
    );
  }
  if (metadata !== undefined) validateMetadata(metadata);
  if (maxBytes !== undefined && expectedSizeBytes !== undefined && expectedSizeBytes > maxBytes) {
    throw new TooLargeError(maxBytes);
  }
  return {
    maxBytes,
    expectedSizeBytes,
    expectedMd5Hex: expectedMd5Hex?.toLowerCase(),
    metadata: metadata ?? {},
  };
}

/** Throws `InvalidRangeError` unless `range` is `{ start, end }` integers with 0 ≤ start ≤ end. */
export function validateRange(key: string, range: unknown): asserts range is ByteRange {
  const { start, end } = (range ?? {}) as Partial<ByteRange>;
  if (!isByteCount(start) || !isByteCount(end)) {
    throw new InvalidRangeError(
      key,
      { start: Number(start), end: Number(end) },
      'start and end must be non-negative integers',
    );
  }
  if (end < start) throw new InvalidRangeError(key, { start, end }, 'end is before start');
}

/**
 * Clamps an inclusive range to an object of `sizeBytes` (an end past the last byte reads to the
 * end, as HTTP does); throws `InvalidRangeError` when the range starts at or past the end.
 */
export function clampRange(key: string, range: ByteRange, sizeBytes: number): ByteRange {
  if (range.start >= sizeBytes) {
    throw new InvalidRangeError(key, range, `the object is ${sizeBytes} bytes`);
  }
  return { start: range.start, end: Math.min(range.end, sizeBytes - 1) };
}

/** Turns any accepted body into a Node Readable (streams pass through unchanged). */
export function toReadable(body: NodeJS.ReadableStream | AsyncIterable<Uint8Array>): Readable {
  return body instanceof Readable ? body : Readable.from(body, { objectMode: false });
}

/**
 * A pass-through stream that counts bytes and computes their MD5, and fails the stream as soon
 * as the body breaks a write's limits: past `maxBytes` (`TooLargeError`) or past
 * `expectedSizeBytes` (`SizeMismatchError`) while streaming; short of `expectedSizeBytes` or a
 * different `expectedMd5Hex` at the end, in flush.
 * WARNING: a failed check fails the flush, so the stream never ends cleanly; every store
 * commits an object only after this stream has ended, which is what keeps a bad body invisible.
 */
export class DigestStream extends Transform {
  private readonly hash = createHash('md5');
  private bytes = 0;
  private outcome: WriteResult | null = null;
  /** The first error the stream failed with (its own check or its source's), if any. */
  failure: Error | null = null;

  constructor(private readonly limits: WriteOptions = {}) {
    super();
    this.once('error', (err) => {
      this.failure ??= err;
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    const { maxBytes, expectedSizeBytes } = this.limits;
    if (maxBytes !== undefined && this.bytes > maxBytes) {
      done(this.fail(new TooLargeError(maxBytes)));
      return;
    }
    if (expectedSizeBytes !== undefined && this.bytes > expectedSizeBytes) {
      done(this.fail(new SizeMismatchError(expectedSizeBytes, this.bytes, true)));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const { expectedSizeBytes, expectedMd5Hex } = this.limits;
    if (expectedSizeBytes !== undefined && this.bytes !== expectedSizeBytes) {
      done(this.fail(new SizeMismatchError(expectedSizeBytes, this.bytes)));
      return;
    }
    const md5Hex = this.hash.digest('hex');
    if (expectedMd5Hex !== undefined && md5Hex !== expectedMd5Hex.toLowerCase()) {
      done(this.fail(new ChecksumMismatchError(expectedMd5Hex.toLowerCase(), md5Hex)));
      return;
    }
    this.outcome = { sizeBytes: this.bytes, md5Hex };
    done();
  }

  /** Size and MD5 of the whole body; throws unless the body was read to its end and passed. */
  get result(): WriteResult {
    if (!this.outcome) throw this.failure ?? new Error('the body was not read to its end');
    return this.outcome;
  }

  private fail(err: Error): Error {
    this.failure ??= err;
    return err;
  }
}

/**
 * The class every object store extends: it validates keys, ranges and options before the
 * implementation sees them (so a bad key never reaches the disk or the network), and answers
 * optional operations the implementation's `info()` does not claim with `NotSupportedError`.
 */
export abstract class BaseObjectStore implements ObjectStore {
  /** Which implementation this is and its capabilities. */
  abstract info(): ObjectStoreInfo;
  /** Checks the store is usable; throws `DriverUnavailableError` with the reason. */
  abstract probe(): Promise<void>;

  /** Streams `body` to `key` atomically, checking `options`; see `ObjectStore.write`. */
  async write(
    key: string,
    body: NodeJS.ReadableStream | AsyncIterable<Uint8Array>,
    options?: WriteOptions,
  ): Promise<WriteResult> {
    validateKey(key);
    const checked = validateWriteOptions(options);
    return this.writeObject(key, toReadable(body), checked);
  }

  /** Streams the object's bytes, or the inclusive `range` of them; see `ObjectStore.read`. */
  async read(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream> {
    validateKey(key);
    if (range !== undefined) {
      validateRange(key, range);
      if (!this.info().capabilities.rangeReads) {
        throw new NotSupportedError(this.info().name, 'range reads');
      }
    }
    return this.readObject(key, range);
  }

  /** Size and metadata of the object under `key`, or null when there is none. */
  async stat(key: string): Promise<ObjectStat | null> {
    validateKey(key);
    return this.statObject(key);
  }

  /** Removes the object under `key`; succeeds when there is none. */
  async delete(key: string): Promise<void> {
    validateKey(key);
    return this.deleteObject(key);
  }

  /** Duplicates bytes and metadata of `fromKey` under `toKey`; throws `ObjectNotFoundError`. */
  async copy(fromKey: string, toKey: string): Promise<WriteResult> {
    validateKey(fromKey);
    validateKey(toKey);
    if (!this.info().capabilities.serverSideCopy) {
      return this.copyThroughStratus(fromKey, toKey);
    }
    return this.copyObject(fromKey, toKey);
  }

  /** Every key starting with `prefix` (all keys when omitted), in no particular order. */
  list(prefix = ''): AsyncIterable<string> {
    validateListPrefix(prefix);
    return this.listKeys(prefix);
  }

  /** Writes a validated key and body; implementations honour `DigestStream`'s verdict. */
  protected abstract writeObject(
    key: string,
    body: Readable,
    options: WriteOptions,
  ): Promise<WriteResult>;
  protected abstract readObject(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream>;
  protected abstract statObject(key: string): Promise<ObjectStat | null>;
  protected abstract deleteObject(key: string): Promise<void>;
  protected abstract listKeys(prefix: string): AsyncIterable<string>;

  /** Server-side copy; only called when `info().capabilities.serverSideCopy` is true. */
  protected copyObject(_fromKey: string, _toKey: string): Promise<WriteResult> {
    throw new NotSupportedError(this.info().name, 'server-side copy');
  }

  /**
   * Copies by reading `fromKey` and writing `toKey` through this process, checking the size
   * did not change on the way: the fallback for stores without server-side copy.
   */
  protected async copyThroughStratus(fromKey: string, toKey: string): Promise<WriteResult> {
    const source = await this.statObject(fromKey);
    if (!source) throw new ObjectNotFoundError(fromKey);
    const body = await this.readObject(fromKey);
    return this.writeObject(toKey, toReadable(body), {
      expectedSizeBytes: source.sizeBytes,
      metadata: source.metadata,
    });
  }
}
