import { and, eq, inArray } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import { type FlavorSnapshot, images, operations, servers } from '../../db/tables';
import type { KernelSpec, RootDiskSpec } from '../../drivers/compute/types';
import type { ComputeAgent } from '../../resolvers/compute/compute-agent';
import { NoValidHostError } from '../../resolvers/compute/errors';
import { finishAction } from '../../resolvers/compute/instance-actions';
import { publishServerEvent } from '../../resolvers/compute/server-events';
import { restingStateFor, type ServerRow } from '../../resolvers/compute/server-states';
import type { ImageRow } from '../../resolvers/images/access';
import { ImageFormatError } from '../../resolvers/images/upload';
import { enterStage, finishOperation, type OperationRow } from '../../resolvers/operations';
import type { Runtime } from '../../resolvers/runtime';

export const GIB = 1024 ** 3;

/** The server's task changed under the job (deleted, repaired): the job stops there. */
export class SupersededError extends Error {}

/** A failure with the code the operation reports. */
export class JobError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type ServerUpdate = Partial<typeof servers.$inferInsert>;

/** What every server job uses: the runtime, the host's agent, and the steps they share. */
export type JobKit = ReturnType<typeof jobKit>;

/** The shared steps of server jobs, bound to this process's runtime and compute agent. */
export function jobKit(rt: Runtime, agent: ComputeAgent) {
  const db = rt.db;

  /** Moves a server on only if its task is still `expectTask`; publishes the new row. */
  async function transition(
    serverId: string,
    expectTask: string,
    set: ServerUpdate,
  ): Promise<ServerRow> {
    return db.transaction(async (tx) => {
      const [row] = await tx
        .update(servers)
        .set(set)
        .where(and(eq(servers.id, serverId), eq(servers.taskState, expectTask)))
        .returning();
      if (!row) throw new SupersededError(`server ${serverId} left task ${expectTask}`);
      await publishServerEvent(tx, 'SERVER_UPDATED', row);
      return row;
    });
  }

  async function loadOp(operationId: string) {
    const [op] = await db.select().from(operations).where(eq(operations.id, operationId));
    const input = op.input as { serverId: string; actionId: string } & Record<string, unknown>;
    const [server] = await db.select().from(servers).where(eq(servers.id, input.serverId));
    return { op, input, server };
  }

  /**
   * Runs the operation's stages in order from stage `first`; stage i runs `steps[i]`. Entering
   * a stage ends the one before; finishOperation ends the last.
   */
  async function stages(op: OperationRow, steps: Array<() => Promise<void>>, first = 0) {
    for (let i = first; i < steps.length; i++) {
      await enterStage(db, op.id, i);
      await steps[i]();
    }
  }

  async function imageRows(ids: Array<string | null>): Promise<Map<string, ImageRow>> {
    const wanted = ids.filter((i): i is string => i !== null);
    const rows = wanted.length
      ? await db.select().from(images).where(inArray(images.id, wanted))
      : [];
    return new Map(rows.map((r) => [r.id, r]));
  }

  /** Fetches (or finds cached) the server's base image and kernel/ramdisk into the image cache. */
  async function fetchBootFiles(ids: {
    imageId: string | null;
    kernelImageId: string | null;
    ramdiskImageId: string | null;
  }): Promise<{ image: ImageRow; paths: Map<string, string> }> {
    const rows = await imageRows([ids.imageId, ids.kernelImageId, ids.ramdiskImageId]);
    const paths = new Map<string, string>();
    for (const id of [ids.imageId, ids.kernelImageId, ids.ramdiskImageId]) {
      if (!id) continue;
      const row = rows.get(id);
      if (!row || row.status === 'deleted' || !row.storageKey) {
        throw new JobError('IMAGE_UNAVAILABLE', `Image ${id} is no longer available`);
      }
      try {
        paths.set(id, await agent.imageCache.ensure(row));
      } catch (error) {
        throw new JobError('IMAGE_UNAVAILABLE', `Fetching image ${id} failed: ${String(error)}`);
      }
    }
    return { image: rows.get(ids.imageId!)!, paths };
  }

  function rootDisk(
    image: ImageRow,
    paths: Map<string, string>,
    flavor: FlavorSnapshot,
  ): RootDiskSpec {
    const virtualGib = Math.ceil((image.virtualSizeBytes ?? image.sizeBytes ?? 0) / GIB);
    return {
      baseImagePath: paths.get(image.id)!,
      format: image.diskFormat === 'qcow2' ? 'qcow2' : 'raw',
      sizeGib: Math.max(flavor.rootDiskGib, virtualGib, 1),
    };
  }

  function kernel(
    image: ImageRow,
    ids: { kernelImageId: string | null; ramdiskImageId: string | null },
    paths: Map<string, string>,
  ): KernelSpec | undefined {
    if (!ids.kernelImageId) return undefined;
    return {
      kernelPath: paths.get(ids.kernelImageId)!,
      initrdPath: ids.ramdiskImageId ? paths.get(ids.ramdiskImageId) : undefined,
      cmdline: image.properties.os_command_line,
    };
  }

  /** What the guest reads from fw_cfg `opt/stratus/meta-data`: the server's metadata plus its identity. */
  function guestMetadata(server: ServerRow): Record<string, string> {
    return {
      ...server.metadata,
      'stratus:server-id': server.id,
      'stratus:name': server.name,
      ...(server.keyData ? { 'stratus:public-key': server.keyData } : {}),
    };
  }

  async function fail(
    op: OperationRow,
    actionId: string,
    error: unknown,
    repair: ServerUpdate | null,
    serverId: string,
  ): Promise<void> {
    if (error instanceof SupersededError) {
      await finishOperation(db, op.id, {
        errorCode: 'SUPERSEDED',
        errorMessage: 'The server changed while this operation ran (deleted or repaired)',
      });
      await db.transaction((tx) => finishAction(tx, actionId, 'Superseded'));
      return;
    }
    const code =
      error instanceof JobError
        ? error.code
        : error instanceof NoValidHostError
          ? 'NO_VALID_HOST'
          : error instanceof ImageFormatError
            ? 'IMAGE_INVALID'
            : 'HYPERVISOR_ERROR';
    const message = error instanceof Error ? error.message : String(error);
    rt.logger.warn({ err: error, operationId: op.id, serverId }, 'server operation failed');
    await db.transaction(async (tx) => {
      if (repair) {
        const [row] = await tx
          .update(servers)
          .set(repair)
          .where(eq(servers.id, serverId))
          .returning();
        if (row) await publishServerEvent(tx, 'SERVER_UPDATED', row);
      }
      await finishAction(tx, actionId, message);
    });
    await finishOperation(db, op.id, { errorCode: code, errorMessage: message });
  }

  /** What the host shows now, as the state a failed action leaves the server in. */
  async function observedState(serverId: string): Promise<ServerUpdate> {
    const status = await agent.driver.status(serverId).catch(() => null);
    const power = status?.powerState ?? 'shutdown';
    return { taskState: null, powerState: power, vmState: restingStateFor(power) };
  }

  return {
    rt,
    db,
    agent,
    transition,
    loadOp,
    stages,
    fetchBootFiles,
    rootDisk,
    kernel,
    guestMetadata,
    fail,
    observedState,
  };
}

/** Quota a server holds: during a resize, the larger of its two flavors. */
export function heldFlavor(row: ServerRow): { vcpus: number; ramMib: number } {
  const old = row.oldFlavor;
  return {
    vcpus: Math.max(row.flavor.vcpus, old?.vcpus ?? 0),
    ramMib: Math.max(row.flavor.ramMib, old?.ramMib ?? 0),
  };
}

/** The state a failed build leaves the server in: ERROR with its fault. */
export function buildFailure(error: unknown): ServerUpdate {
  const message = error instanceof Error ? error.message : String(error);
  return {
    vmState: 'error',
    taskState: null,
    powerState: 'nostate',
    host: null,
    fault: {
      // Nova records every build failure, NoValidHost included, as a 500 fault.
      code: 500,
      message: error instanceof NoValidHostError ? message : 'Build of the server failed',
      details: message,
      createdAt: new Date().toISOString(),
    },
  };
}

/** The server's row locked for scheduling; superseded when its task is no longer scheduling. */
export async function lockScheduling(tx: Tx, serverId: string): Promise<ServerRow> {
  const [row] = await tx.select().from(servers).where(eq(servers.id, serverId)).for('update');
  if (row.taskState !== 'scheduling') throw new SupersededError('not scheduling');
  return row;
}
