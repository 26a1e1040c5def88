import { and, eq, sql } from 'drizzle-orm';
import { servers } from '../../db/tables';
import type { InstanceSpec, NicSpec } from '../../drivers/compute/types';
import { finishAction, inActionEvent } from '../../resolvers/compute/instance-actions';
import { BUILD_JOB, onHost } from '../../resolvers/compute/jobs';
import { groupPlacement, lockHostStates, selectHost } from '../../resolvers/compute/scheduler';
import { publishServerEvent } from '../../resolvers/compute/server-events';
import {
  bindServerPorts,
  portSpecsForServer,
  releaseServerPorts,
  setPortsStatus,
} from '../../resolvers/networks/server-ports';
import { finishOperation } from '../../resolvers/operations';
import { releaseQuota } from '../../resolvers/quotas';
import { releaseServerVolumes } from '../../resolvers/volumes/attachments';
import { buildOnNode, undeployAndRelease } from './server-baremetal';
import {
  awaitBootVolume,
  BuildDeferredError,
  bootVolumeDisk,
  bootVolumeOf,
  operationEnded,
  releaseUnclaimedBootVolume,
} from './server-boot-volume';
import {
  buildFailure,
  heldFlavor,
  JobError,
  type JobKit,
  lockScheduling,
  SupersededError,
} from './server-job-kit';

/** The build and delete jobs of servers. */
export function buildJobs(kit: JobKit) {
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
    guestMetadata,
    fail,
    observedState,
  } = kit;

  /**
   * The build: schedules (on any compute host), then fetches the image and spawns on the chosen
   * host. When the scheduler picks another host, the rest is handed to that host's process
   * (`resumed`) through its own job name, in the scheduling transaction.
   */
  async function build(operationId: string, resumed: boolean): Promise<void> {
    const { op, input, server } = await loadOp(operationId);
    if (!server) return;
    if (server.flavor.baremetalClass) {
      await agent.withServer(server.id, () => buildOnNode(kit, op, input.actionId, server));
      return;
    }
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
        const bootVolume = bootVolumeOf(input);
        // One step per BUILD_STAGES entry: scheduling, fetching-image, creating-disk, spawning.
        const steps = [
          async () => {
            current = await inActionEvent(db, input.actionId, 'schedule_instance', () =>
              db.transaction(async (tx) => {
                const row = await lockScheduling(tx, server.id);
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
            // Volume-backed: only the kernel and ramdisk are fetched, once the volume is made.
            if (bootVolume) await awaitBootVolume(rt, op, agent.hostname, bootVolume);
            files = await inActionEvent(db, input.actionId, 'fetch_image', () =>
              fetchBootFiles(current),
            );
          },
          async () => {
            // creating-disk: what the root disk is made of (the driver's spawn creates the
            // overlay over the cached base image as its first step).
            const { image, paths } = files!;
            const nics = await plugPorts(current.id);
            const volumeDisk = bootVolume
              ? await bootVolumeDisk(rt, current, bootVolume, paths)
              : null;
            spec = {
              instanceId: current.id,
              name: current.name,
              vcpus: current.flavor.vcpus,
              memoryMib: current.flavor.ramMib,
              rootDisk: volumeDisk?.rootDisk ?? rootDisk(image, paths, current.flavor),
              kernel: volumeDisk ? volumeDisk.kernel : kernel(image, current, paths),
              userData: current.userData ?? undefined,
              metadata: guestMetadata(current),
              ...(nics.length > 0 ? { nics } : {}),
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
            if (spec!.nics) await setPortsStatus(db, server.id, 'ACTIVE');
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
        if (error instanceof BuildDeferredError) return;
        const bootVolume = bootVolumeOf(input);
        // Ended: this run came back only to let go of the boot volume.
        if (bootVolume && operationEnded(op)) {
          await releaseUnclaimedBootVolume(rt, op, agent.hostname, bootVolume);
          return;
        }
        await fail(op, input.actionId, error, buildFailure(error), server.id);
        if (bootVolume) await releaseUnclaimedBootVolume(rt, op, agent.hostname, bootVolume);
      }
    });
  }

  /**
   * Binds the server's ports to this host and plugs them here before QEMU opens their taps
   * (Nova waits for Neutron's vif-plugged the same way). No ports: no NICs.
   */
  async function plugPorts(serverId: string): Promise<NicSpec[]> {
    const specs = await portSpecsForServer(db, serverId);
    if (specs.length === 0) return [];
    const network = rt.network;
    if (!network) {
      throw new JobError(
        'NETWORK_UNAVAILABLE',
        `host ${agent.hostname} has no network driver to plug the server's ports`,
      );
    }
    await bindServerPorts(db, serverId, agent.hostname);
    const nics: NicSpec[] = [];
    for (const spec of specs) {
      // Through the agent, so the plug takes turns with the port's own sync jobs.
      const plugged = await network.plugPort(spec.portId).catch((error: unknown) => {
        throw new JobError(
          'PORT_BINDING_FAILED',
          `port ${spec.portId}: ${error instanceof Error ? error.message : String(error)}`,
        );
      });
      nics.push({ portId: plugged.portId, tapName: plugged.tapName, mac: plugged.mac });
    }
    return nics;
  }

  async function remove(operationId: string): Promise<void> {
    const { op, input, server } = await loadOp(operationId);
    if (!server) return;
    await agent.withServer(server.id, async () => {
      try {
        await stages(op, [
          async () => {
            await inActionEvent(db, input.actionId, 'compute_terminate_instance', () =>
              server.flavor.baremetalClass
                ? undeployAndRelease(kit, server, op)
                : agent.driver.destroy(server.id),
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
              // Its volumes are detached (the VM is gone); delete-on-termination ones deleted.
              await releaseServerVolumes(tx, row.id, op.createdByUserId);
              // Ports it created go (addresses back, taps removed); ports it was given stay.
              await releaseServerPorts(tx, row.id);
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

  return { build, remove };
}
