import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilesystemObjectStore } from '../../drivers/objects/filesystem';

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('filesystem object store on disk', () => {
  let root: string;
  let store: FilesystemObjectStore;

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-objects-fs-'));
    store = new FilesystemObjectStore({ root });
    await store.probe();
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('keeps bytes at data/<key> with "@" directories and metadata beside them', async () => {
    await store.write('u1', Readable.from([Buffer.from('whole')]), { metadata: { a: 'b' } });
    await store.write('u1/part-00001', Readable.from([Buffer.from('part')]));
    const files = (await fs.readdir(path.join(root, 'data'), { recursive: true })).sort();
    expect(files).toEqual([
      'u1',
      'u1@',
      'u1@/part-00001',
      'u1@/part-00001@meta.json',
      'u1@meta.json',
    ]);
    expect(await fs.readFile(path.join(root, 'data', 'u1@', 'part-00001'), 'utf8')).toBe('part');
    const meta = JSON.parse(await fs.readFile(path.join(root, 'data', 'u1@meta.json'), 'utf8'));
    expect(meta).toMatchObject({
      sizeBytes: 5,
      md5Hex: md5(Buffer.from('whole')),
      metadata: { a: 'b' },
    });
  });

  it('removes directories that a delete leaves empty', async () => {
    await store.write('u2/a/b', Readable.from([Buffer.from('x')]));
    await store.write('u3/keep', Readable.from([Buffer.from('x')]));
    await store.delete('u2/a/b');
    expect((await fs.readdir(path.join(root, 'data'))).sort()).toEqual(['u3@']);
  });

  it('probe removes temp files unchanged for longer than the stale age, and only those', async () => {
    const stale = path.join(root, '.tmp', 'left-by-a-crash');
    await fs.writeFile(stale, 'partial upload');
    await store.probe();
    expect(await fs.readdir(path.join(root, '.tmp'))).toEqual(['left-by-a-crash']);
    await new Promise((r) => setTimeout(r, 20));
    await new FilesystemObjectStore({ root }, { staleTempMs: 10 }).probe();
    expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);
  });

  it('copies by hard link, so a copy costs no space, and stays whole when the source is replaced', async () => {
    const bytes = randomBytes(100_000);
    await store.write('src', Readable.from([bytes]));
    await store.copy('src', 'dst');
    const [src, dst] = await Promise.all([
      fs.stat(path.join(root, 'data', 'src')),
      fs.stat(path.join(root, 'data', 'dst')),
    ]);
    expect(dst.ino).toBe(src.ino);
    await store.write('src', Readable.from([Buffer.from('new')]));
    expect((await readAll(await store.read('dst'))).equals(bytes)).toBe(true);
  });

  it('lets a reader finish an object that is deleted while it reads', async () => {
    const bytes = randomBytes(3 * 1024 * 1024);
    await store.write('doomed', Readable.from([bytes]));
    const reading = await store.read('doomed');
    await store.delete('doomed');
    expect((await readAll(reading)).equals(bytes)).toBe(true);
  });

  it('does not pair bytes with metadata of another version (a crash between the two renames)', async () => {
    await store.write('torn', Readable.from([Buffer.from('old bytes')]), {
      metadata: { version: 'old' },
    });
    // What a crash leaves: bytes replaced behind the metadata's back.
    const replacement = path.join(root, '.tmp', 'replacement');
    const bytes = Buffer.from('new bytes, longer');
    await fs.writeFile(replacement, bytes);
    await fs.rename(replacement, path.join(root, 'data', 'torn'));
    expect(await store.stat('torn')).toEqual({ sizeBytes: bytes.length, metadata: {} });
    expect(await store.copy('torn', 'copy')).toEqual({
      sizeBytes: bytes.length,
      md5Hex: md5(bytes),
    });
    expect(await store.stat('copy')).toEqual({ sizeBytes: bytes.length, metadata: {} });
  });

  it('does not list metadata files, temp files or stray directories', async () => {
    await store.write('k1', Readable.from([Buffer.from('x')]), { metadata: { a: 'b' } });
    await fs.mkdir(path.join(root, 'data', 'not-a-key-dir'));
    await fs.writeFile(path.join(root, 'data', 'not-a-key-dir', 'file'), 'x');
    await fs.writeFile(path.join(root, '.tmp', 'in-flight'), 'x');
    const keys: string[] = [];
    for await (const key of store.list()) keys.push(key);
    expect(keys).toEqual(['k1']);
  });
});
