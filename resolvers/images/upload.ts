import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { and, eq } from 'drizzle-orm';
import { images } from '../../db/tables';
import { inspectDiskImage } from '../../drivers/images/inspect';
import { authorize } from '../authorize';
import { ConflictError, ForbiddenError, InvalidInputError, StratusError } from '../errors';
import { isAdmin } from '../identity/auth-context';
import { claimBlobKeys, discardBlob, reserveBlobKey } from '../objects/blobs';
import { inTransaction, type Runtime, type ServiceContext } from '../runtime';
import { canModifyImage, type ImageRow } from './access';
import { imageEvent, visibleImage } from './images';

/** Bytes kept from the start of an upload to let qemu-img read its header (and an ISO's). */
const HEAD_BYTES = 1024 * 1024;

/** Passes bytes through, computing SHA-512 and keeping the first HEAD_BYTES. */
class Inspector extends Transform {
  readonly sha512 = createHash('sha512');
  private readonly head: Buffer[] = [];
  private kept = 0;
  override _transform(
    chunk: Buffer,
    _enc: BufferEncoding,
    done: (error?: Error | null, data?: Buffer) => void,
  ): void {
    this.sha512.update(chunk);
    if (this.kept < HEAD_BYTES) {
      const part = chunk.subarray(0, HEAD_BYTES - this.kept);
      this.head.push(Buffer.from(part));
      this.kept += part.length;
    }
    done(null, chunk);
  }
  headBytes(): Buffer {
    return Buffer.concat(this.head);
  }
}

/** The bytes do not match the declared format, or carry something Stratus refuses. */
export class ImageFormatError extends StratusError {
  constructor(message: string) {
    super('BAD_USER_INPUT', message);
  }
}

/**
 * Checks the bytes against the declared disk format with qemu-img's own probe: a qcow2 that
 * claims to be raw, or any qcow2 with a backing or external data file (both let an image read
 * host files: known Glance attack paths), is refused. Returns the virtual size.
 */
async function checkFormat(image: ImageRow, head: Buffer, qemuImg: string): Promise<number | null> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-image-'));
  try {
    const file = path.join(dir, 'head');
    await fs.writeFile(file, head);
    const info = await inspectDiskImage(file, qemuImg);
    const declared = image.diskFormat;
    const expected = declared === 'qcow2' ? 'qcow2' : 'raw';
    if (info.format !== expected) {
      throw new ImageFormatError(
        `The image was declared ${declared} but its bytes are ${info.format}`,
      );
    }
    if (info.backingFile)
      throw new ImageFormatError(
        `The image has a backing file ("${info.backingFile}"); Stratus refuses those`,
      );
    if (info.dataFile)
      throw new ImageFormatError(
        `The image has an external data file ("${info.dataFile}"); Stratus refuses those`,
      );
    if (declared === 'iso' && head.subarray(32769, 32774).toString('latin1') !== 'CD001') {
      throw new ImageFormatError('The image was declared iso but has no ISO 9660 signature');
    }
    return declared === 'qcow2' ? info.virtualSizeBytes : null;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Streams an image's bytes into the object store: queued -> saving -> active, computing MD5
 * and SHA-512 on the way and checking the format. Any failure leaves the image `killed` with
 * the reason, and no bytes.
 */
export async function uploadImageData(
  ctx: ServiceContext,
  imageId: string,
  body: Readable,
  contentLength: number | null,
): Promise<ImageRow> {
  authorize(ctx, 'images:modify');
  const image = await visibleImage(ctx, imageId);
  if (!canModifyImage(ctx.auth, image))
    throw new ForbiddenError(`Only the owner project may upload image "${image.name}"`);
  if (contentLength !== null && contentLength > ctx.rt.config.imageMaxBytes) {
    throw new InvalidInputError(
      'Content-Length',
      `Images may be at most ${ctx.rt.config.imageMaxBytes} bytes`,
    );
  }
  return storeImageBytes(ctx.rt, image, body, contentLength);
}

/**
 * The upload itself, for the HTTP endpoint and for server snapshots (a worker, no caller):
 * queued -> saving -> active with checksums and format checks, or killed with the reason.
 */
export async function storeImageBytes(
  rt: Runtime,
  image: ImageRow,
  body: Readable,
  contentLength: number | null,
): Promise<ImageRow> {
  // Only one upload per image, ever: the queued -> saving step is the lock.
  const [saving] = await rt.db
    .update(images)
    .set({ status: 'saving' })
    .where(and(eq(images.id, image.id), eq(images.status, 'queued')))
    .returning();
  if (!saving) {
    throw new ConflictError(
      `Image "${image.name}" is ${image.status}; data can be uploaded only to a queued image`,
    );
  }
  const key = `image-${randomUUID()}`;
  await reserveBlobKey(rt.db, key);
  const inspector = new Inspector();
  try {
    body.on('error', (error) => inspector.destroy(error));
    const written = await rt.objectStore.write(key, body.pipe(inspector), {
      maxBytes: rt.config.imageMaxBytes,
      expectedSizeBytes: contentLength ?? undefined,
    });
    const virtualSizeBytes =
      (await checkFormat(image, inspector.headBytes(), rt.config.qemuImgBinary)) ??
      written.sizeBytes;
    return await inTransaction(rt, async (tx) => {
      const [row] = await tx
        .update(images)
        .set({
          status: 'active',
          sizeBytes: written.sizeBytes,
          virtualSizeBytes,
          checksum: written.md5Hex,
          osHashAlgo: 'sha512',
          osHashValue: inspector.sha512.digest('hex'),
          storageKey: key,
          failureReason: null,
        })
        .where(eq(images.id, image.id))
        .returning();
      await claimBlobKeys(tx, [key]);
      await imageEvent(tx, 'IMAGE_UPDATED', row);
      return row;
    });
  } catch (error) {
    await discardBlob(rt, key);
    const reason = error instanceof Error ? error.message : String(error);
    await inTransaction(rt, async (tx) => {
      const [row] = await tx
        .update(images)
        .set({ status: 'killed', failureReason: reason })
        .where(eq(images.id, image.id))
        .returning();
      await imageEvent(tx, 'IMAGE_UPDATED', row);
    });
    throw error;
  }
}

/** The bytes of an image the caller may see and use; a deactivated image only for admins. */
export async function openImageData(
  ctx: ServiceContext,
  imageId: string,
): Promise<{ image: ImageRow; stream: NodeJS.ReadableStream }> {
  authorize(ctx, 'images:list');
  const image = await visibleImage(ctx, imageId);
  if (image.status === 'deactivated' && !isAdmin(ctx.auth)) {
    throw new ForbiddenError(`Image "${image.name}" is deactivated`);
  }
  if (image.status !== 'active' && image.status !== 'deactivated') {
    throw new ConflictError(`Image "${image.name}" is ${image.status}; it has no data yet`);
  }
  return { image, stream: await ctx.rt.objectStore.read(image.storageKey!) };
}
