import { randomUUID } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import { containers, type ObjectSegment, objects } from '../../db/tables';
import { authorize } from '../authorize';
import { InvalidInputError, NotFoundError, QuotaExceededError } from '../errors';
import { publishEvent } from '../events';
import type { ListResult, Page } from '../pagination';
import { releaseQuota, reserveQuota } from '../quotas';
import { inTransaction, type Runtime, type ServiceContext } from '../runtime';
import { isUuid } from '../validation';
import { type ContainerRow, canReadContainer } from './access';
import { claimBlobKeys, deleteBlobsAfterCommit, discardBlob, reserveBlobKey } from './blobs';
import { writableContainer } from './containers';
import { checkMetadata, checkObjectName } from './names';

export type ObjectRow = typeof objects.$inferSelect;

/** What a stored object's bytes are: one blob, or segments in order (a large object). */
export type ObjectBytes = { storageKey: string } | { segments: ObjectSegment[] };

export interface NewObjectVersion {
  name: string;
  sizeBytes: number;
  etag: string;
  contentType: string;
  metadata: Record<string, string>;
  bytes: ObjectBytes;
  deleteAt: Date | null;
}

function keysOf(row: Pick<ObjectRow, 'storageKey' | 'segments'>): string[] {
  return [row.storageKey, ...(row.segments ?? []).map((s) => s.storageKey)].filter(
    (k): k is string => !!k,
  );
}

/**
 * Makes `version` the object `name` of the container, in one transaction with the container
 * counters and quotas: replaces an older version (whose bytes go after commit), or refuses
 * with QuotaExceededError, in which case the caller discards the new bytes.
 */
export async function commitObject(
  ctx: ServiceContext,
  containerId: string,
  version: NewObjectVersion,
  /** More work that must commit or fail with the object (a multipart upload's removal). */
  alsoInTransaction?: (tx: Tx) => Promise<void>,
  preauthorized = false,
): Promise<ObjectRow> {
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const container = await writableContainer(ctx, tx, containerId, preauthorized);
    const [previous] = await tx
      .select()
      .from(objects)
      .where(and(eq(objects.containerId, containerId), eq(objects.name, version.name)))
      .for('update');
    const bytesDelta = version.sizeBytes - (previous?.sizeBytes ?? 0);
    const countDelta = previous ? 0 : 1;
    checkContainerQuota(container, bytesDelta, countDelta);
    if (bytesDelta > 0)
      await reserveQuota(tx, ctx.rt.config.quotaDefaults, container.projectId, {
        bytes: bytesDelta,
      });
    else if (bytesDelta < 0) await releaseQuota(tx, container.projectId, { bytes: -bytesDelta });
    const values = {
      containerId,
      name: version.name,
      sizeBytes: version.sizeBytes,
      etag: version.etag,
      contentType: version.contentType,
      metadata: version.metadata,
      storageKey: 'storageKey' in version.bytes ? version.bytes.storageKey : null,
      segments: 'segments' in version.bytes ? version.bytes.segments : null,
      deleteAt: version.deleteAt,
      lastModified: new Date(),
    };
    const [row] = await tx
      .insert(objects)
      .values(values)
      .onConflictDoUpdate({ target: [objects.containerId, objects.name], set: values })
      .returning();
    await tx
      .update(containers)
      .set({
        bytesUsed: sql`${containers.bytesUsed} + ${bytesDelta}`,
        objectCount: sql`${containers.objectCount} + ${countDelta}`,
      })
      .where(eq(containers.id, containerId));
    await claimBlobKeys(tx, keysOf(row));
    if (previous) await deleteBlobsAfterCommit(ctx, tx, keysOf(previous), afterCommit);
    if (alsoInTransaction) await alsoInTransaction(tx);
    await objectEvent(tx, 'OBJECT_CREATED', container, row);
    return row;
  });
}

function checkContainerQuota(
  container: ContainerRow,
  bytesDelta: number,
  countDelta: number,
): void {
  if (container.quotaBytes !== null && container.bytesUsed + bytesDelta > container.quotaBytes) {
    throw new QuotaExceededError(
      `bytes of container "${container.name}"`,
      container.quotaBytes,
      container.bytesUsed,
      bytesDelta,
    );
  }
  if (
    container.quotaObjects !== null &&
    container.objectCount + countDelta > container.quotaObjects
  ) {
    throw new QuotaExceededError(
      `objects of container "${container.name}"`,
      container.quotaObjects,
      container.objectCount,
      countDelta,
    );
  }
}

export interface PutObjectRequest {
  container: ContainerRow;
  name: string;
  body: Readable;
  contentLength: number | null;
  contentType: string | null;
  expectedMd5Hex: string | null;
  metadata: Record<string, string>;
  deleteAt: Date | null;
  /** Write access was proven by a PUT temp URL rather than the caller's token. */
  viaTempUrl: boolean;
}

/**
 * Streams an upload to the object store, then commits it. Any failure (checksum, size,
 * client gone, quota) leaves neither bytes nor a row. The caller has checked write access.
 */
export async function putObject(
  ctx: ServiceContext,
  request: PutObjectRequest,
): Promise<ObjectRow> {
  const name = checkObjectName(request.name, 'object name');
  const metadata = checkMetadata(request.metadata, 'metadata');
  if (request.contentLength !== null)
    checkContainerQuota(request.container, request.contentLength, 0);
  const storageKey = randomUUID();
  await reserveBlobKey(ctx.rt.db, storageKey);
  try {
    const written = await ctx.rt.objectStore.write(storageKey, request.body, {
      maxBytes: ctx.rt.config.objects.maxObjectBytes,
      expectedSizeBytes: request.contentLength ?? undefined,
      expectedMd5Hex: request.expectedMd5Hex ?? undefined,
    });
    return await commitObject(
      ctx,
      request.container.id,
      {
        name,
        sizeBytes: written.sizeBytes,
        etag: written.md5Hex,
        contentType: request.contentType || 'application/octet-stream',
        metadata,
        bytes: { storageKey },
        deleteAt: request.deleteAt,
      },
      undefined,
      request.viaTempUrl,
    );
  } catch (error) {
    await discardBlob(ctx.rt, storageKey);
    throw error;
  }
}

/** The object `name` in a container the caller may read, or null. */
export async function findObject(
  container: ContainerRow,
  rt: Runtime,
  name: string,
): Promise<ObjectRow | null> {
  const [row] = await rt.db
    .select()
    .from(objects)
    .where(and(eq(objects.containerId, container.id), eq(objects.name, name)));
  if (row?.deleteAt && row.deleteAt.getTime() <= Date.now()) return null;
  return row ?? null;
}

/** Streams an object's bytes, or the inclusive byte range of them, across segments when it has them. */
export async function openObject(
  rt: Runtime,
  row: ObjectRow,
  range?: { start: number; end: number },
): Promise<NodeJS.ReadableStream> {
  if (row.storageKey) return rt.objectStore.read(row.storageKey, range);
  const segments = row.segments ?? [];
  const out = new PassThrough();
  const start = range?.start ?? 0;
  const end = range?.end ?? row.sizeBytes - 1;
  void (async () => {
    let offset = 0;
    for (const segment of segments) {
      const segStart = offset;
      const segEnd = offset + segment.sizeBytes - 1;
      offset += segment.sizeBytes;
      if (segEnd < start || segStart > end || segment.sizeBytes === 0) continue;
      const part = await rt.objectStore.read(segment.storageKey, {
        start: Math.max(start, segStart) - segStart,
        end: Math.min(end, segEnd) - segStart,
      });
      for await (const chunk of part as AsyncIterable<Buffer>) {
        if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
      }
    }
    out.end();
  })().catch((error) => out.destroy(error as Error));
  return out;
}

/** Deletes an object (the caller's write access is checked here); its bytes go after commit. */
export async function deleteObject(
  ctx: ServiceContext,
  containerId: string,
  name: string,
): Promise<ObjectRow> {
  authorize(ctx, 'objects:write_object');
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const container = await writableContainer(ctx, tx, containerId);
    const row = await removeObjectRow(ctx, tx, container, name, afterCommit);
    if (!row) throw new NotFoundError('object', name);
    return row;
  });
}

async function removeObjectRow(
  ctx: ServiceContext,
  tx: Tx,
  container: ContainerRow,
  name: string,
  afterCommit: (cb: () => void) => void,
): Promise<ObjectRow | null> {
  const [row] = await tx
    .delete(objects)
    .where(and(eq(objects.containerId, container.id), eq(objects.name, name)))
    .returning();
  if (!row) return null;
  await tx
    .update(containers)
    .set({
      bytesUsed: sql`${containers.bytesUsed} - ${row.sizeBytes}`,
      objectCount: sql`${containers.objectCount} - 1`,
    })
    .where(eq(containers.id, container.id));
  await releaseQuota(tx, container.projectId, { bytes: row.sizeBytes });
  await deleteBlobsAfterCommit(ctx, tx, keysOf(row), afterCommit);
  await objectEvent(tx, 'OBJECT_DELETED', container, row);
  return row;
}

/** Deletes many objects of one container at once; names not found are reported, not errors. */
export async function bulkDeleteObjects(
  ctx: ServiceContext,
  containerId: string,
  names: string[],
): Promise<{ deleted: string[]; notFound: string[] }> {
  authorize(ctx, 'objects:write_object');
  if (names.length > 1000)
    throw new InvalidInputError('input.names', 'input.names may hold at most 1000 names');
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const container = await writableContainer(ctx, tx, containerId);
    const deleted: string[] = [];
    const notFound: string[] = [];
    for (const name of names) {
      ((await removeObjectRow(ctx, tx, container, name, afterCommit)) ? deleted : notFound).push(
        name,
      );
    }
    return { deleted, notFound };
  });
}

/** Server-side copy: the bytes are copied inside the store, never through Stratus's memory. */
export async function copyObject(
  ctx: ServiceContext,
  input: { fromContainerId: string; fromName: string; toContainerId: string; toName: string },
): Promise<ObjectRow> {
  authorize(ctx, 'objects:write_object');
  const toName = checkObjectName(input.toName, 'input.toName');
  const [source] = isUuid(input.fromContainerId)
    ? await ctx.rt.db.select().from(containers).where(eq(containers.id, input.fromContainerId))
    : [];
  if (!source || !canReadContainer(ctx.auth, source))
    throw new NotFoundError('container', input.fromContainerId);
  const from = await findObject(source, ctx.rt, input.fromName);
  if (!from) throw new NotFoundError('object', input.fromName);
  const copies: string[] = [];
  try {
    let bytes: ObjectBytes;
    if (from.storageKey) {
      const key = randomUUID();
      copies.push(key);
      await reserveBlobKey(ctx.rt.db, key);
      await ctx.rt.objectStore.copy(from.storageKey, key);
      bytes = { storageKey: key };
    } else {
      const segments: ObjectSegment[] = [];
      for (const segment of from.segments ?? []) {
        const key = randomUUID();
        copies.push(key);
        await reserveBlobKey(ctx.rt.db, key);
        await ctx.rt.objectStore.copy(segment.storageKey, key);
        segments.push({ ...segment, storageKey: key });
      }
      bytes = { segments };
    }
    return await commitObject(ctx, input.toContainerId, {
      name: toName,
      sizeBytes: from.sizeBytes,
      etag: from.etag,
      contentType: from.contentType,
      metadata: from.metadata,
      bytes,
      deleteAt: null,
    });
  } catch (error) {
    for (const key of copies) await discardBlob(ctx.rt, key);
    throw error;
  }
}

/** Replaces an object's custom metadata (and optionally its content type and expiry). */
export async function updateObjectMetadata(
  ctx: ServiceContext,
  input: {
    containerId: string;
    name: string;
    metadata: Record<string, string>;
    contentType?: string | null;
    deleteAt?: Date | null;
  },
): Promise<ObjectRow> {
  authorize(ctx, 'objects:write_object');
  const metadata = checkMetadata(input.metadata);
  return inTransaction(ctx.rt, async (tx) => {
    const container = await writableContainer(ctx, tx, input.containerId);
    const [row] = await tx
      .update(objects)
      .set({
        metadata,
        ...(input.contentType ? { contentType: input.contentType } : {}),
        ...(input.deleteAt !== undefined ? { deleteAt: input.deleteAt } : {}),
        lastModified: new Date(),
      })
      .where(and(eq(objects.containerId, container.id), eq(objects.name, input.name)))
      .returning();
    if (!row) throw new NotFoundError('object', input.name);
    await objectEvent(tx, 'OBJECT_UPDATED', container, row);
    return row;
  });
}

/** An entry of a listing: an object, or a pseudo-folder that groups names under a delimiter. */
export type ListingEntry =
  | { kind: 'object'; object: ObjectRow }
  | { kind: 'folder'; prefix: string };

/**
 * Lists a container as Swift does: names starting with `prefix`, in byte order; with a
 * `delimiter`, names that continue past it collapse into one pseudo-folder entry.
 */
export async function listObjects(
  ctx: ServiceContext,
  container: ContainerRow,
  options: { prefix: string; delimiter: string | null },
  page: Page,
): Promise<ListResult<ListingEntry>> {
  if (!canReadContainer(ctx.auth, container)) return { rows: [], totalCount: 0 };
  const prefix = options.prefix;
  const delim = options.delimiter ?? '';
  const rest = sql`substr(name, ${prefix.length + 1})`;
  const folded = sql`(${delim} <> '' and strpos(${rest}, ${delim}) > 0)`;
  const result = await ctx.rt.db.execute<{ entry: string; is_folder: boolean; total: number }>(sql`
    select entry, is_folder, cast(count(*) over () as integer) as total from (
      select distinct
        case when ${folded} then ${prefix} || split_part(${rest}, ${delim}, 1) || ${delim} else name end as entry,
        ${folded} as is_folder
      from objects
      where container_id = ${container.id} and starts_with(name, ${prefix})
        and (delete_at is null or delete_at > now())
    ) listing
    order by entry collate "C"
    limit ${page.limit} offset ${page.offset}`);
  const rows = result.rows;
  const names = rows.filter((r) => !r.is_folder).map((r) => r.entry);
  const found = names.length
    ? await ctx.rt.db
        .select()
        .from(objects)
        .where(and(eq(objects.containerId, container.id), inArray(objects.name, names)))
    : [];
  const byName = new Map(found.map((o) => [o.name, o]));
  const entries: ListingEntry[] = [];
  for (const r of rows) {
    if (r.is_folder) entries.push({ kind: 'folder', prefix: r.entry });
    else {
      const object = byName.get(r.entry);
      if (object) entries.push({ kind: 'object', object });
    }
  }
  return { rows: entries, totalCount: rows[0]?.total ?? 0 };
}

function objectEvent(tx: Tx, kind: string, container: ContainerRow, row: ObjectRow) {
  return publishEvent(tx, {
    kind,
    projectId: container.projectId,
    resourceType: 'StoredObject',
    resourceId: row.id,
    payload: {
      containerId: container.id,
      container: container.name,
      name: row.name,
      sizeBytes: row.sizeBytes,
      etag: row.etag,
    },
  });
}

/** Deletes objects whose X-Delete-At has passed (Swift's object expirer), with their bytes. */
export async function expireObjects(rt: Runtime): Promise<number> {
  const due = await rt.db
    .select({ object: objects, container: containers })
    .from(objects)
    .innerJoin(containers, eq(containers.id, objects.containerId))
    .where(sql`${objects.deleteAt} <= now()`)
    .limit(1000);
  const ctx: ServiceContext = {
    rt,
    auth: null,
    log: rt.logger,
    requestId: 'object-expirer',
    clientAddress: '',
    baseUrl: '',
  };
  for (const { object, container } of due) {
    await inTransaction(rt, (tx, afterCommit) =>
      removeObjectRow(ctx, tx, container, object.name, afterCommit),
    );
  }
  return due.length;
}
