import { and, asc, eq, inArray, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { baremetalNodes, baremetalPorts } from '../../db/tables';
import { checkBmcSpec, InvalidBmcSpecError } from '../../drivers/baremetal';
import { authorize } from '../authorize';
import { FeatureDisabledError, InvalidInputError, NameTakenError, NotFoundError } from '../errors';
import type { ListResult, Page } from '../pagination';
import { selectPage } from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, nameSchema, parseInput, uniqueViolation } from '../validation';
import { NodeStateError } from './errors';
import { publishNodeEvent } from './events';
import { addNodePorts, checkPortMacs, removeNodePorts } from './node-ports';
import type { BaremetalService } from './service';
import { DELETABLE, type NodeRow, type ProvisionState, TRANSITIONAL } from './states';

export type { NodeRow };
export type NodePortRow = typeof baremetalPorts.$inferSelect;

/** The bare-metal service of this process, or FeatureDisabledError saying why there is none. */
export function requireBaremetal(ctx: ServiceContext): BaremetalService {
  if (ctx.rt.baremetal) return ctx.rt.baremetal;
  throw new FeatureDisabledError(
    'Bare metal',
    ctx.rt.baremetalUnavailable ?? 'start Stratus with STRATUS_BAREMETAL_DRIVER=ipmi',
  );
}

const positive = (max: number) => z.number().int().min(1, 'must be at least 1').max(max);
const properties = z.object({
  cpus: positive(4096),
  memoryMb: positive(64 * 1024 * 1024),
  localGb: z
    .number()
    .int()
    .min(0, 'must not be negative')
    .max(1024 * 1024),
  cpuArch: z.string().regex(/^[a-z0-9_]{1,32}$/, 'must be like x86_64 or aarch64'),
});
const resourceClass = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,80}$/, 'must be 1-80 letters, digits, _ . - (e.g. baremetal-gold)');
const portInput = z.object({ macAddress: z.string(), networkId: z.string().nullish() });
const bmcInput = z.object({
  address: z.string(),
  port: z.number().int().nullish(),
  username: z.string().min(1, 'is required (the BMC user)'),
  password: z.string().min(1, 'is required (the BMC password)'),
  interface: z.enum(['lanplus', 'lan']).nullish(),
});

const enrollInput = z.object({
  name: nameSchema,
  driver: z.literal('ipmi', { message: 'must be "ipmi"' }).default('ipmi'),
  bmc: bmcInput,
  properties,
  resourceClass,
  ports: z.array(portInput).max(16, 'may hold at most 16 ports').default([]),
});

const updateInput = z.object({
  id: z.string(),
  name: nameSchema.nullish(),
  bmc: bmcInput.partial().nullish(),
  properties: properties.partial().nullish(),
  resourceClass: resourceClass.nullish(),
});

/** The driver's BMC check, as InvalidInputError naming the API field. */
function checkBmc(bmc: Record<string, unknown>) {
  try {
    return checkBmcSpec(bmc);
  } catch (error) {
    if (error instanceof InvalidBmcSpecError) {
      const field = `input.bmc.${error.field}`;
      throw new InvalidInputError(field, `${field} ${error.message.replace(/^.*?" /, '')}`);
    }
    throw error;
  }
}

/** Ironic's node create: in `enroll`, its ports with it; nothing is written on a bad field. */
export async function enrollNode(ctx: ServiceContext, input: unknown): Promise<NodeRow> {
  authorize(ctx, 'baremetal:manage_nodes');
  const service = requireBaremetal(ctx);
  const data = parseInput(enrollInput, input);
  const bmc = checkBmc({
    ...data.bmc,
    port: data.bmc.port ?? undefined,
    interface: data.bmc.interface ?? undefined,
  });
  const macs = checkPortMacs(data.ports);
  return inTransaction(ctx.rt, async (tx) => {
    const row = await insertNode(tx, {
      name: data.name,
      driver: data.driver,
      bmcAddress: bmc.address,
      bmcPort: bmc.port,
      bmcUsername: bmc.username,
      bmcPasswordSealed: service.credentials.seal(bmc.password),
      bmcInterface: bmc.interface,
      ...data.properties,
      resourceClass: data.resourceClass,
    });
    await addNodePorts(ctx, tx, row.id, data.ports, macs);
    await publishNodeEvent(tx, 'NODE_CREATED', row);
    return row;
  });
}

async function insertNode(tx: Tx, values: typeof baremetalNodes.$inferInsert): Promise<NodeRow> {
  try {
    // A savepoint keeps the transaction usable for the typed error.
    return await tx.transaction(async (sp) => {
      const [row] = await sp.insert(baremetalNodes).values(values).returning();
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'baremetal_nodes_name_key') {
      throw new NameTakenError('node', values.name);
    }
    throw error;
  }
}

/** Changes name, BMC, properties or resource class while no job holds the node. */
export async function updateNode(ctx: ServiceContext, input: unknown): Promise<NodeRow> {
  authorize(ctx, 'baremetal:manage_nodes');
  const service = requireBaremetal(ctx);
  const data = parseInput(updateInput, input);
  return inTransaction(ctx.rt, async (tx) => {
    const node = await lockNode(tx, data.id);
    checkNotBusy(node, 'update');
    const set: Partial<typeof baremetalNodes.$inferInsert> = {};
    if (data.name != null) set.name = data.name;
    if (data.resourceClass != null) set.resourceClass = data.resourceClass;
    if (data.properties) {
      for (const [k, v] of Object.entries(data.properties))
        if (v != null) Object.assign(set, { [k]: v });
    }
    if (data.bmc) {
      const b = data.bmc;
      const bmc = checkBmc({
        address: b.address ?? node.bmcAddress,
        port: b.port ?? node.bmcPort,
        username: b.username ?? node.bmcUsername,
        password: b.password ?? service.credentials.open(node.bmcPasswordSealed),
        interface: b.interface ?? node.bmcInterface,
      });
      Object.assign(set, {
        bmcAddress: bmc.address,
        bmcPort: bmc.port,
        bmcUsername: bmc.username,
        bmcInterface: bmc.interface,
        ...(b.password != null
          ? { bmcPasswordSealed: service.credentials.seal(bmc.password) }
          : {}),
      });
    }
    if (Object.keys(set).length === 0) return node;
    let row: NodeRow;
    try {
      [row] = await tx.transaction((sp) =>
        sp.update(baremetalNodes).set(set).where(eq(baremetalNodes.id, node.id)).returning(),
      );
    } catch (error) {
      if (uniqueViolation(error) === 'baremetal_nodes_name_key')
        throw new NameTakenError('node', set.name ?? '');
      throw error;
    }
    await publishNodeEvent(tx, 'NODE_UPDATED', row);
    return row;
  });
}

/** Deletes a node (and its ports) not deployed and not held by a job. */
export async function deleteNode(ctx: ServiceContext, id: string): Promise<NodeRow> {
  authorize(ctx, 'baremetal:manage_nodes');
  return inTransaction(ctx.rt, async (tx) => {
    const node = await lockNode(tx, id);
    if (!DELETABLE.includes(node.provisionState)) {
      throw new NodeStateError(node.id, 'delete', node.provisionState, DELETABLE);
    }
    checkNotBusy(node, 'delete');
    if (node.instanceId) {
      throw new NodeStateError(
        node.id,
        'delete',
        node.provisionState,
        DELETABLE,
        `Node ${node.id} is claimed by server ${node.instanceId}`,
      );
    }
    await removeNodePorts(tx, node.id);
    await tx.delete(baremetalNodes).where(eq(baremetalNodes.id, node.id));
    await publishNodeEvent(tx, 'NODE_DELETED', node);
    return node;
  });
}

/** NodeStateError when a job holds the node (its state is transitional or it is reserved). */
export function checkNotBusy(node: NodeRow, action: string): void {
  const allowed = (s: ProvisionState) => !TRANSITIONAL.includes(s);
  if (!allowed(node.provisionState) || node.reservation) {
    throw new NodeStateError(
      node.id,
      action,
      node.provisionState,
      [],
      `Cannot '${action}' node ${node.id}: operation ${node.reservation ?? '?'} is working on it ("${node.provisionState}")`,
    );
  }
}

/** The node row locked for this transaction; NotFoundError otherwise. */
export async function lockNode(tx: Tx, id: string): Promise<NodeRow> {
  const [row] = isUuid(id)
    ? await tx.select().from(baremetalNodes).where(eq(baremetalNodes.id, id)).for('update')
    : [];
  if (!row) throw new NotFoundError('node', id);
  return row;
}

export interface NodeFilter {
  provisionState?: ProvisionState | null;
  maintenance?: boolean | null;
  resourceClass?: string | null;
}

/** Nodes, oldest first (admins only, as in Ironic). */
export async function listNodes(
  ctx: ServiceContext,
  filter: NodeFilter,
  page: Page,
): Promise<ListResult<NodeRow>> {
  authorize(ctx, 'baremetal:list_nodes');
  const where: SQL | undefined = and(
    filter.provisionState ? eq(baremetalNodes.provisionState, filter.provisionState) : undefined,
    filter.maintenance != null ? eq(baremetalNodes.maintenance, filter.maintenance) : undefined,
    filter.resourceClass != null
      ? eq(baremetalNodes.resourceClass, filter.resourceClass)
      : undefined,
  );
  return selectPage(
    ctx.rt.db,
    baremetalNodes,
    where,
    { column: baremetalNodes.createdAt, direction: 'ASC', tiebreak: baremetalNodes.id },
    page,
  );
}

/** Nodes by id; null where none (or the caller is not an admin). */
export async function loadNodes(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<NodeRow | null>> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return ids.map(() => null);
  try {
    authorize(ctx, 'baremetal:list_nodes');
  } catch {
    return ids.map(() => null);
  }
  const rows = await ctx.rt.db
    .select()
    .from(baremetalNodes)
    .where(inArray(baremetalNodes.id, valid));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** Ports of nodes, in order, one statement. */
export async function portsOfNodes(
  ctx: ServiceContext,
  nodeIds: readonly string[],
): Promise<NodePortRow[][]> {
  const rows = nodeIds.length
    ? await ctx.rt.db
        .select()
        .from(baremetalPorts)
        .where(inArray(baremetalPorts.nodeId, [...nodeIds]))
        .orderBy(asc(baremetalPorts.position))
    : [];
  return nodeIds.map((id) => rows.filter((r) => r.nodeId === id));
}
