import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { and, eq, inArray, ne, or } from 'drizzle-orm';
import type { Database } from '../../db/connection';
import { images, servers } from '../../db/tables';
import type { ObjectStore } from '../../drivers/objects/types';
import type { ImageRow } from '../images/access';

/** The bytes of an image did not match the checksum Glance recorded at upload. */
export class ImageChecksumError extends Error {
  constructor(imageId: string, expected: string, got: string) {
    super(
      `Image ${imageId} failed verification: SHA-512 ${got.slice(0, 16)}… != recorded ${expected.slice(0, 16)}…`,
    );
  }
}

/**
 * Base images on this host (Nova's `_base`): one file per image, fetched once from the object
 * store, verified against the image's SHA-512 on the way, shared by every overlay built on it.
 * A file stays while any live server uses it, even after its image is deleted, so a running
 * (or stopped) server never loses its backing file.
 */
export class ImageCache {
  private readonly fetching = new Map<string, Promise<string>>();

  constructor(
    readonly dir: string,
    private readonly store: ObjectStore,
  ) {}

  pathOf(imageId: string): string {
    return path.join(this.dir, imageId);
  }

  /** The cached file of `image`, fetched and verified if absent. Concurrent calls share one fetch. */
  ensure(image: ImageRow): Promise<string> {
    const pending = this.fetching.get(image.id);
    if (pending) return pending;
    const fetch = this.fetch(image).finally(() => this.fetching.delete(image.id));
    this.fetching.set(image.id, fetch);
    return fetch;
  }

  private async fetch(image: ImageRow): Promise<string> {
    const target = this.pathOf(image.id);
    if (await fs.stat(target).catch(() => null)) return target;
    if (!image.storageKey)
      throw new Error(`Image ${image.id} has no data (status ${image.status})`);
    await fs.mkdir(this.dir, { recursive: true });
    const temp = `${target}.part-${randomUUID()}`;
    const sha512 = createHash('sha512');
    try {
      await pipeline(
        await this.store.read(image.storageKey),
        new Transform({
          transform(chunk: Buffer, _enc, done) {
            sha512.update(chunk);
            done(null, chunk);
          },
        }),
        createWriteStream(temp, { mode: 0o640 }),
      );
      const got = sha512.digest('hex');
      if (image.osHashValue && got !== image.osHashValue) {
        throw new ImageChecksumError(image.id, image.osHashValue, got);
      }
      await fs.rename(temp, target);
      return target;
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
  }

  /**
   * Removes cached images that no live server needs and whose image is gone or no longer
   * active. Active images stay cached for the next boot. Returns the ids removed.
   */
  async prune(db: Database): Promise<string[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const ids = names.filter((n) => /^[0-9a-f-]{36}$/.test(n));
    if (ids.length === 0) return [];
    const used = await db
      .select({ a: servers.imageId, b: servers.kernelImageId, c: servers.ramdiskImageId })
      .from(servers)
      .where(
        and(
          ne(servers.vmState, 'deleted'),
          or(
            inArray(servers.imageId, ids),
            inArray(servers.kernelImageId, ids),
            inArray(servers.ramdiskImageId, ids),
          ),
        ),
      );
    const needed = new Set(used.flatMap((u) => [u.a, u.b, u.c]));
    const active = await db
      .select({ id: images.id })
      .from(images)
      .where(and(inArray(images.id, ids), eq(images.status, 'active')));
    for (const a of active) needed.add(a.id);
    const removed = ids.filter((id) => !needed.has(id));
    for (const id of removed) await fs.rm(this.pathOf(id), { force: true });
    return removed;
  }
}
