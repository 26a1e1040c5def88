import { randomUUID } from 'node:crypto';
import { and, desc, eq, inArray, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { imageMembers, images, operations, projects } from '../../db/tables';
import { authorize } from '../authorize';
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from '../errors';
import { publishEvent } from '../events';
import { canSeeProject, isAdmin, scopedProjectId } from '../identity/auth-context';
import {
  claimBlobKeys,
  deleteBlobsAfterCommit,
  discardBlob,
  reserveBlobKey,
} from '../objects/blobs';
import { enterStage, finishOperation, type OperationRow, startOperation } from '../operations';
import { type ListResult, type Page, selectPage } from '../pagination';
import { inTransaction, type Runtime, type ServiceContext } from '../runtime';
import { isUuid, nameSchema, parseInput } from '../validation';
import { canModifyImage, type ImageRow, visibleImagesWhere } from './access';

export type { ImageRow };

export interface ImageFilter {
  name?: string | null;
  status?: ImageRow['status'] | null;
  visibility?: ImageRow['visibility'] | null;
  tag?: string | null;
  diskFormat?: ImageRow['diskFormat'] | null;
}

/** Images the caller may see (community ones only when asked for by visibility), newest first. */
export async function listImages(
  ctx: ServiceContext,
  filter: ImageFilter,
  page: Page,
): Promise<ListResult<ImageRow>> {
  authorize(ctx, 'images:list');
  const where: SQL | undefined = and(
    visibleImagesWhere(ctx.rt.db, ctx.auth, filter.visibility !== 'community'),
    filter.visibility === 'community' ? eq(images.visibility, 'community') : undefined,
    filter.visibility && filter.visibility !== 'community'
      ? eq(images.visibility, filter.visibility)
      : undefined,
    filter.name != null ? eq(images.name, filter.name) : undefined,
    filter.status != null ? eq(images.status, filter.status) : sql`${images.status} <> 'deleted'`,
    filter.tag != null ? sql`${images.tags} ? ${filter.tag}` : undefined,
    filter.diskFormat != null ? eq(images.diskFormat, filter.diskFormat) : undefined,
  );
  return selectPage(
    ctx.rt.db,
    images,
    where,
    { column: images.createdAt, direction: 'DESC', tiebreak: images.id },
    page,
  );
}

export async function loadImages(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<ImageRow | null>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db
        .select()
        .from(images)
        .where(
          and(
            inArray(images.id, valid),
            visibleImagesWhere(ctx.rt.db, ctx.auth, false),
            sql`${images.status} <> 'deleted'`,
          ),
        )
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** An image the caller may see, or NotFoundError. */
export async function visibleImage(ctx: ServiceContext, id: string): Promise<ImageRow> {
  const [row] = await loadImages(ctx, [id]);
  if (!row) throw new NotFoundError('image', id);
  return row;
}

const tagSchema = z.string().min(1).max(255);
const propertiesSchema = z
  .record(
    z.string().regex(/^[A-Za-z0-9_:.-]{1,255}$/, 'keys must be 1-255 of letters, digits, _ : . -'),
    z.string().max(65535),
  )
  .refine((p) => Object.keys(p).length <= 128, 'may hold at most 128 properties');
const visibilitySchema = z.enum(['private', 'shared', 'community', 'public']);

const createInput = z
  .object({
    name: nameSchema,
    diskFormat: z.enum(['raw', 'qcow2', 'iso', 'aki', 'ari', 'ami']),
    containerFormat: z.enum(['bare', 'aki', 'ari', 'ami']).optional().default('bare'),
    visibility: visibilitySchema.optional().default('shared'),
    minDiskGib: z.number().int().min(0).max(65536).optional().default(0),
    minRamMib: z
      .number()
      .int()
      .min(0)
      .max(4 * 1024 * 1024)
      .optional()
      .default(0),
    protected: z.boolean().optional().default(false),
    tags: z.array(tagSchema).max(128).optional().default([]),
    properties: propertiesSchema.optional().default({}),
  })
  .refine(
    (v) =>
      (v.diskFormat === 'aki' || v.diskFormat === 'ari' || v.diskFormat === 'ami') ===
      (v.containerFormat !== 'bare'),
    {
      message:
        'aki/ari/ami disk formats go with the container format of the same name; others with bare',
      path: ['containerFormat'],
    },
  );

/** Only admins publish images to everyone, as in Glance's default policy. */
function checkVisibility(ctx: ServiceContext, visibility: string | undefined): void {
  if (visibility === 'public' && !isAdmin(ctx.auth))
    throw new ForbiddenError('Only an admin may make an image public');
}

/** Creates an image record in `queued`; its bytes are then PUT to the upload URL (or imported). */
export async function createImage(ctx: ServiceContext, input: unknown): Promise<ImageRow> {
  authorize(ctx, 'images:create');
  const data = parseInput(createInput, input);
  checkVisibility(ctx, data.visibility);
  const ownerProjectId = scopedProjectId(ctx.auth);
  if (!ownerProjectId)
    throw new InvalidInputError('input', 'A token scoped to a project is required');
  return inTransaction(ctx.rt, async (tx) => {
    const [row] = await tx
      .insert(images)
      .values({ ...data, tags: [...new Set(data.tags)], ownerProjectId })
      .returning();
    await imageEvent(tx, 'IMAGE_CREATED', row);
    return row;
  });
}

const updateInput = z.object({
  id: z.string(),
  name: nameSchema.optional(),
  visibility: visibilitySchema.optional(),
  minDiskGib: z.number().int().min(0).max(65536).optional(),
  minRamMib: z
    .number()
    .int()
    .min(0)
    .max(4 * 1024 * 1024)
    .optional(),
  protected: z.boolean().optional(),
  tags: z.array(tagSchema).max(128).optional(),
  properties: propertiesSchema.optional(),
});

/** Changes an image's metadata (owner or admin). */
export async function updateImage(ctx: ServiceContext, input: unknown): Promise<ImageRow> {
  authorize(ctx, 'images:modify');
  const { id, ...changes } = parseInput(updateInput, input);
  checkVisibility(ctx, changes.visibility);
  return inTransaction(ctx.rt, async (tx) => {
    await modifiableImage(ctx, tx, id);
    const [row] = await tx
      .update(images)
      .set({ ...changes, ...(changes.tags ? { tags: [...new Set(changes.tags)] } : {}) })
      .where(eq(images.id, id))
      .returning();
    await imageEvent(tx, 'IMAGE_UPDATED', row);
    return row;
  });
}

/** Locks an image the caller may change, or NotFoundError / ForbiddenError. */
export async function modifiableImage(ctx: ServiceContext, tx: Tx, id: string): Promise<ImageRow> {
  const [visible] = await loadImages(ctx, [id]);
  if (!visible) throw new NotFoundError('image', id);
  if (!canModifyImage(ctx.auth, visible))
    throw new ForbiddenError(`Only the owner project may change image "${visible.name}"`);
  const [row] = await tx.select().from(images).where(eq(images.id, id)).for('update');
  return row;
}

/** Deletes an image and its bytes; a protected image is refused. */
export async function deleteImage(ctx: ServiceContext, id: string): Promise<ImageRow> {
  authorize(ctx, 'images:modify');
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const row = await modifiableImage(ctx, tx, id);
    if (row.protected)
      throw new ConflictError(`Image "${row.name}" is protected; unprotect it first`);
    if (row.status === 'saving') throw new ConflictError(`Image "${row.name}" is being uploaded`);
    const [deleted] = await tx
      .update(images)
      .set({ status: 'deleted', storageKey: null })
      .where(eq(images.id, id))
      .returning();
    if (row.storageKey) await deleteBlobsAfterCommit(ctx, tx, [row.storageKey], afterCommit);
    await imageEvent(tx, 'IMAGE_DELETED', deleted);
    return deleted;
  });
}

/** Admin: an active image stops being downloadable or bootable (and back). */
export async function setImageDeactivated(
  ctx: ServiceContext,
  id: string,
  deactivated: boolean,
): Promise<ImageRow> {
  authorize(ctx, 'images:deactivate');
  return inTransaction(ctx.rt, async (tx) => {
    const row = await modifiableImage(ctx, tx, id);
    const from = deactivated ? 'active' : 'deactivated';
    if (row.status !== from) {
      throw new ConflictError(
        `Image "${row.name}" is ${row.status}; only a ${from} image can be ${deactivated ? 'deactivated' : 'reactivated'}`,
      );
    }
    const [updated] = await tx
      .update(images)
      .set({ status: deactivated ? 'deactivated' : 'active' })
      .where(eq(images.id, id))
      .returning();
    await imageEvent(tx, 'IMAGE_UPDATED', updated);
    return updated;
  });
}

const importInput = z.object({ sourceImageId: z.string(), name: nameSchema });

export const IMPORT_JOB = 'image.import';

/**
 * Makes a new image in the caller's project from another image the caller may see: the row
 * now (queued, the source's metadata, private), the bytes by a job that copies them inside the
 * object store (saving, then active with the source's checksums, or killed with the reason).
 * Returns the image and its operation.
 */
export async function importImage(
  ctx: ServiceContext,
  input: unknown,
): Promise<{ image: ImageRow; operation: OperationRow }> {
  authorize(ctx, 'images:create');
  const data = parseInput(importInput, input);
  const source = await visibleImage(ctx, data.sourceImageId).catch(() => {
    throw new InvalidInputError('input.sourceImageId', `No image with id "${data.sourceImageId}"`);
  });
  if (source.status !== 'active' || !source.storageKey) {
    throw new InvalidInputError(
      'input.sourceImageId',
      `Image "${source.name}" is ${source.status}, not active`,
    );
  }
  const ownerProjectId = scopedProjectId(ctx.auth);
  if (!ownerProjectId)
    throw new InvalidInputError('input', 'A token scoped to a project is required');
  return inTransaction(ctx.rt, async (tx) => {
    const [image] = await tx
      .insert(images)
      .values({
        name: data.name,
        ownerProjectId,
        visibility: 'private',
        diskFormat: source.diskFormat,
        containerFormat: source.containerFormat,
        minDiskGib: source.minDiskGib,
        minRamMib: source.minRamMib,
        tags: source.tags,
        properties: source.properties,
      })
      .returning();
    const operation = await startOperation(tx, {
      kind: IMPORT_JOB,
      projectId: ownerProjectId,
      createdByUserId: ctx.auth!.userId,
      resourceType: 'Image',
      resourceId: image.id,
      stageNames: ['copying'],
      input: { imageId: image.id, sourceImageId: source.id },
    });
    await imageEvent(tx, 'IMAGE_CREATED', image);
    return { image, operation };
  });
}

/** Worker side of importImage: copies the source's bytes into the new image. */
export async function runImageImport(rt: Runtime, operationId: string): Promise<void> {
  const [op] = await rt.db.select().from(operations).where(eq(operations.id, operationId));
  if (!op) return;
  const { imageId, sourceImageId } = op.input as { imageId: string; sourceImageId: string };
  await enterStage(rt.db, op.id, 0);
  const key = `image-${randomUUID()}`;
  try {
    const [saving] = await rt.db
      .update(images)
      .set({ status: 'saving' })
      .where(and(eq(images.id, imageId), eq(images.status, 'queued')))
      .returning();
    if (!saving) throw new ConflictError(`Image ${imageId} is no longer queued`);
    const [source] = await rt.db.select().from(images).where(eq(images.id, sourceImageId));
    if (source?.status !== 'active' || !source.storageKey) {
      throw new ConflictError(`The source image ${sourceImageId} is no longer active`);
    }
    await reserveBlobKey(rt.db, key);
    await rt.objectStore.copy(source.storageKey, key);
    await inTransaction(rt, async (tx) => {
      const [row] = await tx
        .update(images)
        .set({
          status: 'active',
          sizeBytes: source.sizeBytes,
          virtualSizeBytes: source.virtualSizeBytes,
          checksum: source.checksum,
          osHashAlgo: source.osHashAlgo,
          osHashValue: source.osHashValue,
          storageKey: key,
        })
        .where(eq(images.id, imageId))
        .returning();
      await claimBlobKeys(tx, [key]);
      await imageEvent(tx, 'IMAGE_UPDATED', row);
    });
    await finishOperation(rt.db, op.id, { result: { imageId } });
  } catch (error) {
    await discardBlob(rt, key);
    const reason = error instanceof Error ? error.message : String(error);
    await inTransaction(rt, async (tx) => {
      const [row] = await tx
        .update(images)
        .set({ status: 'killed', failureReason: reason })
        .where(and(eq(images.id, imageId), inArray(images.status, ['queued', 'saving'])))
        .returning();
      if (row) await imageEvent(tx, 'IMAGE_UPDATED', row);
    });
    await finishOperation(rt.db, op.id, { errorCode: 'IMPORT_FAILED', errorMessage: reason });
  }
}

/** The newest operation that fills each image (importImage), or null. */
export async function loadImageOperations(
  ctx: ServiceContext,
  imageIds: readonly string[],
): Promise<Array<OperationRow | null>> {
  const rows = imageIds.length
    ? await ctx.rt.db
        .selectDistinctOn([operations.resourceId])
        .from(operations)
        .where(
          and(eq(operations.resourceType, 'Image'), inArray(operations.resourceId, [...imageIds])),
        )
        .orderBy(operations.resourceId, desc(operations.createdAt))
    : [];
  const byImage = new Map(rows.map((r) => [r.resourceId, r]));
  return imageIds.map((id) => {
    const row = byImage.get(id) ?? null;
    return row && canSeeProject(ctx.auth, row.projectId) ? row : null;
  });
}

// ---- members ----

export type ImageMemberRow = typeof imageMembers.$inferSelect;

const memberInput = z.object({ imageId: z.string(), projectId: z.string() });

/** Shares an image with a project (owner); the image must be `shared`. */
export async function addImageMember(ctx: ServiceContext, input: unknown): Promise<ImageMemberRow> {
  authorize(ctx, 'images:modify');
  const data = parseInput(memberInput, input);
  return inTransaction(ctx.rt, async (tx) => {
    const image = await modifiableImage(ctx, tx, data.imageId);
    if (image.visibility !== 'shared') {
      throw new ConflictError(
        `Image "${image.name}" is ${image.visibility}; only shared images have members`,
      );
    }
    const [p] = isUuid(data.projectId)
      ? await tx.select({ id: projects.id }).from(projects).where(eq(projects.id, data.projectId))
      : [];
    if (!p)
      throw new InvalidInputError('input.projectId', `No project with id "${data.projectId}"`);
    if (p.id === image.ownerProjectId)
      throw new InvalidInputError(
        'input.projectId',
        'The owner project is not a member of its own image',
      );
    const [row] = await tx
      .insert(imageMembers)
      .values({ imageId: image.id, memberProjectId: p.id })
      .onConflictDoNothing()
      .returning();
    if (!row) throw new ConflictError('This project is already a member of the image');
    return row;
  });
}

/** The owner stops sharing with a project. */
export async function removeImageMember(
  ctx: ServiceContext,
  input: unknown,
): Promise<ImageMemberRow> {
  authorize(ctx, 'images:modify');
  const data = parseInput(memberInput, input);
  return inTransaction(ctx.rt, async (tx) => {
    const image = await modifiableImage(ctx, tx, data.imageId);
    const [row] = isUuid(data.projectId)
      ? await tx
          .delete(imageMembers)
          .where(
            and(
              eq(imageMembers.imageId, image.id),
              eq(imageMembers.memberProjectId, data.projectId),
            ),
          )
          .returning()
      : [];
    if (!row) throw new NotFoundError('image member', data.projectId);
    return row;
  });
}

const answerInput = z.object({
  imageId: z.string(),
  status: z.enum(['accepted', 'rejected', 'pending']),
});

/** A member project accepts or rejects an image shared with it; accepted images appear in its lists. */
export async function answerImageMembership(
  ctx: ServiceContext,
  input: unknown,
): Promise<ImageMemberRow> {
  authorize(ctx, 'images:answer_membership');
  const data = parseInput(answerInput, input);
  const own = scopedProjectId(ctx.auth);
  const [row] =
    own && isUuid(data.imageId)
      ? await ctx.rt.db
          .update(imageMembers)
          .set({ status: data.status })
          .where(and(eq(imageMembers.imageId, data.imageId), eq(imageMembers.memberProjectId, own)))
          .returning()
      : [];
  if (!row) throw new NotFoundError('image membership', data.imageId);
  return row;
}

export async function loadImageMembers(
  ctx: ServiceContext,
  imageIds: readonly string[],
): Promise<ImageMemberRow[][]> {
  const rows = await ctx.rt.db
    .select()
    .from(imageMembers)
    .where(inArray(imageMembers.imageId, [...imageIds]));
  return imageIds.map((id) => rows.filter((r) => r.imageId === id));
}

export function imageEvent(tx: Tx, kind: string, row: ImageRow) {
  return publishEvent(tx, {
    kind,
    projectId: row.ownerProjectId,
    resourceType: 'Image',
    resourceId: row.id,
    payload: { name: row.name, status: row.status },
  });
}
