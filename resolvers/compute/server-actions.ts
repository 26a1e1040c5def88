import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { images, servers } from '../../db/tables';
import { authorize } from '../authorize';
import { InvalidInputError, NotFoundError } from '../errors';
import { canSeeProject, isAdmin } from '../identity/auth-context';
import { imageEvent } from '../images/images';
import { type OperationRow, startOperation } from '../operations';
import { reserveQuota } from '../quotas';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, nameSchema, parseInput } from '../validation';
import { baremetalClassOf, checkBaremetalAction } from './baremetal-servers';
import { ServerLockedError, ServerStateError } from './errors';
import { loadFlavors } from './flavors';
import { finishAction, recordAction } from './instance-actions';
import { actionJob, DELETE_JOB, jobFor } from './jobs';
import { publishServerEvent } from './server-events';
import {
  ACTION_RULES,
  DELETE_STAGES,
  type ServerRow,
  type SlowAction,
  serverStatus,
} from './server-states';
import {
  bootableImage,
  flavorSnapshot,
  metadataSchema,
  requireCompute,
  tagsSchema,
} from './servers';

export interface StartedAction {
  server: ServerRow;
  operation: OperationRow;
}

/** The server row locked for this transaction, if the caller may see it; NotFoundError otherwise. */
async function lockServer(ctx: ServiceContext, tx: Tx, id: string): Promise<ServerRow> {
  const [row] = isUuid(id)
    ? await tx.select().from(servers).where(eq(servers.id, id)).for('update')
    : [];
  if (!row || !canSeeProject(ctx.auth, row.projectId) || row.vmState === 'deleted') {
    throw new NotFoundError('server', id);
  }
  return row;
}

function checkUnlocked(ctx: ServiceContext, row: ServerRow): void {
  if (row.locked && !isAdmin(ctx.auth)) throw new ServerLockedError(row.id, row.lockedReason);
}

/**
 * Starts a slow action: checks the state (Nova's check_instance_state, plus "no task running"),
 * marks the task, records the instance action and enqueues the job, all in one transaction, so
 * a refused action changes nothing and two racing actions cannot both start.
 */
async function startAction(
  ctx: ServiceContext,
  serverId: string,
  action: SlowAction | 'delete',
  options: {
    input?: Record<string, unknown>;
    task?: string;
    /** Extra checks and changes under the same lock (resize's quota, snapshot's image row). */
    prepare?: (tx: Tx, row: ServerRow) => Promise<Record<string, unknown> | undefined>;
  } = {},
): Promise<StartedAction> {
  authorize(ctx, action === 'delete' ? 'compute:delete_server' : 'compute:server_action');
  await requireCompute(ctx);
  // Delete is allowed from any state and during any task but another delete (as in Nova).
  const rule =
    action === 'delete'
      ? { from: null, task: 'deleting', stages: DELETE_STAGES, job: DELETE_JOB }
      : { ...ACTION_RULES[action], job: actionJob(action) };
  return inTransaction(ctx.rt, async (tx) => {
    const row = await lockServer(ctx, tx, serverId);
    checkUnlocked(ctx, row);
    checkBaremetalAction(row, action);
    const refused =
      rule.from === null
        ? row.taskState === 'deleting'
        : row.taskState !== null || !rule.from.includes(row.vmState);
    if (refused) {
      throw new ServerStateError(
        row.id,
        action,
        serverStatus(row.vmState, row.taskState),
        row.taskState,
      );
    }
    const extra = (await options.prepare?.(tx, row)) ?? {};
    const [updated] = await tx
      .update(servers)
      .set({ taskState: options.task ?? rule.task })
      .where(eq(servers.id, row.id))
      .returning();
    const recorded = await recordAction(tx, {
      serverId: row.id,
      projectId: row.projectId,
      userId: ctx.auth!.userId,
      action,
      requestId: ctx.requestId,
    });
    const operation = await startOperation(tx, {
      kind: rule.job,
      jobName: jobFor(rule.job, row.host),
      projectId: row.projectId,
      createdByUserId: ctx.auth!.userId,
      resourceType: 'Server',
      resourceId: row.id,
      stageNames: rule.stages,
      input: { ...options.input, ...extra, serverId: row.id, actionId: recorded.id },
    });
    await publishServerEvent(tx, 'SERVER_UPDATED', updated);
    return { server: updated, operation };
  });
}

export const startServer = (ctx: ServiceContext, id: string) => startAction(ctx, id, 'start');
export const stopServer = (ctx: ServiceContext, id: string) => startAction(ctx, id, 'stop');
export const pauseServer = (ctx: ServiceContext, id: string) => startAction(ctx, id, 'pause');
export const unpauseServer = (ctx: ServiceContext, id: string) => startAction(ctx, id, 'unpause');
export const suspendServer = (ctx: ServiceContext, id: string) => startAction(ctx, id, 'suspend');
export const resumeServer = (ctx: ServiceContext, id: string) => startAction(ctx, id, 'resume');

/** Soft (ACPI, then hard after a timeout) or hard reboot; soft needs an ACTIVE server, as in Nova. */
export function rebootServer(ctx: ServiceContext, id: string, hard: boolean) {
  return startAction(ctx, id, 'reboot', {
    input: { hard },
    task: hard ? 'rebooting_hard' : 'rebooting',
    prepare: async (_tx, row) => {
      if (!hard && row.vmState !== 'active') {
        throw new ServerStateError(row.id, 'reboot', serverStatus(row.vmState, null), null);
      }
      return undefined;
    },
  });
}

/** Replaces the root disk with a fresh one from `imageId` (checked against the server's flavor). */
export async function rebuildServer(ctx: ServiceContext, id: string, imageId: string) {
  const current = await lockFreeRead(ctx, id);
  refuseVolumeBacked(current, 'rebuildServer');
  const boot = await bootableImage(ctx, imageId, current.flavor, 'input.imageId');
  return startAction(ctx, id, 'rebuild', {
    input: {
      imageId: boot.image.id,
      kernelImageId: boot.kernel?.id ?? null,
      ramdiskImageId: boot.ramdisk?.id ?? null,
    },
  });
}

/**
 * Resizes to another flavor on this host; VERIFY_RESIZE then waits for confirm or revert.
 * Quota holds the larger of both sizes until then (Nova counts it the same way).
 */
export async function resizeServer(ctx: ServiceContext, id: string, flavorId: string) {
  const current = await lockFreeRead(ctx, id);
  const [flavor] = isUuid(flavorId) ? await loadFlavors(ctx, [flavorId]) : [null];
  if (!flavor) throw new InvalidInputError('input.flavorId', `No flavor with id "${flavorId}"`);
  if (flavor.id === current.flavor.flavorId) {
    throw new InvalidInputError('input.flavorId', 'The server already has this flavor');
  }
  if (baremetalClassOf(flavor.extraSpecs)) {
    throw new InvalidInputError(
      'input.flavorId',
      'A server cannot be resized to a bare-metal flavor',
    );
  }
  if (flavor.rootDiskGib < current.flavor.rootDiskGib) {
    throw new InvalidInputError(
      'input.flavorId',
      `Resizing to a smaller root disk (${flavor.rootDiskGib} GiB < ${current.flavor.rootDiskGib} GiB) is not allowed`,
    );
  }
  if (current.imageId) {
    const [image] = await ctx.rt.db.select().from(images).where(eq(images.id, current.imageId));
    if (image && image.minRamMib > flavor.ramMib) {
      throw new InvalidInputError(
        'input.flavorId',
        `Flavor's memory (${flavor.ramMib} MiB) is too small for the server's image (min_ram ${image.minRamMib} MiB)`,
      );
    }
  }
  return startAction(ctx, id, 'resize', {
    prepare: async (tx, row) => {
      await reserveQuota(tx, ctx.rt.config.quotaDefaults, row.projectId, {
        cores: Math.max(0, flavor.vcpus - row.flavor.vcpus),
        ram_mib: Math.max(0, flavor.ramMib - row.flavor.ramMib),
      });
      return { newFlavor: flavorSnapshot(flavor) };
    },
  });
}

export const confirmResize = (ctx: ServiceContext, id: string) =>
  startAction(ctx, id, 'confirmResize');
export const revertResize = (ctx: ServiceContext, id: string) =>
  startAction(ctx, id, 'revertResize');

const snapshotInput = z.object({ name: nameSchema });

/** Snapshots the root disk into a new private image of the server's project (queued until uploaded). */
export async function createServerImage(
  ctx: ServiceContext,
  id: string,
  input: unknown,
): Promise<StartedAction & { imageId: string }> {
  const data = parseInput(snapshotInput, input);
  authorize(ctx, 'images:create');
  let imageId = '';
  const started = await startAction(ctx, id, 'createImage', {
    prepare: async (tx, row) => {
      refuseVolumeBacked(row, 'createServerImage');
      const [image] = await tx
        .insert(images)
        .values({
          name: data.name,
          ownerProjectId: row.projectId,
          visibility: 'private',
          diskFormat: 'qcow2',
          containerFormat: 'bare',
          minDiskGib: row.flavor.rootDiskGib,
          minRamMib: 0,
          properties: {
            image_type: 'snapshot',
            instance_uuid: row.id,
            ...(row.imageId ? { base_image_ref: row.imageId } : {}),
          },
        })
        .returning();
      await imageEvent(tx, 'IMAGE_CREATED', image);
      imageId = image.id;
      return { imageId: image.id };
    },
  });
  return { ...started, imageId };
}

/** Deletes a server (any state but a delete in progress); quota is released once it is gone. */
export const deleteServer = (ctx: ServiceContext, id: string) => startAction(ctx, id, 'delete');

/**
 * A volume-backed server (booted from a volume: no image of its own) keeps its root disk in
 * the volume: snapshot or re-image the volume instead. Servers from images always have one.
 */
function refuseVolumeBacked(row: ServerRow, action: string): void {
  if (row.imageId) return;
  throw new InvalidInputError(
    'input.id',
    `Server ${row.id} is volume-backed (booted from a volume): ${action} is not supported; snapshot the volume instead`,
  );
}

/** Reads a server for validation before the locked transaction (which checks state again). */
async function lockFreeRead(ctx: ServiceContext, id: string): Promise<ServerRow> {
  authorize(ctx, 'compute:server_action');
  const [row] = isUuid(id) ? await ctx.rt.db.select().from(servers).where(eq(servers.id, id)) : [];
  if (!row || !canSeeProject(ctx.auth, row.projectId) || row.vmState === 'deleted') {
    throw new NotFoundError('server', id);
  }
  return row;
}

// ---- quick changes: no job, no state check beyond the lock ----

const updateInput = z.object({
  id: z.string(),
  name: nameSchema.nullish(),
  metadata: metadataSchema.nullish(),
  tags: tagsSchema.nullish(),
});

/** Renames a server, or replaces its metadata or tags. */
export async function updateServer(ctx: ServiceContext, input: unknown): Promise<ServerRow> {
  authorize(ctx, 'compute:server_action');
  const data = parseInput(updateInput, input);
  return inTransaction(ctx.rt, async (tx) => {
    const row = await lockServer(ctx, tx, data.id);
    checkUnlocked(ctx, row);
    const [updated] = await tx
      .update(servers)
      .set({
        ...(data.name != null ? { name: data.name } : {}),
        ...(data.metadata != null ? { metadata: data.metadata } : {}),
        ...(data.tags != null ? { tags: [...new Set(data.tags)] } : {}),
      })
      .where(eq(servers.id, row.id))
      .returning();
    await recordQuickAction(ctx, tx, updated, 'update');
    await publishServerEvent(tx, 'SERVER_UPDATED', updated);
    return updated;
  });
}

/**
 * Locks or unlocks a server. Locked, only admins act on it; the owner may unlock a lock they
 * set, an admin's lock only an admin lifts or replaces (Nova's locked_by).
 */
export async function setServerLocked(
  ctx: ServiceContext,
  id: string,
  locked: boolean,
  reason: string | null,
): Promise<ServerRow> {
  authorize(ctx, 'compute:server_action');
  if (reason != null && reason.length > 255) {
    throw new InvalidInputError('input.reason', 'input.reason must be at most 255 characters');
  }
  return inTransaction(ctx.rt, async (tx) => {
    const row = await lockServer(ctx, tx, id);
    const admin = isAdmin(ctx.auth);
    // Locking again must not turn an admin's lock into the owner's, which the owner could lift.
    if (row.locked && row.lockedBy === 'admin' && !admin) {
      throw new ServerLockedError(row.id, row.lockedReason);
    }
    const [updated] = await tx
      .update(servers)
      .set(
        locked
          ? { locked: true, lockedBy: admin ? 'admin' : 'owner', lockedReason: reason }
          : { locked: false, lockedBy: null, lockedReason: null },
      )
      .where(eq(servers.id, row.id))
      .returning();
    await recordQuickAction(ctx, tx, updated, locked ? 'lock' : 'unlock');
    await publishServerEvent(tx, 'SERVER_UPDATED', updated);
    return updated;
  });
}

async function recordQuickAction(ctx: ServiceContext, tx: Tx, row: ServerRow, action: string) {
  const recorded = await recordAction(tx, {
    serverId: row.id,
    projectId: row.projectId,
    userId: ctx.auth!.userId,
    action,
    requestId: ctx.requestId,
  });
  await finishAction(tx, recorded.id, null);
}
