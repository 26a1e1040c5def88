import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { and, asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { multipartParts, multipartUploads } from '../../db/tables';
import { authorize } from '../authorize';
import { InvalidInputError, NotFoundError } from '../errors';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, parseInput } from '../validation';
import { claimBlobKeys, deleteBlobsAfterCommit, discardBlob, reserveBlobKey } from './blobs';
import { writableContainer } from './containers';
import { checkMetadata, checkObjectName } from './names';
import { commitObject, type ObjectRow } from './objects';

export type MultipartUploadRow = typeof multipartUploads.$inferSelect;
export const MAX_PARTS = 10_000;

const createInput = z.object({
  containerId: z.string(),
  objectName: z.string(),
  contentType: z.string().max(256).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
});

/** Starts a multipart upload; parts then go to PUT <object path>?uploadId=<id>&partNumber=<n>. */
export async function createMultipartUpload(
  ctx: ServiceContext,
  input: unknown,
): Promise<MultipartUploadRow> {
  authorize(ctx, 'objects:write_object');
  const data = parseInput(createInput, input);
  const objectName = checkObjectName(data.objectName, 'input.objectName');
  const metadata = checkMetadata(data.metadata ?? {});
  return inTransaction(ctx.rt, async (tx) => {
    await writableContainer(ctx, tx, data.containerId);
    const [row] = await tx
      .insert(multipartUploads)
      .values({
        containerId: data.containerId,
        objectName,
        contentType: data.contentType || 'application/octet-stream',
        metadata,
        createdByUserId: ctx.auth?.userId ?? null,
      })
      .returning();
    return row;
  });
}

/** An upload the caller may write to, or NotFoundError. */
export async function findUpload(
  ctx: ServiceContext,
  uploadId: string,
): Promise<MultipartUploadRow> {
  const [row] = isUuid(uploadId)
    ? await ctx.rt.db.select().from(multipartUploads).where(eq(multipartUploads.id, uploadId))
    : [];
  if (!row) throw new NotFoundError('multipart upload', uploadId);
  await inTransaction(ctx.rt, (tx) => writableContainer(ctx, tx, row.containerId));
  return row;
}

/** Stores one part (1..10000); sending a part number again replaces that part. */
export async function putPart(
  ctx: ServiceContext,
  upload: MultipartUploadRow,
  partNumber: number,
  body: Readable,
  contentLength: number | null,
  expectedMd5Hex: string | null,
): Promise<{ md5Hex: string; sizeBytes: number }> {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
    throw new InvalidInputError(
      'partNumber',
      `partNumber must be an integer from 1 to ${MAX_PARTS}`,
    );
  }
  const storageKey = `mpu/${upload.id}/${partNumber}-${randomUUID()}`;
  await reserveBlobKey(ctx.rt.db, storageKey);
  try {
    const written = await ctx.rt.objectStore.write(storageKey, body, {
      maxBytes: ctx.rt.config.objects.maxObjectBytes,
      expectedSizeBytes: contentLength ?? undefined,
      expectedMd5Hex: expectedMd5Hex ?? undefined,
    });
    await inTransaction(ctx.rt, async (tx, afterCommit) => {
      const [previous] = await tx
        .select()
        .from(multipartParts)
        .where(
          and(eq(multipartParts.uploadId, upload.id), eq(multipartParts.partNumber, partNumber)),
        )
        .for('update');
      const values = {
        uploadId: upload.id,
        partNumber,
        storageKey,
        sizeBytes: written.sizeBytes,
        md5Hex: written.md5Hex,
      };
      await tx
        .insert(multipartParts)
        .values(values)
        .onConflictDoUpdate({
          target: [multipartParts.uploadId, multipartParts.partNumber],
          set: values,
        });
      await claimBlobKeys(tx, [storageKey]);
      if (previous) await deleteBlobsAfterCommit(ctx, tx, [previous.storageKey], afterCommit);
    });
    return written;
  } catch (error) {
    await discardBlob(ctx.rt, storageKey);
    throw error;
  }
}

/**
 * Assembles the parts, numbered 1..n without gaps, into one object whose bytes are the parts
 * in order (a manifest, as Swift's static large objects). ETag: S3's md5-of-md5s with "-n".
 */
export async function completeMultipartUpload(
  ctx: ServiceContext,
  uploadId: string,
): Promise<ObjectRow> {
  authorize(ctx, 'objects:write_object');
  const upload = await findUpload(ctx, uploadId);
  const parts = await ctx.rt.db
    .select()
    .from(multipartParts)
    .where(eq(multipartParts.uploadId, upload.id))
    .orderBy(asc(multipartParts.partNumber));
  if (parts.length === 0) throw new InvalidInputError('uploadId', 'The upload has no parts yet');
  parts.forEach((p, i) => {
    if (p.partNumber !== i + 1)
      throw new InvalidInputError(
        'uploadId',
        `Part ${i + 1} is missing; parts must be numbered 1..n`,
      );
  });
  const md5s = createHash('md5');
  for (const p of parts) md5s.update(Buffer.from(p.md5Hex, 'hex'));
  const object = await commitObject(
    ctx,
    upload.containerId,
    {
      name: upload.objectName,
      sizeBytes: parts.reduce((n, p) => n + p.sizeBytes, 0),
      etag: `${md5s.digest('hex')}-${parts.length}`,
      contentType: upload.contentType,
      metadata: upload.metadata,
      bytes: {
        segments: parts.map((p) => ({
          storageKey: p.storageKey,
          sizeBytes: p.sizeBytes,
          md5Hex: p.md5Hex,
        })),
      },
      deleteAt: null,
    },
    async (tx) => {
      await tx.delete(multipartUploads).where(eq(multipartUploads.id, upload.id));
    },
  );
  return object;
}

/** Abandons an upload and deletes the parts stored so far. */
export async function abortMultipartUpload(
  ctx: ServiceContext,
  uploadId: string,
): Promise<MultipartUploadRow> {
  authorize(ctx, 'objects:write_object');
  const upload = await findUpload(ctx, uploadId);
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const parts = await tx
      .select()
      .from(multipartParts)
      .where(eq(multipartParts.uploadId, upload.id));
    await tx.delete(multipartUploads).where(eq(multipartUploads.id, upload.id));
    await deleteBlobsAfterCommit(
      ctx,
      tx,
      parts.map((p) => p.storageKey),
      afterCommit,
    );
    return upload;
  });
}
