import { createHash, randomUUID } from 'node:crypto';
import { type BigIntStats, createReadStream, type Dir, constants as fsConstants } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DriverUnavailableError } from '../errors';
import { Reverter } from '../reverter';
import { BaseObjectStore, clampRange, DigestStream } from './base';
import { ObjectNotFoundError } from './errors';
import type { ByteRange, ObjectStat, ObjectStoreInfo, WriteOptions, WriteResult } from './types';

export interface FilesystemConfig {
  /** Directory holding `data/` and `.tmp/` (relative: to the working directory); `probe` creates it. */
  root: string;
}

/** Temp files not changed for this long belong to no running write; `probe` removes them. */
export const STALE_TEMP_MS = 60 * 60 * 1000;

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Suffix of directories that hold the keys below a key segment (`a/b` lives in `a@/b`). */
const DIR_SUFFIX = '@';
/** Suffix of the metadata file beside an object's bytes. */
const META_SUFFIX = '@meta.json';

/** What `<object>@meta.json` holds. */
interface MetaDoc {
  sizeBytes: number;
  md5Hex: string;
  /** Inode of the bytes this metadata belongs to (decimal): tells a stale pairing apart. */
  ino: string;
  metadata: Record<string, string>;
}

/**
 * Objects as files under one root directory.
 *
 * Layout: the bytes of key `a/b/name` are `<root>/data/a@/b@/name`, its metadata (with size,
 * MD5 and the inode of the bytes) `<root>/data/a@/b@/name@meta.json`; writes go to
 * `<root>/.tmp/<uuid>` first. Key characters exclude `@`, so directories (`x@`), bytes and
 * metadata never collide, and `x` and `x/y` can both be keys.
 *
 * A write streams to a temp file, fsyncs it, writes the metadata the same way, then renames
 * metadata and bytes into place (under a per-key lock, so concurrent writers of one key commit
 * one after the other) and fsyncs the directory. Readers open the bytes by path, so they see
 * the old or the new file, never a partial one. Metadata names the inode of its bytes; `stat`
 * and `copy` trust it only when that matches.
 *
 * WARNING: object files are never modified in place (only replaced by rename or unlinked):
 * `copy` hard-links them, so two keys may share one inode. The per-key lock is per process;
 * one Stratus process owns a root.
 */
export class FilesystemObjectStore extends BaseObjectStore {
  private readonly root: string;
  private readonly dataDir: string;
  private readonly tmpDir: string;
  private readonly locks = new Map<string, Promise<void>>();
  private readonly staleTempMs: number;

  /** `tuning.staleTempMs` overrides `STALE_TEMP_MS` (tests); it is not a config key. */
  constructor(config: FilesystemConfig, tuning: { staleTempMs?: number } = {}) {
    super();
    this.staleTempMs = tuning.staleTempMs ?? STALE_TEMP_MS;
    this.root = path.resolve(config.root);
    this.dataDir = path.join(this.root, 'data');
    this.tmpDir = path.join(this.root, '.tmp');
  }

  /** Filesystem store: range reads from the file, copies by hard link (or a file copy). */
  info(): ObjectStoreInfo {
    return { name: 'filesystem', capabilities: { rangeReads: true, serverSideCopy: true } };
  }

  /**
   * Creates `data/` and `.tmp/` under the root when missing, proves the root is writable and
   * that both are on one filesystem (renames must be atomic), and removes temp files left by
   * writes that died (unchanged for an hour). Throws `DriverUnavailableError` naming the root.
   */
  async probe(): Promise<void> {
    const unusable = (reason: string, cause?: unknown) =>
      new DriverUnavailableError('filesystem', `root "${this.root}" ${reason}`, { cause });
    try {
      await fsp.mkdir(this.dataDir, { recursive: true, mode: DIR_MODE });
      await fsp.mkdir(this.tmpDir, { recursive: true, mode: DIR_MODE });
      const probe = this.tempPath();
      await writeFileDurably(probe, 'probe');
      await fsp.rm(probe);
    } catch (err) {
      throw unusable(`is not a writable directory: ${(err as Error).message}`, err);
    }
    const [data, tmp] = await Promise.all([fsp.stat(this.dataDir), fsp.stat(this.tmpDir)]);
    if (data.dev !== tmp.dev) {
      throw unusable('has data/ and .tmp/ on different filesystems; renames would not be atomic');
    }
    await this.removeStaleTemps();
  }

  protected async writeObject(
    key: string,
    body: Readable,
    options: WriteOptions,
  ): Promise<WriteResult> {
    const digest = new DigestStream(options);
    return Reverter.run(async (revert) => {
      const dataTmp = this.tempPath();
      const handle = await fsp.open(dataTmp, 'wx', FILE_MODE);
      revert.add(() => fsp.rm(dataTmp, { force: true }));
      let ino: bigint;
      try {
        await pipeline(body, digest, durableSink(handle));
        ino = (await handle.stat({ bigint: true })).ino;
      } catch (err) {
        throw digest.failure ?? err;
      } finally {
        await handle.close();
      }
      const { sizeBytes, md5Hex } = digest.result;
      const doc: MetaDoc = {
        sizeBytes,
        md5Hex,
        ino: ino.toString(),
        metadata: options.metadata ?? {},
      };
      await this.commit(key, dataTmp, doc, revert);
      return { sizeBytes, md5Hex };
    });
  }

  protected async readObject(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream> {
    const { dataPath } = this.paths(key);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(dataPath, 'r');
    } catch (err) {
      if (isCode(err, 'ENOENT')) throw new ObjectNotFoundError(key);
      throw err;
    }
    try {
      // The open handle pins this version of the object: a concurrent overwrite or delete
      // renames or unlinks the path, not these bytes.
      if (range === undefined) return handle.createReadStream();
      const { size } = await handle.stat();
      const { start, end } = clampRange(key, range, size);
      return handle.createReadStream({ start, end });
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  protected async statObject(key: string): Promise<ObjectStat | null> {
    const { dataPath, metaPath } = this.paths(key);
    return this.withKeyLock(key, async () => {
      let bytes: BigIntStats;
      try {
        bytes = await fsp.stat(dataPath, { bigint: true });
      } catch (err) {
        if (isCode(err, 'ENOENT')) return null;
        throw err;
      }
      const doc = await readMeta(metaPath);
      const metadata = doc && doc.ino === bytes.ino.toString() ? doc.metadata : {};
      return { sizeBytes: Number(bytes.size), metadata };
    });
  }

  protected async deleteObject(key: string): Promise<void> {
    const { dir, dataPath, metaPath } = this.paths(key);
    await this.withKeyLock(key, async () => {
      await fsp.rm(dataPath, { force: true });
      await fsp.rm(metaPath, { force: true });
    });
    await this.pruneEmptyDirs(dir);
  }

  /**
   * Copies by hard-linking the source's bytes (objects are never modified in place, so sharing
   * an inode is safe and costs no space), falling back to a file copy (reflink where the
   * filesystem can) when a link is refused; then commits like a write.
   */
  protected async copyObject(fromKey: string, toKey: string): Promise<WriteResult> {
    const from = this.paths(fromKey);
    return Reverter.run(async (revert) => {
      const dataTmp = this.tempPath();
      // Snapshot bytes and metadata of one version under the source's lock.
      revert.add(() => fsp.rm(dataTmp, { force: true }));
      const source = await this.withKeyLock(fromKey, async () => {
        try {
          await fsp.link(from.dataPath, dataTmp);
        } catch (err) {
          if (isCode(err, 'ENOENT')) throw new ObjectNotFoundError(fromKey);
          if (!isCode(err, 'EMLINK', 'EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP')) throw err;
          await fsp.copyFile(from.dataPath, dataTmp, fsConstants.COPYFILE_FICLONE);
        }
        const { ino } = await fsp.stat(from.dataPath, { bigint: true });
        return { doc: await readMeta(from.metaPath), ino: ino.toString() };
      });
      const copied = await fsp.stat(dataTmp, { bigint: true });
      let doc: MetaDoc;
      if (source.doc && source.doc.ino === source.ino) {
        doc = { ...source.doc, ino: copied.ino.toString() };
      } else {
        // Metadata of another version (a crash between the two renames): hash the bytes.
        doc = { ...(await md5OfFile(dataTmp)), ino: copied.ino.toString(), metadata: {} };
      }
      await this.commit(toKey, dataTmp, doc, revert);
      return { sizeBytes: doc.sizeBytes, md5Hex: doc.md5Hex };
    });
  }

  protected async *listKeys(prefix: string): AsyncIterable<string> {
    // Start at the deepest directory the prefix names (`a/b/c` → `data/a@/b@`).
    const dirKeys = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const segments = dirKeys.split('/').filter(Boolean);
    const start = path.join(this.dataDir, ...segments.map((s) => s + DIR_SUFFIX));
    yield* this.walk(start, dirKeys, prefix);
  }

  private async *walk(dir: string, keyPrefix: string, prefix: string): AsyncIterable<string> {
    let entries: Dir;
    try {
      entries = await fsp.opendir(dir);
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR')) return;
      throw err;
    }
    for await (const entry of entries) {
      if (entry.isDirectory() && entry.name.endsWith(DIR_SUFFIX)) {
        const below = `${keyPrefix}${entry.name.slice(0, -DIR_SUFFIX.length)}/`;
        if (below.startsWith(prefix) || prefix.startsWith(below)) {
          yield* this.walk(path.join(dir, entry.name), below, prefix);
        }
      } else if (entry.isFile() && !entry.name.includes('@')) {
        const key = keyPrefix + entry.name;
        if (key.startsWith(prefix)) yield key;
      }
    }
  }

  /**
   * Renames the metadata, then the bytes, into place under the key's lock. Should the bytes'
   * rename fail, the previous metadata (kept as a hard link) is put back.
   */
  private async commit(key: string, dataTmp: string, doc: MetaDoc, revert: Reverter) {
    const { dir, dataPath, metaPath } = this.paths(key);
    const metaTmp = this.tempPath();
    revert.add(() => fsp.rm(metaTmp, { force: true }));
    await writeFileDurably(metaTmp, JSON.stringify(doc));
    await this.withKeyLock(key, async () => {
      await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
      const backup = this.tempPath();
      const restore = new Reverter();
      try {
        if (await linkIfExists(metaPath, backup)) {
          restore.add(() => fsp.rename(backup, metaPath));
        } else {
          restore.add(() => fsp.rm(metaPath, { force: true }));
        }
        await renameInto(metaTmp, metaPath, dir);
        await renameInto(dataTmp, dataPath, dir);
        restore.success();
        // rename() does nothing when both names are links to one inode (a copy onto itself).
        await fsp.rm(dataTmp, { force: true });
      } catch (err) {
        await restore.fail();
        throw err;
      }
      await fsp.rm(backup, { force: true }).catch(() => {});
    });
    // Durability of the renames; the object is committed either way.
    await fsyncDir(dir).catch(() => {});
  }

  /** Removes the directories of `dir` up to `data/` that hold nothing any more. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    let current = dir;
    while (current.length > this.dataDir.length && current.startsWith(this.dataDir)) {
      try {
        await fsp.rmdir(current);
      } catch {
        return; // not empty (or already gone): its parents are not empty either
      }
      current = path.dirname(current);
    }
  }

  private async removeStaleTemps(): Promise<void> {
    const now = Date.now();
    for (const name of await fsp.readdir(this.tmpDir)) {
      const file = path.join(this.tmpDir, name);
      try {
        // ctime, not mtime: a hard link (copy) keeps the source's old mtime but updates ctime.
        const { ctimeMs } = await fsp.lstat(file);
        if (now - ctimeMs > this.staleTempMs) await fsp.rm(file, { force: true, recursive: true });
      } catch (err) {
        if (!isCode(err, 'ENOENT')) throw err;
      }
    }
  }

  /** Per-key mutual exclusion for the short commit/delete/stat sections (not for streaming). */
  private async withKeyLock<T>(key: string, section: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    this.locks.set(key, mine);
    await previous;
    try {
      return await section();
    } finally {
      release();
      if (this.locks.get(key) === mine) this.locks.delete(key);
    }
  }

  private paths(key: string) {
    const segments = key.split('/');
    const name = segments.pop()!;
    const dir = path.join(this.dataDir, ...segments.map((s) => s + DIR_SUFFIX));
    const dataPath = path.join(dir, name);
    return { dir, dataPath, metaPath: dataPath + META_SUFFIX };
  }

  private tempPath(): string {
    return path.join(this.tmpDir, randomUUID());
  }
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException)?.code ?? '');
}

/**
 * A Writable onto an open file that fsyncs it before finishing. (A FileHandle's own
 * `createWriteStream({ autoClose: false })` keeps a reference that makes `close()` hang.)
 */
function durableSink(handle: fsp.FileHandle): Writable {
  const writeAll = async (buffers: Buffer[]) => {
    let pending = buffers;
    while (pending.length > 0) {
      const { bytesWritten } = await handle.writev(pending);
      pending = skipBytes(pending, bytesWritten);
    }
  };
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      writeAll([chunk]).then(() => done(), done);
    },
    writev(chunks, done) {
      writeAll(chunks.map((c) => c.chunk as Buffer)).then(() => done(), done);
    },
    final(done) {
      handle.sync().then(() => done(), done);
    },
  });
}

/** `buffers` without their first `count` bytes. */
function skipBytes(buffers: Buffer[], count: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = count;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
    } else {
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
  }
  return rest;
}

async function writeFileDurably(file: string, content: string): Promise<void> {
  const handle = await fsp.open(file, 'wx', FILE_MODE);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Hard-links `from` to `to`; false when `from` does not exist. */
async function linkIfExists(from: string, to: string): Promise<boolean> {
  try {
    await fsp.link(from, to);
    return true;
  } catch (err) {
    if (isCode(err, 'ENOENT')) return false;
    throw err;
  }
}

/** Renames into `dir`, recreating it if a concurrent delete pruned it meanwhile. */
async function renameInto(from: string, to: string, dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fsp.rename(from, to);
      return;
    } catch (err) {
      if (!isCode(err, 'ENOENT') || attempt >= 3) throw err;
      await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
    }
  }
}

async function readMeta(metaPath: string): Promise<MetaDoc | null> {
  try {
    const doc = JSON.parse(await fsp.readFile(metaPath, 'utf8')) as MetaDoc;
    return typeof doc?.ino === 'string' && typeof doc.md5Hex === 'string' ? doc : null;
  } catch {
    return null; // missing or unreadable: treated as "no metadata"
  }
}

async function md5OfFile(file: string): Promise<WriteResult> {
  const hash = createHash('md5');
  let sizeBytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    sizeBytes += (chunk as Buffer).length;
  }
  return { sizeBytes, md5Hex: hash.digest('hex') };
}
