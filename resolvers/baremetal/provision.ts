import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { baremetalNodes } from '../../db/tables';
import { authorize } from '../authorize';
import { FeatureDisabledError, InvalidInputError } from '../errors';
import { loadImages } from '../images/images';
import { type OperationRow, startOperation } from '../operations';
import { inTransaction, type Runtime, type ServiceContext } from '../runtime';
import { isUuid, parseInput } from '../validation';
import { NodeStateError } from './errors';
import { publishNodeEvent } from './events';
import { NODE_JOBS, NODE_STAGES, type NodeJobKind } from './jobs';
import { checkNotBusy, lockNode, requireBaremetal } from './nodes';
import { type NodeRow, POWER_ALLOWED, VERB_RULES, type Verb } from './states';

/** Provision verbs, power and boot-device actions, maintenance: each checked under the row lock. */

export interface NodeChange {
  node: NodeRow;
  /** The job now working on the node; null when the change was done at once. */
  operation: OperationRow | null;
}

const provisionInput = z.object({
  id: z.string(),
  target: z.enum(['manage', 'inspect', 'provide', 'deploy', 'deleted', 'abort']),
  imageId: z.string().nullish(),
  userData: z.string().max(65_536, 'must be at most 64 KiB').nullish(),
});

/** Why the deployer cannot run here, or null. */
function deployerUnavailable(rt: Runtime): string | null {
  if (!rt.nodeDeployer)
    return 'no network-boot deployer runs on this Stratus (resolvers/baremetal/pxe)';
  return rt.nodeDeployer.unavailable();
}

/** Ironic's PUT /nodes/{id}/states/provision. */
export async function setProvisionState(ctx: ServiceContext, input: unknown): Promise<NodeChange> {
  authorize(ctx, 'baremetal:provision_nodes');
  requireBaremetal(ctx);
  const data = parseInput(provisionInput, input);
  if (data.target === 'deploy') {
    if (!data.imageId)
      throw new InvalidInputError('input.imageId', 'input.imageId is required to deploy');
    const [image] = await loadImages(ctx, [data.imageId]);
    if (image?.status !== 'active') {
      throw new InvalidInputError(
        'input.imageId',
        `input.imageId: no active image "${data.imageId}" you may use`,
      );
    }
  }
  return inTransaction(ctx.rt, async (tx) => {
    const node = await lockNode(tx, data.id);
    return startVerb(ctx.rt, tx, node, data.target, {
      imageId: data.imageId ?? null,
      userData: data.userData ?? null,
      userId: ctx.auth?.userId ?? null,
    });
  });
}

/**
 * Checks `verb` against the table for the locked `node` and starts it: the state it enters,
 * its job and Operation, one event, all in the caller's transaction.
 */
export async function startVerb(
  rt: Runtime,
  tx: Tx,
  node: NodeRow,
  verb: Verb,
  extra: { imageId: string | null; userData: string | null; userId: string | null },
): Promise<NodeChange> {
  const rule = VERB_RULES[verb];
  if (!rule.from.includes(node.provisionState)) {
    throw new NodeStateError(node.id, verb, node.provisionState, rule.from);
  }
  if (verb !== 'abort') checkNotBusy(node, verb);
  if (verb === 'deploy') {
    const why = deployerUnavailable(rt);
    if (why) throw new FeatureDisabledError('Deploying nodes', why);
    if (node.maintenance) {
      throw new NodeStateError(
        node.id,
        verb,
        node.provisionState,
        rule.from,
        `Node ${node.id} is in maintenance: ${node.maintenanceReason ?? 'no reason given'}`,
      );
    }
  }
  // Automated cleaning wipes the disk through the deployer; without one it cannot be done.
  if ((verb === 'provide' || verb === 'deleted') && rt.baremetal?.config.automatedClean) {
    const why = deployerUnavailable(rt);
    if (why) {
      throw new FeatureDisabledError(
        'Automated cleaning',
        `${why}; set STRATUS_BAREMETAL_AUTOMATED_CLEAN=false to skip cleaning`,
      );
    }
  }
  const from = node.provisionState;
  const enter = rule.enter(from);
  if (!rule.job(from)) {
    const [row] = await tx
      .update(baremetalNodes)
      .set({
        provisionState: enter,
        targetProvisionState: null,
        reservation: null,
        ...(verb === 'abort' ? { lastError: `aborted in "${from}"` } : {}),
      })
      .where(eq(baremetalNodes.id, node.id))
      .returning();
    await publishNodeEvent(tx, 'NODE_UPDATED', row);
    return { node: row, operation: null };
  }
  if (verb === 'abort') throw new Error('abort never runs a job');
  return startNodeJob(
    tx,
    node,
    verb,
    {
      provisionState: enter,
      targetProvisionState: rule.target,
      lastError: null,
      ...(verb === 'deploy'
        ? {
            instanceInfo: { imageId: extra.imageId ?? '', userData: extra.userData },
            deployReport: null,
            deployStep: null,
          }
        : {}),
    },
    extra.userId,
  );
}

/** Reserves the node for a new Operation of `kind` and applies `set`, with its event. */
export async function startNodeJob(
  tx: Tx,
  node: NodeRow,
  kind: NodeJobKind,
  set: Partial<typeof baremetalNodes.$inferInsert>,
  userId: string | null,
  input: Record<string, unknown> = {},
): Promise<NodeChange> {
  const operation = await startOperation(tx, {
    kind: NODE_JOBS[kind],
    projectId: null,
    createdByUserId: userId,
    resourceType: 'node',
    resourceId: node.id,
    stageNames: NODE_STAGES[kind],
    input: { nodeId: node.id, ...input },
  });
  const [row] = await tx
    .update(baremetalNodes)
    .set({ ...set, reservation: operation.id })
    .where(eq(baremetalNodes.id, node.id))
    .returning();
  await publishNodeEvent(tx, 'NODE_UPDATED', row);
  return { node: row, operation };
}

const POWER_TARGETS = {
  POWER_ON: 'on',
  POWER_OFF: 'off',
  REBOOT: 'reboot',
  SOFT_POWER_OFF: 'soft off',
} as const;
const powerInput = z.object({
  id: z.string(),
  target: z.enum(['POWER_ON', 'POWER_OFF', 'REBOOT', 'SOFT_POWER_OFF']),
});

/** Ironic's PUT /nodes/{id}/states/power, as a job. */
export async function setNodePower(ctx: ServiceContext, input: unknown): Promise<NodeChange> {
  authorize(ctx, 'baremetal:power_nodes');
  requireBaremetal(ctx);
  const data = parseInput(powerInput, input);
  const action = POWER_TARGETS[data.target];
  return inTransaction(ctx.rt, async (tx) => {
    const node = await lockNode(tx, data.id);
    checkPowerAllowed(node, `power ${action}`);
    const target = action === 'on' || action === 'reboot' ? 'power on' : 'power off';
    return startNodeJob(
      tx,
      node,
      'power',
      { targetPowerState: target, lastError: null },
      ctx.auth?.userId ?? null,
      { action },
    );
  });
}

const bootInput = z.object({
  id: z.string(),
  device: z.enum(['PXE', 'DISK']),
  persistent: z.boolean().nullish(),
});

/** Ironic's PUT /nodes/{id}/management/boot_device, as a job. */
export async function setNodeBootDevice(ctx: ServiceContext, input: unknown): Promise<NodeChange> {
  authorize(ctx, 'baremetal:power_nodes');
  requireBaremetal(ctx);
  const data = parseInput(bootInput, input);
  return inTransaction(ctx.rt, async (tx) => {
    const node = await lockNode(tx, data.id);
    checkPowerAllowed(node, 'set boot device');
    return startNodeJob(tx, node, 'bootDevice', { lastError: null }, ctx.auth?.userId ?? null, {
      device: data.device === 'PXE' ? 'pxe' : 'disk',
      persistent: data.persistent ?? false,
    });
  });
}

function checkPowerAllowed(node: NodeRow, action: string): void {
  if (!POWER_ALLOWED.includes(node.provisionState)) {
    throw new NodeStateError(node.id, action, node.provisionState, POWER_ALLOWED);
  }
  checkNotBusy(node, action);
}

const maintenanceInput = z.object({
  id: z.string(),
  on: z.boolean(),
  reason: z.string().max(255, 'must be at most 255 characters').nullish(),
});

/**
 * Ironic's maintenance mode: the sync leaves the node alone; ending it clears the failure
 * count, so the next good read recovers the node.
 */
export async function setNodeMaintenance(ctx: ServiceContext, input: unknown): Promise<NodeRow> {
  authorize(ctx, 'baremetal:manage_nodes');
  const data = parseInput(maintenanceInput, input);
  if (!isUuid(data.id)) throw new InvalidInputError('input.id', 'input.id is not a node id');
  return inTransaction(ctx.rt, async (tx) => {
    const node = await lockNode(tx, data.id);
    const [row] = await tx
      .update(baremetalNodes)
      .set(
        data.on
          ? { maintenance: true, maintenanceReason: data.reason ?? null }
          : { maintenance: false, maintenanceReason: null, syncFailures: 0 },
      )
      .where(eq(baremetalNodes.id, node.id))
      .returning();
    await publishNodeEvent(tx, 'NODE_UPDATED', row);
    return row;
  });
}
