import { and, eq, inArray, like } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { containers, objects, projects } from '../../db/tables';
import { authorize } from '../authorize';
import { ConflictError, InvalidInputError, NameTakenError, NotFoundError } from '../errors';
import { publishEvent } from '../events';
import { isAdmin, scopedProjectId } from '../identity/auth-context';
import { type ListResult, type Page, selectPage } from '../pagination';
import { releaseQuota, reserveQuota } from '../quotas';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, parseInput, uniqueViolation } from '../validation';
import { type ContainerRow, canReadContainer, canWriteContainer } from './access';
import { deleteBlobsAfterCommit } from './blobs';
import { checkContainerName, checkMetadata } from './names';

export type { ContainerRow };

/** Containers of the caller's project (an admin may name any project), by name. */
export async function listContainers(
  ctx: ServiceContext,
  filter: { prefix?: string | null; projectId?: string | null },
  page: Page,
): Promise<ListResult<ContainerRow>> {
  authorize(ctx, 'objects:list_containers');
  const projectId =
    isAdmin(ctx.auth) && filter.projectId ? filter.projectId : scopedProjectId(ctx.auth);
  if (!projectId || !isUuid(projectId)) return { rows: [], totalCount: 0 };
  const where = and(
    eq(containers.projectId, projectId),
    filter.prefix
      ? like(containers.name, `${filter.prefix.replace(/[\\%_]/g, '\\$&')}%`)
      : undefined,
  );
  return selectPage(
    ctx.rt.db,
    containers,
    where,
    { column: containers.name, direction: 'ASC', tiebreak: containers.id },
    page,
  );
}

/** Containers by id, null where the caller may not read. */
export async function loadContainers(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<ContainerRow | null>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db.select().from(containers).where(inArray(containers.id, valid))
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id);
    return row && ctx.auth && canReadContainer(ctx.auth, row) ? row : null;
  });
}

/** Finds a container by project and name for the HTTP API; null when absent. */
export async function findContainer(
  ctx: ServiceContext,
  projectId: string,
  name: string,
): Promise<ContainerRow | null> {
  if (!isUuid(projectId)) return null;
  const [row] = await ctx.rt.db
    .select()
    .from(containers)
    .where(and(eq(containers.projectId, projectId), eq(containers.name, name)));
  return row ?? null;
}

/** Loads a container the caller may write, or throws NotFoundError (never revealing others' containers). */
export async function writableContainer(
  ctx: ServiceContext,
  tx: Tx,
  id: string,
  /** True when the request already proved write access another way (a PUT temp URL). */
  preauthorized = false,
): Promise<ContainerRow> {
  const [row] = isUuid(id)
    ? await tx.select().from(containers).where(eq(containers.id, id)).for('update')
    : [];
  if (!row || !(preauthorized || canWriteContainer(ctx.auth, row)))
    throw new NotFoundError('container', id);
  return row;
}

const aclInput = {
  readAcl: z.enum(['PRIVATE', 'PUBLIC', 'PROJECTS']).optional(),
  readProjectIds: z.array(z.string()).max(100).optional(),
  quotaBytes: z.number().int().min(0).nullish(),
  quotaObjects: z.number().int().min(0).nullish(),
  metadata: z.record(z.string(), z.string()).optional(),
};
const createInput = z.object({ name: z.string(), ...aclInput });
const updateInput = z.object({ id: z.string(), ...aclInput });

async function checkReadProjects(tx: Tx, ids: string[] | undefined): Promise<void> {
  for (const [i, id] of (ids ?? []).entries()) {
    const [p] = isUuid(id)
      ? await tx.select({ id: projects.id }).from(projects).where(eq(projects.id, id))
      : [];
    if (!p) throw new InvalidInputError(`input.readProjectIds.${i}`, `No project with id "${id}"`);
  }
}

/** Creates a container in the caller's project, counted against the `containers` quota. */
export async function createContainer(ctx: ServiceContext, input: unknown): Promise<ContainerRow> {
  authorize(ctx, 'objects:create_container');
  const data = parseInput(createInput, input);
  const name = checkContainerName(data.name);
  const metadata = checkMetadata(data.metadata ?? {});
  const projectId = scopedProjectId(ctx.auth);
  if (!projectId) throw new InvalidInputError('input', 'A token scoped to a project is required');
  try {
    return await inTransaction(ctx.rt, async (tx) => {
      await checkReadProjects(tx, data.readProjectIds);
      await reserveQuota(tx, ctx.rt.config.quotaDefaults, projectId, { containers: 1 });
      const [row] = await tx
        .insert(containers)
        .values({
          projectId,
          name,
          metadata,
          readAcl: data.readAcl ?? 'PRIVATE',
          readProjectIds: data.readProjectIds ?? [],
          quotaBytes: data.quotaBytes ?? null,
          quotaObjects: data.quotaObjects ?? null,
        })
        .returning();
      await containerEvent(tx, 'CONTAINER_CREATED', row);
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'containers_project_name_key')
      throw new NameTakenError('container', name, ' in this project');
    throw error;
  }
}

/** Changes a container's metadata, read ACL or quotas. */
export async function updateContainer(ctx: ServiceContext, input: unknown): Promise<ContainerRow> {
  authorize(ctx, 'objects:update_container');
  const { id, ...changes } = parseInput(updateInput, input);
  const metadata = changes.metadata ? checkMetadata(changes.metadata) : undefined;
  return inTransaction(ctx.rt, async (tx) => {
    await writableContainer(ctx, tx, id);
    await checkReadProjects(tx, changes.readProjectIds);
    const [row] = await tx
      .update(containers)
      .set({
        ...(metadata ? { metadata } : {}),
        ...(changes.readAcl ? { readAcl: changes.readAcl } : {}),
        ...(changes.readProjectIds ? { readProjectIds: changes.readProjectIds } : {}),
        ...(changes.quotaBytes !== undefined ? { quotaBytes: changes.quotaBytes } : {}),
        ...(changes.quotaObjects !== undefined ? { quotaObjects: changes.quotaObjects } : {}),
      })
      .where(eq(containers.id, id))
      .returning();
    await containerEvent(tx, 'CONTAINER_UPDATED', row);
    return row;
  });
}

/** Deletes a container; one holding objects is refused unless `emptyFirst`, which deletes them too. */
export async function deleteContainer(
  ctx: ServiceContext,
  id: string,
  emptyFirst: boolean,
): Promise<ContainerRow> {
  authorize(ctx, 'objects:delete_container');
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const container = await writableContainer(ctx, tx, id);
    if (container.objectCount > 0 && !emptyFirst) {
      throw new ConflictError(
        `Container "${container.name}" holds ${container.objectCount} objects; empty it first or pass emptyFirst`,
      );
    }
    const held = await tx
      .select({ storageKey: objects.storageKey, segments: objects.segments })
      .from(objects)
      .where(eq(objects.containerId, id));
    const keys = held
      .flatMap((o) => [o.storageKey, ...(o.segments ?? []).map((s) => s.storageKey)])
      .filter((k): k is string => !!k);
    await tx.delete(containers).where(eq(containers.id, id));
    await releaseQuota(tx, container.projectId, { containers: 1, bytes: container.bytesUsed });
    await deleteBlobsAfterCommit(ctx, tx, keys, afterCommit);
    await containerEvent(tx, 'CONTAINER_DELETED', container);
    return container;
  });
}

function containerEvent(tx: Tx, kind: string, row: ContainerRow) {
  return publishEvent(tx, {
    kind,
    projectId: row.projectId,
    resourceType: 'Container',
    resourceId: row.id,
    payload: { name: row.name, objectCount: row.objectCount, bytesUsed: row.bytesUsed },
  });
}
