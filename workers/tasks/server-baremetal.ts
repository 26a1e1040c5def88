import { eq } from 'drizzle-orm';
import { servers } from '../../db/tables';
import { lockNode } from '../../resolvers/baremetal/nodes';
import { startNodeJob, startVerb } from '../../resolvers/baremetal/provision';
import { deployNodeForServer, releaseNode } from '../../resolvers/baremetal/scheduling';
import type { NodeRow } from '../../resolvers/baremetal/states';
import { claimNodeForServer, nodeOfServer } from '../../resolvers/compute/baremetal-servers';
import { NoValidHostError } from '../../resolvers/compute/errors';
import { finishAction, inActionEvent } from '../../resolvers/compute/instance-actions';
import { publishServerEvent } from '../../resolvers/compute/server-events';
import type { ServerRow } from '../../resolvers/compute/server-states';
import { finishOperation, type OperationRow } from '../../resolvers/operations';
import { inTransaction } from '../../resolvers/runtime';
import {
  buildFailure,
  JobError,
  type JobKit,
  lockScheduling,
  SupersededError,
} from './server-job-kit';

/**
 * Build and delete of a server on a bare-metal node (Nova's ironic driver): the scheduling
 * step claims a node instead of picking a hypervisor, spawning is the node's deploy, and the
 * server follows the node (deploying → spawning, active → ACTIVE, deploy failed → ERROR).
 */

const POLL_MS = 250;
/** Longer than the deployer's own call-back timeout: the node always ends its deploy first. */
const NODE_WAIT_MS = 3 * 60 * 60 * 1000;

async function readNode(kit: JobKit, nodeId: string): Promise<NodeRow> {
  return kit.rt.db.transaction((tx) => lockNode(tx, nodeId));
}

/** Polls the node until `done` says so; `check` may throw to stop waiting. */
async function waitForNode(
  kit: JobKit,
  nodeId: string,
  done: (node: NodeRow) => boolean,
  check: () => Promise<void> = async () => {},
): Promise<NodeRow> {
  const deadline = Date.now() + NODE_WAIT_MS;
  for (;;) {
    const node = await readNode(kit, nodeId);
    if (done(node)) return node;
    await check();
    if (Date.now() > deadline) {
      throw new JobError('NODE_TIMEOUT', `node ${nodeId} stayed in "${node.provisionState}"`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The whole build of a bare-metal server, in the build operation's four stages. */
export async function buildOnNode(
  kit: JobKit,
  op: OperationRow,
  actionId: string,
  server: ServerRow,
): Promise<void> {
  const { rt, db, agent, transition, stages, fail } = kit;
  const customClass = server.flavor.baremetalClass!;
  let nodeId: string | null = null;
  try {
    await stages(op, [
      async () => {
        await inActionEvent(db, actionId, 'schedule_instance', () =>
          db.transaction(async (tx) => {
            const row = await lockScheduling(tx, server.id);
            const node = await claimNodeForServer(tx, customClass, row.id);
            if (!node) {
              throw new NoValidHostError(
                `No available bare-metal node of resource class ${customClass}`,
              );
            }
            nodeId = node.id;
            // The host is the Stratus process that drives the node (console, delete, power).
            const [updated] = await tx
              .update(servers)
              .set({ host: agent.hostname, taskState: 'block_device_mapping' })
              .where(eq(servers.id, row.id))
              .returning();
            await publishServerEvent(tx, 'SERVER_UPDATED', updated);
          }),
        );
      },
      // fetching-image and creating-disk: the node's deployer does both from the image.
      async () => {},
      async () => {},
      async () => {
        await transition(server.id, 'block_device_mapping', { taskState: 'spawning' });
        const node = await inActionEvent(
          db,
          actionId,
          'compute_build_and_run_instance',
          async () => {
            await deployNodeForServer(rt, nodeId!, {
              imageId: server.imageId!,
              userData: server.userData ?? null,
            });
            return waitForNode(
              kit,
              nodeId!,
              (n) => n.provisionState !== 'deploying' && n.provisionState !== 'wait call-back',
              async () => {
                const [row] = await db.select().from(servers).where(eq(servers.id, server.id));
                if (row?.taskState !== 'spawning') throw new SupersededError('not spawning');
              },
            );
          },
        );
        if (node.provisionState !== 'active') {
          throw new JobError(
            'DEPLOY_FAILED',
            `node ${node.id} ${node.provisionState}: ${node.lastError ?? 'no reason given'}`,
          );
        }
        await transition(server.id, 'spawning', {
          taskState: null,
          vmState: 'active',
          powerState: node.powerState === 'power off' ? 'shutdown' : 'running',
          launchedAt: new Date(),
        });
      },
    ]);
    await db.transaction((tx) => finishAction(tx, actionId, null));
    await finishOperation(db, op.id, { result: { serverId: server.id, nodeId } });
  } catch (error) {
    await fail(op, actionId, error, buildFailure(error), server.id);
    // A delete that superseded the build undeploys the node itself.
    if (!(error instanceof SupersededError)) await undeployAndRelease(kit, server, op, false);
  }
}

/**
 * Takes the server's node back: a deploy in its call-back wait is aborted, a deployed or
 * failed node is undeployed (deleting → cleaning → available, as the node's state machine
 * goes); once its tear-down is over (it left `deleting`) the claim ends. With `wait` false
 * the claim ends as soon as the undeploy has started.
 */
export async function undeployAndRelease(
  kit: JobKit,
  server: ServerRow,
  op: OperationRow,
  wait = true,
): Promise<void> {
  const { rt, db } = kit;
  let node = await nodeOfServer(db, server.id);
  if (!node) return;
  const nodeId = node.id;
  if (node.provisionState === 'wait call-back') {
    await inTransaction(rt, async (tx) => {
      const locked = await lockNode(tx, nodeId);
      if (locked.provisionState === 'wait call-back') {
        await startVerb(rt, tx, locked, 'abort', { imageId: null, userData: null, userId: null });
      }
    });
  }
  node = await waitForNode(kit, nodeId, (n) => n.provisionState !== 'deploying');
  if (['active', 'deploy failed', 'error', 'wait call-back'].includes(node.provisionState)) {
    await inTransaction(rt, async (tx) => {
      const locked = await lockNode(tx, nodeId);
      if (locked.provisionState === 'wait call-back') {
        await startVerb(rt, tx, locked, 'abort', { imageId: null, userData: null, userId: null });
      }
      const now = await lockNode(tx, nodeId);
      await startVerb(rt, tx, now, 'deleted', {
        imageId: null,
        userData: null,
        userId: op.createdByUserId,
      });
    });
    if (wait) await waitForNode(kit, nodeId, (n) => n.provisionState !== 'deleting');
  }
  await inTransaction(rt, (tx) => releaseNode(tx, nodeId));
}

const NODE_POWER = {
  start: { action: 'on', target: 'power on', vmState: 'active', powerState: 'running' },
  stop: { action: 'off', target: 'power off', vmState: 'stopped', powerState: 'shutdown' },
  reboot: { action: 'reboot', target: 'power on', vmState: 'active', powerState: 'running' },
} as const;

/**
 * Start, stop or reboot of a bare-metal server: the node's power job (as setNodePower), then
 * the server shows the node's power. A node power failure leaves the server as it was.
 */
export async function nodePowerAction(
  kit: JobKit,
  op: OperationRow,
  actionId: string,
  server: ServerRow,
  name: string,
): Promise<void> {
  const { rt, db, fail, transition } = kit;
  const power = NODE_POWER[name as keyof typeof NODE_POWER];
  const task = server.taskState ?? '';
  try {
    if (!power) throw new JobError('NOT_SUPPORTED', `'${name}' is not supported on bare metal`);
    const node = await nodeOfServer(db, server.id);
    if (!node) throw new JobError('NODE_GONE', `server ${server.id} has no node`);
    await stages1(kit, op, async () => {
      const started = await inTransaction(rt, async (tx) => {
        const locked = await lockNode(tx, node.id);
        if (locked.reservation) {
          throw new JobError('NODE_BUSY', `node ${node.id} is busy with ${locked.reservation}`);
        }
        return startNodeJob(
          tx,
          locked,
          'power',
          { targetPowerState: power.target, lastError: null },
          op.createdByUserId,
          { action: power.action },
        );
      });
      const done = await waitForNode(kit, node.id, (n) => n.reservation !== started.operation?.id);
      if (done.powerState !== power.target) {
        throw new JobError(
          'NODE_POWER_FAILED',
          done.lastError ?? `node ${node.id} power ${power.action} failed`,
        );
      }
      await transition(server.id, task, {
        taskState: null,
        vmState: power.vmState,
        powerState: power.powerState,
      });
    });
    await db.transaction((tx) => finishAction(tx, actionId, null));
    await finishOperation(db, op.id, { result: { serverId: server.id } });
  } catch (error) {
    await fail(op, actionId, error, { taskState: null }, server.id);
  }
}

/** Runs every stage of the operation with `step` in the last one. */
async function stages1(kit: JobKit, op: OperationRow, step: () => Promise<void>): Promise<void> {
  const count = Array.isArray(op.stages) ? op.stages.length : 1;
  await kit.stages(op, [
    ...Array.from({ length: Math.max(0, count - 1) }, () => async () => {}),
    step,
  ]);
}
