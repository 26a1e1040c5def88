/**
 * The `objects` driver kind: a blob store for object storage (Swift-like containers/objects)
 * and for image bytes. It stores BYTES under opaque keys the service chooses; names,
 * containers, listings and ACLs live in PostgreSQL, owned by the service layer.
 *
 * Keys: `[A-Za-z0-9._/-]`, at most 200 characters, `/`-separated segments that are neither
 * empty nor start with `.` (so no `..`, no leading or trailing `/`). Anything else throws
 * `InvalidKeyError` before the store is touched.
 *
 * Metadata: a flat string map stored with the object. Keys are lowercase `[a-z0-9-]` (S3
 * lower-cases user metadata names and many proxies drop headers with `_`); values printable
 * ASCII without leading or trailing spaces (they travel as HTTP headers); at most 2 KiB in
 * all. Anything else throws `InvalidMetadataError`. Percent-encode other text.
 */

/** What an implementation is and which optional abilities it has. Branch on this, not names. */
export interface ObjectStoreInfo {
  name: 'filesystem' | 's3';
  capabilities: {
    /** `read(key, range)` is served by the store itself, without reading the skipped bytes. */
    rangeReads: boolean;
    /** `copy` happens inside the store: the bytes do not travel through Stratus. */
    serverSideCopy: boolean;
  };
}

/** What a completed write (or copy) stored. */
export interface WriteResult {
  sizeBytes: number;
  /** MD5 of the stored bytes, lowercase hex. */
  md5Hex: string;
}

export interface WriteOptions {
  /** Fails with `TooLargeError` as soon as the body exceeds this many bytes. */
  maxBytes?: number;
  /** Fails with `ChecksumMismatchError` unless the body's MD5 is this (hex, any case). */
  expectedMd5Hex?: string;
  /** Fails with `SizeMismatchError` unless the body is exactly this many bytes. */
  expectedSizeBytes?: number;
  /** Stored with the object, returned by `stat` (see the rules above). */
  metadata?: Record<string, string>;
}

/** An inclusive byte range: `{ start: 0, end: 0 }` is the first byte. */
export interface ByteRange {
  start: number;
  end: number;
}

/** What `stat` reports about a stored object. */
export interface ObjectStat {
  sizeBytes: number;
  metadata: Record<string, string>;
}

export interface ObjectStore {
  // --- identity and health ---

  /** Which implementation this is and its capabilities. */
  info(): ObjectStoreInfo;
  /** Checks the store is usable (dir writable / bucket reachable); throws with a clear reason. */
  probe(): Promise<void>;

  // --- bytes in ---

  /**
   * Streams `body` to `key` atomically: readers never see a partial object; on any failure
   * (stream error, client abort, size/md5 mismatch, maxBytes exceeded) nothing is left behind
   * and the previous object under key (if any) is untouched. Computes MD5 while streaming.
   * On failure the body is destroyed, as `stream.pipeline` does: an HTTP layer that wants to
   * answer 413 rather than reset the connection checks Content-Length against maxBytes first.
   */
  write(
    key: string,
    body: NodeJS.ReadableStream | AsyncIterable<Uint8Array>,
    options?: WriteOptions,
  ): Promise<WriteResult>;
  /** Duplicates the bytes and metadata of `fromKey` under `toKey`, atomically like `write`. */
  copy(fromKey: string, toKey: string): Promise<WriteResult>;

  // --- bytes out ---

  /**
   * Streams the bytes, optionally a byte range [start, end] inclusive (an end past the last
   * byte is clamped; a start past it throws `InvalidRangeError`). Throws ObjectNotFoundError.
   */
  read(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream>;
  /** Size and metadata of the object, or null when there is none under `key`. */
  stat(key: string): Promise<ObjectStat | null>;

  // --- removal and inventory ---

  /** Removes the object; removing a missing one succeeds (idempotent). */
  delete(key: string): Promise<void>;
  /**
   * Every key in the store (for reconciliation / orphan cleanup), as an async iterable,
   * optionally only those starting with `prefix` (plain string prefix, as in S3). Order is
   * unspecified.
   */
  list(prefix?: string): AsyncIterable<string>;
}
