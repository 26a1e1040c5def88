import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { type FlavorSnapshot, images, operations, servers } from '../../db/tables';
import type { InstanceSpec, KernelSpec, RootDiskSpec } from '../../drivers/compute/types';
import type { ComputeAgent } from '../../resolvers/compute/compute-agent';
import { NoValidHostError } from '../../resolvers/compute/errors';
import { finishAction, inActionEvent } from '../../resolvers/compute/instance-actions';
import { BUILD_JOB, onHost } from '../../resolvers/compute/jobs';
import { groupPlacement, lockHostStates, selectHost } from '../../resolvers/compute/scheduler';
import { publishServerEvent } from '../../resolvers/compute/server-events';
import {
  ACTION_RULES,
  restingStateFor,
  type ServerRow,
  type SlowAction,
  type VmState,
} from '../../resolvers/compute/server-states';
import type { ImageRow } from '../../resolvers/images/access';
import { ImageFormatError, storeImageBytes } from '../../resolvers/images/upload';
import { enterStage, finishOperation, type OperationRow } from '../../resolvers/operations';
import { releaseQuota } from '../../resolvers/quotas';
import type { Runtime } from '../../resolvers/runtime';

const GIB = 1024 ** 3;

/** The server's task changed under the job (deleted, repaired): the job stops there. */
class SupersededError extends Error {}

/** A failure with the code the operation reports. */
class JobError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type ServerUpdate = Partial<typeof servers.$inferInsert>;

export interface ServerJobs {
  /** The host these jobs run on. */
  hostname: string;
  build(operationId: string, resumed: boolean): Promise<void>;
  delete(operationId: string): Promise<void>;
  action(operationId: string, action: SlowAction): Promise<void>;
}

/** The jobs behind createServer, deleteServer and every slow server action. */
export function serverJobs(rt: Runtime, agent: ComputeAgent): ServerJobs {
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

  /**
   * The build: schedules (on any compute host), then fetches the image and spawns on the chosen
   * host. When the scheduler picks another host, the rest is handed to that host's process
   * (`resumed`) through its own job name, in the scheduling transaction.
   */
  async function build(operationId: string, resumed: boolean): Promise<void> {
    const { op, input, server } = await loadOp(operationId);
    if (!server) return;
    await agent.withServer(server.id, async () => {
      let handedOver = false;
      try {
        if (
          resumed &&
          (server.taskState !== 'block_device_mapping' || server.host !== agent.hostname)
        ) {
          throw new SupersededError('not waiting for this host');
        }
        let current = server;
        let files: Awaited<ReturnType<typeof fetchBootFiles>> | null = null;
        let spec: InstanceSpec | null = null;
        // One step per BUILD_STAGES entry: scheduling, fetching-image, creating-disk, spawning.
        const steps = [
          async () => {
            current = await inActionEvent(db, input.actionId, 'schedule_instance', () =>
              db.transaction(async (tx) => {
                const [row] = await tx
                  .select()
                  .from(servers)
                  .where(eq(servers.id, server.id))
                  .for('update');
                if (row.taskState !== 'scheduling') throw new SupersededError('not scheduling');
                const hosts = await lockHostStates(tx);
                const group = await groupPlacement(tx, row.serverGroupId, row.id);
                const host = selectHost(
                  hosts,
                  {
                    vcpus: row.flavor.vcpus,
                    ramMib: row.flavor.ramMib,
                    diskGib: row.flavor.rootDiskGib + row.flavor.ephemeralGib,
                    availabilityZone: row.availabilityZone,
                    group,
                  },
                  rt.config.compute.allocationRatios,
                );
                const [updated] = await tx
                  .update(servers)
                  .set({ host: host.hostname, taskState: 'block_device_mapping' })
                  .where(eq(servers.id, row.id))
                  .returning();
                await publishServerEvent(tx, 'SERVER_UPDATED', updated);
                if (host.hostname !== agent.hostname) {
                  handedOver = true;
                  await tx.execute(
                    sql`select graphile_worker.add_job(${onHost(BUILD_JOB, host.hostname)}, ${JSON.stringify({ operationId: op.id })}::json, max_attempts => 1)`,
                  );
                }
                return updated;
              }),
            );
          },
          async () => {
            files = await inActionEvent(db, input.actionId, 'fetch_image', () =>
              fetchBootFiles(current),
            );
          },
          async () => {
            // creating-disk: what the root disk is made of (the driver's spawn creates the
            // overlay over the cached base image as its first step).
            const { image, paths } = files!;
            spec = {
              instanceId: current.id,
              name: current.name,
              vcpus: current.flavor.vcpus,
              memoryMib: current.flavor.ramMib,
              rootDisk: rootDisk(image, paths, current.flavor),
              kernel: kernel(image, current, paths),
              userData: current.userData ?? undefined,
              metadata: guestMetadata(current),
            };
          },
          async () => {
            current = await transition(server.id, 'block_device_mapping', {
              taskState: 'spawning',
            });
            const handle = await inActionEvent(
              db,
              input.actionId,
              'compute_build_and_run_instance',
              () =>
                agent.driver.spawn(spec!).catch((error: unknown) => {
                  throw new JobError(
                    'SPAWN_FAILED',
                    error instanceof Error ? error.message : String(error),
                  );
                }),
            );
            current = await transition(server.id, 'spawning', {
              taskState: null,
              vmState: 'active',
              powerState: handle.powerState,
              launchedAt: new Date(),
            });
          },
        ];
        if (!resumed) {
          await stages(op, steps.slice(0, 1));
          if (handedOver) return;
        }
        await stages(op, steps, 1);
        await db.transaction((tx) => finishAction(tx, input.actionId, null));
        await finishOperation(db, op.id, { result: { serverId: server.id } });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        await fail(
          op,
          input.actionId,
          error,
          {
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
          },
          server.id,
        );
      }
    });
  }

  async function remove(operationId: string): Promise<void> {
    const { op, input, server } = await loadOp(operationId);
    if (!server) return;
    await agent.withServer(server.id, async () => {
      try {
        await stages(op, [
          async () => {
            await inActionEvent(db, input.actionId, 'compute_terminate_instance', () =>
              agent.driver.destroy(server.id),
            );
            await db.transaction(async (tx) => {
              const [row] = await tx
                .update(servers)
                .set({
                  vmState: 'deleted',
                  taskState: null,
                  powerState: 'nostate',
                  terminatedAt: new Date(),
                })
                .where(and(eq(servers.id, server.id), eq(servers.taskState, 'deleting')))
                .returning();
              if (!row) throw new SupersededError('not deleting');
              const held = heldFlavor(row);
              await releaseQuota(tx, row.projectId, {
                instances: 1,
                cores: held.vcpus,
                ram_mib: held.ramMib,
              });
              await finishAction(tx, input.actionId, null);
              await publishServerEvent(tx, 'SERVER_DELETED', row);
            });
          },
        ]);
        await finishOperation(db, op.id, { result: { serverId: server.id } });
        void agent.imageCache.prune(db).catch(() => {});
      } catch (error) {
        await fail(op, input.actionId, error, { ...(await observedState(server.id)) }, server.id);
      }
    });
  }

  async function action(operationId: string, name: SlowAction): Promise<void> {
    const { op, input, server } = await loadOp(operationId);
    if (!server) return;
    const task = server.taskState ?? ACTION_RULES[name].task;
    await agent.withServer(server.id, async () => {
      try {
        const result = await stagesOf(name, op, input, server, task);
        await db.transaction((tx) => finishAction(tx, input.actionId, null));
        await finishOperation(db, op.id, { result: { serverId: server.id, ...result } });
      } catch (error) {
        if (name === 'resize' && !(error instanceof SupersededError)) {
          await rollBackResize(server, input.newFlavor as FlavorSnapshot);
        }
        const repair: ServerUpdate = { ...(await observedState(server.id)) };
        if (name === 'resize') {
          Object.assign(repair, {
            flavor: server.flavor,
            flavorId: server.flavorId,
            oldFlavor: null,
          });
        }
        // A failed confirm or revert stays in VERIFY_RESIZE: the resize is still pending.
        if (name === 'confirmResize' || name === 'revertResize') repair.vmState = 'resized';
        if (name === 'createImage' && typeof input.imageId === 'string') {
          await db
            .update(images)
            .set({ status: 'killed', failureReason: String(error) })
            .where(and(eq(images.id, input.imageId), inArray(images.status, ['queued', 'saving'])));
        }
        await fail(op, input.actionId, error, repair, server.id);
      }
    });
  }

  /**
   * Undoes a resize that failed part way: the host goes back to the old size (and runs again
   * if it ran before), and the quota reserved for the larger size is given back.
   */
  async function rollBackResize(server: ServerRow, newFlavor: FlavorSnapshot): Promise<void> {
    const d = agent.driver;
    try {
      if (await d.hasPendingResize(server.id)) {
        await d.powerOff(server.id, { graceful: false });
        await d.revertResize(server.id);
      }
      if (server.powerState === 'running') await d.start(server.id);
    } catch (err) {
      rt.logger.error({ err, serverId: server.id }, 'rolling back a failed resize failed');
    }
    await db.transaction((tx) =>
      releaseQuota(tx, server.projectId, {
        cores: Math.max(0, newFlavor.vcpus - server.flavor.vcpus),
        ram_mib: Math.max(0, newFlavor.ramMib - server.flavor.ramMib),
      }),
    );
  }

  /** The steps of each action, one per stage named in ACTION_RULES. */
  async function stagesOf(
    name: SlowAction,
    op: OperationRow,
    input: Record<string, unknown> & { actionId: string },
    server: ServerRow,
    task: string,
  ): Promise<Record<string, unknown>> {
    const d = agent.driver;
    const id = server.id;
    const event = <T>(label: string, step: () => Promise<T>) =>
      inActionEvent(db, input.actionId, label, step);
    const settle = (vmState: VmState, extra: ServerUpdate = {}) =>
      transition(id, task, { taskState: null, vmState, ...extra });
    const powerOff = () =>
      event('compute_power_off_instance', () =>
        d.powerOff(id, { graceful: true, timeoutMs: agent.shutdownTimeoutMs }),
      );
    const wasRunning = server.powerState === 'running';

    switch (name) {
      case 'start':
        await stages(op, [
          async () => {
            const h = await event('compute_start_instance', () => d.start(id));
            await settle('active', { powerState: h.powerState });
          },
        ]);
        return {};
      case 'stop':
        await stages(op, [
          async () => {
            await powerOff();
            await settle('stopped', { powerState: 'shutdown' });
          },
        ]);
        return {};
      case 'reboot': {
        const hard = input.hard === true;
        await stages(op, [
          async () => {
            const r = await event(hard ? 'compute_reboot_hard' : 'compute_reboot_soft', () =>
              d.reboot(id, { hard, timeoutMs: agent.shutdownTimeoutMs }),
            );
            await settle('active', { powerState: 'running' });
            return void r;
          },
        ]);
        return {};
      }
      case 'pause':
      case 'unpause':
      case 'suspend':
      case 'resume': {
        const target: Record<typeof name, [VmState, ServerRow['powerState']]> = {
          pause: ['paused', 'paused'],
          unpause: ['active', 'running'],
          suspend: ['suspended', 'suspended'],
          resume: ['active', 'running'],
        };
        await stages(op, [
          async () => {
            await event(`compute_${name}_instance`, () => d[name](id));
            await settle(target[name][0], { powerState: target[name][1] });
          },
        ]);
        return {};
      }
      case 'rebuild': {
        const ids = {
          imageId: input.imageId as string,
          kernelImageId: (input.kernelImageId as string | null) ?? null,
          ramdiskImageId: (input.ramdiskImageId as string | null) ?? null,
        };
        let files: Awaited<ReturnType<typeof fetchBootFiles>> | null = null;
        const wasStopped = server.vmState === 'stopped';
        await stages(op, [
          () => powerOff().then(() => {}),
          async () => {
            files = await event('fetch_image', () => fetchBootFiles(ids));
          },
          async () => {
            const { image, paths } = files!;
            await event('compute_rebuild_instance', () =>
              d.rebuild(id, {
                rootDisk: rootDisk(image, paths, server.flavor),
                kernel: kernel(image, ids, paths),
              }),
            );
            await transition(id, task, { taskState: 'rebuild_spawning', ...ids });
          },
          async () => {
            if (wasStopped) {
              await transition(id, 'rebuild_spawning', {
                taskState: null,
                vmState: 'stopped',
                powerState: 'shutdown',
                fault: null,
              });
              return;
            }
            const h = await event('compute_start_instance', () => d.start(id));
            await transition(id, 'rebuild_spawning', {
              taskState: null,
              vmState: 'active',
              powerState: h.powerState,
              fault: null,
            });
          },
        ]);
        return { imageId: ids.imageId };
      }
      case 'resize': {
        const newFlavor = input.newFlavor as FlavorSnapshot;
        await stages(op, [
          async () => {
            // One host: the server stays where it is (Nova's allow_resize_to_same_host).
            await transition(id, task, { taskState: 'resize_migrating' });
          },
          () => powerOff().then(() => {}),
          async () => {
            await event('compute_resize_instance', () =>
              d.resize(id, {
                vcpus: newFlavor.vcpus,
                memoryMib: newFlavor.ramMib,
                // A flavor with root disk 0 keeps the image-sized disk (the driver never shrinks).
                rootDiskGib: Math.max(newFlavor.rootDiskGib, 1),
              }),
            );
            await transition(id, 'resize_migrating', {
              taskState: 'resize_finish',
              flavor: newFlavor,
              flavorId: newFlavor.flavorId,
              oldFlavor: server.flavor,
            });
          },
          async () => {
            let power: ServerRow['powerState'] = 'shutdown';
            if (wasRunning)
              power = (await event('compute_start_instance', () => d.start(id))).powerState;
            await transition(id, 'resize_finish', {
              taskState: null,
              vmState: 'resized',
              powerState: power,
            });
          },
        ]);
        return { flavorId: newFlavor.flavorId };
      }
      case 'confirmResize':
        await stages(op, [
          async () => {
            await event('compute_confirm_resize', () => d.confirmResize(id));
            await db.transaction(async (tx) => {
              const [row] = await tx
                .update(servers)
                .set({
                  taskState: null,
                  vmState: server.powerState === 'running' ? 'active' : 'stopped',
                  oldFlavor: null,
                })
                .where(and(eq(servers.id, id), eq(servers.taskState, task)))
                .returning();
              if (!row) throw new SupersededError('not confirming');
              const old = server.oldFlavor ?? server.flavor;
              await releaseQuota(tx, row.projectId, {
                cores: Math.max(0, old.vcpus - server.flavor.vcpus),
                ram_mib: Math.max(0, old.ramMib - server.flavor.ramMib),
              });
              await publishServerEvent(tx, 'SERVER_UPDATED', row);
            });
          },
        ]);
        return {};
      case 'revertResize': {
        const old = server.oldFlavor ?? server.flavor;
        await stages(op, [
          () => powerOff().then(() => {}),
          async () => {
            await event('compute_revert_resize', () => d.revertResize(id));
          },
          async () => {
            let power: ServerRow['powerState'] = 'shutdown';
            if (wasRunning)
              power = (await event('compute_start_instance', () => d.start(id))).powerState;
            await db.transaction(async (tx) => {
              const [row] = await tx
                .update(servers)
                .set({
                  taskState: null,
                  vmState: power === 'running' ? 'active' : 'stopped',
                  powerState: power,
                  flavor: old,
                  flavorId: old.flavorId,
                  oldFlavor: null,
                })
                .where(and(eq(servers.id, id), eq(servers.taskState, task)))
                .returning();
              if (!row) throw new SupersededError('not reverting');
              await releaseQuota(tx, row.projectId, {
                cores: Math.max(0, server.flavor.vcpus - old.vcpus),
                ram_mib: Math.max(0, server.flavor.ramMib - old.ramMib),
              });
              await publishServerEvent(tx, 'SERVER_UPDATED', row);
            });
          },
        ]);
        return { flavorId: old.flavorId };
      }
      case 'createImage': {
        const imageId = input.imageId as string;
        const file = path.join(agent.imageCache.dir, `snapshot-${imageId}.qcow2`);
        try {
          await stages(op, [
            async () => {
              await event('compute_snapshot_instance', () => d.snapshot(id, file));
              await transition(id, task, { taskState: 'image_uploading' });
            },
            async () => {
              const [image] = await db.select().from(images).where(eq(images.id, imageId));
              if (!image) throw new JobError('IMAGE_UNAVAILABLE', `Image ${imageId} was deleted`);
              const stat = await fs.stat(file);
              await event('upload_image', () =>
                storeImageBytes(rt, image, createReadStream(file), stat.size),
              );
              await transition(id, 'image_uploading', { taskState: null });
            },
          ]);
        } finally {
          await fs.rm(file, { force: true });
        }
        return { imageId };
      }
    }
  }

  return { hostname: agent.hostname, build, delete: remove, action };
}

/** Quota a server holds: during a resize, the larger of its two flavors. */
function heldFlavor(row: ServerRow): { vcpus: number; ramMib: number } {
  const old = row.oldFlavor;
  return {
    vcpus: Math.max(row.flavor.vcpus, old?.vcpus ?? 0),
    ramMib: Math.max(row.flavor.ramMib, old?.ramMib ?? 0),
  };
}
