import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { and, eq, inArray } from 'drizzle-orm';
import { type FlavorSnapshot, images, servers } from '../../db/tables';
import { finishAction, inActionEvent } from '../../resolvers/compute/instance-actions';
import { publishServerEvent } from '../../resolvers/compute/server-events';
import {
  ACTION_RULES,
  type ServerRow,
  type SlowAction,
  type VmState,
} from '../../resolvers/compute/server-states';
import { storeImageBytes } from '../../resolvers/images/upload';
import { finishOperation, type OperationRow } from '../../resolvers/operations';
import { releaseQuota } from '../../resolvers/quotas';
import { nodePowerAction } from './server-baremetal';
import { JobError, type JobKit, type ServerUpdate, SupersededError } from './server-job-kit';

/** The jobs of slow server actions (start, stop, reboot, …, resize, snapshot). */
export function actionJobs(kit: JobKit) {
  const {
    rt,
    db,
    agent,
    transition,
    loadOp,
    stages,
    fetchBootFiles,
    rootDisk,
    kernel,
    fail,
    observedState,
  } = kit;

  async function action(operationId: string, name: SlowAction): Promise<void> {
    const { op, input, server } = await loadOp(operationId);
    if (!server) return;
    if (server.flavor.baremetalClass) {
      await agent.withServer(server.id, () =>
        nodePowerAction(kit, op, input.actionId, server, name),
      );
      return;
    }
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

  return { action };
}
