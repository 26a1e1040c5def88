import { and, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { floatingIps, ipAllocations, networks, ports, routers } from '../../db/tables';
import { authorize } from '../authorize';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors';
import { type ListResult, type Page, selectPage } from '../pagination';
import { releaseQuota, reserveQuota } from '../quotas';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, parseInput } from '../validation';
import {
  canWriteProject,
  listScope,
  loadNetworks,
  loadPorts,
  loadRouters,
  loadSubnets,
  type PortRow,
  type ProjectFilter,
  type RouterRow,
  writable,
} from './access';
import { neutronName, targetProject } from './networks';
import { insertPort } from './port-core';
import { publishNetworkEvent, syncNetwork, syncRouter } from './sync';

/** Routers: interfaces on subnets, an external gateway with SNAT (Neutron's L3 API). */

export async function listRouters(
  ctx: ServiceContext,
  filter: ProjectFilter,
  page: Page,
): Promise<ListResult<RouterRow>> {
  authorize(ctx, 'network:list');
  const scope = listScope(ctx, routers.projectId, filter);
  if (scope === null) return { rows: [], totalCount: 0 };
  return selectPage(
    ctx.rt.db,
    routers,
    scope,
    { column: routers.createdAt, direction: 'ASC', tiebreak: routers.id },
    page,
  );
}

const fixedIp = z.object({ subnetId: z.string().nullish(), ipAddress: z.string().nullish() });
const gatewayInput = z.object({
  networkId: z.string(),
  enableSnat: z.boolean().nullish(),
  externalFixedIps: z.array(fixedIp).max(4).nullish(),
});

const createInput = z.object({
  name: neutronName.nullish(),
  adminStateUp: z.boolean().nullish(),
  externalGatewayInfo: gatewayInput.nullish(),
  projectId: z.string().nullish(),
});

type GatewayInput = z.infer<typeof gatewayInput>;

/** Gives the router a gateway port on an external network (field: input.externalGatewayInfo). */
async function setGateway(
  ctx: ServiceContext,
  tx: Tx,
  router: RouterRow,
  gateway: GatewayInput,
): Promise<RouterRow> {
  const field = 'input.externalGatewayInfo';
  const [network] = await loadNetworks(ctx, [gateway.networkId]);
  if (!network?.external) {
    throw new InvalidInputError(
      `${field}.networkId`,
      `${field}.networkId: no external network with id "${gateway.networkId}"`,
    );
  }
  await insertPort(tx, {
    network,
    projectId: router.projectId,
    deviceOwner: 'network:router_gateway',
    deviceId: router.id,
    portSecurityEnabled: false,
    fixedIps: gateway.externalFixedIps ?? null,
    field,
  });
  const [row] = await tx
    .update(routers)
    .set({ gatewayNetworkId: network.id, enableSnat: gateway.enableSnat ?? true })
    .where(eq(routers.id, router.id))
    .returning();
  await syncNetwork(tx, network.id);
  return row;
}

/** Removes the gateway; refused while floating IPs go through it. */
async function clearGateway(tx: Tx, router: RouterRow): Promise<RouterRow> {
  const [{ n }] = await tx
    .select({ n: sql<number>`cast(count(*) as integer)` })
    .from(floatingIps)
    .where(eq(floatingIps.routerId, router.id));
  if (n > 0) {
    throw new ConflictError(
      `Router ${router.id} gateway is in use by ${n} floating IPs; disassociate them first`,
    );
  }
  await tx
    .delete(ports)
    .where(and(eq(ports.deviceId, router.id), eq(ports.deviceOwner, 'network:router_gateway')));
  const [row] = await tx
    .update(routers)
    .set({ gatewayNetworkId: null, enableSnat: true })
    .where(eq(routers.id, router.id))
    .returning();
  if (router.gatewayNetworkId) await syncNetwork(tx, router.gatewayNetworkId);
  return row;
}

export async function createRouter(ctx: ServiceContext, input: unknown): Promise<RouterRow> {
  authorize(ctx, 'network:manage_routers');
  const data = parseInput(createInput, input);
  const projectId = targetProject(ctx, data.projectId);
  return inTransaction(ctx.rt, async (tx) => {
    let [row] = await tx
      .insert(routers)
      .values({ projectId, name: data.name ?? '', adminStateUp: data.adminStateUp ?? true })
      .returning();
    if (data.externalGatewayInfo) row = await setGateway(ctx, tx, row, data.externalGatewayInfo);
    await syncRouter(tx, row.id);
    await reserveQuota(tx, ctx.rt.config.quotaDefaults, projectId, { routers: 1 });
    await publishNetworkEvent(tx, 'ROUTER_CREATED', 'Router', row);
    return row;
  });
}

const updateInput = z.object({
  id: z.string(),
  name: neutronName.nullish(),
  adminStateUp: z.boolean().nullish(),
  /** Absent: unchanged; null: remove the gateway; given: replace it. */
  externalGatewayInfo: gatewayInput.nullable().optional(),
});

export async function updateRouter(ctx: ServiceContext, input: unknown): Promise<RouterRow> {
  authorize(ctx, 'network:manage_routers');
  const data = parseInput(updateInput, input);
  const current = await writable(loadRouters, ctx, 'router', data.id);
  return inTransaction(ctx.rt, async (tx) => {
    let [row] = await tx.select().from(routers).where(eq(routers.id, current.id)).for('update');
    if (!row) throw new NotFoundError('router', data.id);
    if (data.externalGatewayInfo !== undefined) {
      const same =
        data.externalGatewayInfo &&
        data.externalGatewayInfo.networkId === row.gatewayNetworkId &&
        !data.externalGatewayInfo.externalFixedIps;
      if (same) {
        [row] = await tx
          .update(routers)
          .set({ enableSnat: data.externalGatewayInfo?.enableSnat ?? true })
          .where(eq(routers.id, row.id))
          .returning();
      } else {
        if (row.gatewayNetworkId) row = await clearGateway(tx, row);
        if (data.externalGatewayInfo)
          row = await setGateway(ctx, tx, row, data.externalGatewayInfo);
      }
    }
    [row] = await tx
      .update(routers)
      .set({ name: data.name ?? row.name, adminStateUp: data.adminStateUp ?? row.adminStateUp })
      .where(eq(routers.id, row.id))
      .returning();
    await syncRouter(tx, row.id);
    await publishNetworkEvent(tx, 'ROUTER_UPDATED', 'Router', row);
    return row;
  });
}

/** Deletes a router: refused while it has interfaces (Neutron's RouterInUse). */
export async function deleteRouter(ctx: ServiceContext, id: string): Promise<RouterRow> {
  authorize(ctx, 'network:manage_routers');
  const current = await writable(loadRouters, ctx, 'router', id);
  return inTransaction(ctx.rt, async (tx) => {
    const [row] = await tx.select().from(routers).where(eq(routers.id, current.id)).for('update');
    if (!row) throw new NotFoundError('router', id);
    const [{ n }] = await tx
      .select({ n: sql<number>`cast(count(*) as integer)` })
      .from(ports)
      .where(and(eq(ports.deviceId, row.id), eq(ports.deviceOwner, 'network:router_interface')));
    if (n > 0)
      throw new ConflictError(`Router ${row.id} still has ${n} interfaces; remove them first`);
    if (row.gatewayNetworkId) await clearGateway(tx, row);
    await tx.delete(routers).where(eq(routers.id, row.id));
    await syncRouter(tx, row.id);
    await releaseQuota(tx, row.projectId, { routers: 1 });
    await publishNetworkEvent(tx, 'ROUTER_DELETED', 'Router', row);
    return row;
  });
}

export interface RouterInterface {
  router: RouterRow;
  port: PortRow;
  subnetId: string;
}

const interfaceInput = z.object({
  routerId: z.string(),
  subnetId: z.string().nullish(),
  portId: z.string().nullish(),
});

/** The router (if any) that has an interface on `subnetId`. */
async function routerOnSubnet(tx: Tx, subnetId: string): Promise<string | null> {
  const [row] = await tx
    .select({ routerId: ports.deviceId })
    .from(ipAllocations)
    .innerJoin(ports, eq(ports.id, ipAllocations.portId))
    .where(
      and(eq(ipAllocations.subnetId, subnetId), eq(ports.deviceOwner, 'network:router_interface')),
    );
  return row?.routerId ?? null;
}

/** The checked input of add/remove_router_interface and the router, which the caller may change. */
async function interfaceRequest(ctx: ServiceContext, input: unknown) {
  authorize(ctx, 'network:manage_routers');
  const data = parseInput(interfaceInput, input);
  if (!data.subnetId === !data.portId) {
    throw new InvalidInputError(
      'input.subnetId',
      'Give exactly one of input.subnetId and input.portId',
    );
  }
  return { data, router: await writable(loadRouters, ctx, 'router', data.routerId) };
}

/** Interface changes of one router queue behind each other. */
async function lockRouter(tx: Tx, routerId: string): Promise<void> {
  await tx.select({ id: routers.id }).from(routers).where(eq(routers.id, routerId)).for('update');
}

/**
 * Neutron's add_router_interface: by subnet (a new port takes the subnet's gateway IP) or by
 * port (an unused port with one fixed IP). A subnet is on one router at most.
 */
export async function addRouterInterface(
  ctx: ServiceContext,
  input: unknown,
): Promise<RouterInterface> {
  const { data, router } = await interfaceRequest(ctx, input);
  return inTransaction(ctx.rt, async (tx) => {
    await lockRouter(tx, router.id);
    let port: PortRow;
    let subnetId: string;
    if (data.subnetId) {
      const [subnet] = await loadSubnets(ctx, [data.subnetId]);
      if (!subnet || !canWriteProject(ctx, subnet.projectId)) {
        throw new InvalidInputError(
          'input.subnetId',
          `input.subnetId: no subnet with id "${data.subnetId}" of yours`,
        );
      }
      if (!subnet.gatewayIp) {
        throw new InvalidInputError(
          'input.subnetId',
          `Subnet ${subnet.id} has no gateway IP for the router to take`,
        );
      }
      const [network] = await tx
        .select()
        .from(networks)
        .where(eq(networks.id, subnet.networkId))
        .for('update');
      const other = await routerOnSubnet(tx, subnet.id);
      if (other) throw new ConflictError(`Subnet ${subnet.id} is already on router ${other}`);
      port = await insertPort(tx, {
        network,
        projectId: router.projectId,
        deviceOwner: 'network:router_interface',
        deviceId: router.id,
        portSecurityEnabled: false,
        fixedIps: [{ subnetId: subnet.id, ipAddress: subnet.gatewayIp }],
        field: 'input',
      });
      subnetId = subnet.id;
    } else {
      const [given] = await loadPorts(ctx, [data.portId!]);
      if (!given || !canWriteProject(ctx, given.projectId)) {
        throw new InvalidInputError(
          'input.portId',
          `input.portId: no port with id "${data.portId}" of yours`,
        );
      }
      if (given.deviceId || given.deviceOwner) {
        throw new ConflictError(
          `Port ${given.id} is in use by ${given.deviceOwner || 'a device'} ${given.deviceId}`,
        );
      }
      const held = await tx.select().from(ipAllocations).where(eq(ipAllocations.portId, given.id));
      if (held.length !== 1) {
        throw new InvalidInputError(
          'input.portId',
          `Port ${given.id} must have exactly one fixed IP to be a router interface (has ${held.length})`,
        );
      }
      const other = await routerOnSubnet(tx, held[0].subnetId);
      if (other)
        throw new ConflictError(`Subnet ${held[0].subnetId} is already on router ${other}`);
      [port] = await tx
        .update(ports)
        .set({
          deviceOwner: 'network:router_interface',
          deviceId: router.id,
          portSecurityEnabled: false,
        })
        .where(eq(ports.id, given.id))
        .returning();
      await tx.execute(sql`delete from port_security_groups where port_id = ${given.id}`);
      // It is a router's port now, no longer one the project's port quota counts.
      await releaseQuota(tx, given.projectId, { ports: 1 });
      subnetId = held[0].subnetId;
    }
    await syncNetwork(tx, port.networkId);
    await syncRouter(tx, router.id);
    await publishNetworkEvent(tx, 'ROUTER_UPDATED', 'Router', router);
    return { router, port, subnetId };
  });
}

/** Removes the interface on a subnet (or a given interface port); refused while floating IPs use it. */
export async function removeRouterInterface(
  ctx: ServiceContext,
  input: unknown,
): Promise<RouterInterface> {
  const { data, router } = await interfaceRequest(ctx, input);
  return inTransaction(ctx.rt, async (tx) => {
    await lockRouter(tx, router.id);
    const candidates = await tx
      .select({ port: ports, subnetId: ipAllocations.subnetId })
      .from(ports)
      .innerJoin(ipAllocations, eq(ipAllocations.portId, ports.id))
      .where(
        and(
          eq(ports.deviceId, router.id),
          eq(ports.deviceOwner, 'network:router_interface'),
          data.portId ? (isUuid(data.portId) ? eq(ports.id, data.portId) : sql`false`) : undefined,
          data.subnetId
            ? isUuid(data.subnetId)
              ? eq(ipAllocations.subnetId, data.subnetId)
              : sql`false`
            : undefined,
        ),
      );
    const found = candidates[0];
    if (!found) {
      throw new InvalidInputError(
        data.subnetId ? 'input.subnetId' : 'input.portId',
        `Router ${router.id} has no interface ${data.subnetId ? `on subnet ${data.subnetId}` : `port ${data.portId}`}`,
      );
    }
    const users = await tx
      .select({ id: floatingIps.id })
      .from(floatingIps)
      .innerJoin(ipAllocations, eq(ipAllocations.portId, floatingIps.portId))
      .where(
        and(
          eq(floatingIps.routerId, router.id),
          eq(ipAllocations.subnetId, found.subnetId),
          isNotNull(floatingIps.portId),
        ),
      );
    if (users.length) {
      throw new ConflictError(
        `Router interface on subnet ${found.subnetId} is in use by floating IP ${users[0].id}`,
      );
    }
    await tx.delete(ports).where(eq(ports.id, found.port.id));
    await syncNetwork(tx, found.port.networkId);
    await syncRouter(tx, router.id);
    await publishNetworkEvent(tx, 'ROUTER_UPDATED', 'Router', router);
    return { router, port: found.port, subnetId: found.subnetId };
  });
}

/** Interface ports of each router (for `Router.interfaces`). */
export async function interfacesOfRouters(
  ctx: ServiceContext,
  routerIds: readonly string[],
): Promise<PortRow[][]> {
  const valid = routerIds.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db
        .select()
        .from(ports)
        .where(
          and(inArray(ports.deviceId, valid), eq(ports.deviceOwner, 'network:router_interface')),
        )
    : [];
  return routerIds.map((id) => rows.filter((p) => p.deviceId === id));
}

/** The gateway port of each router, or null. */
export async function gatewayPortsOfRouters(
  ctx: ServiceContext,
  routerIds: readonly string[],
): Promise<Array<PortRow | null>> {
  const valid = routerIds.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db
        .select()
        .from(ports)
        .where(and(inArray(ports.deviceId, valid), eq(ports.deviceOwner, 'network:router_gateway')))
    : [];
  return routerIds.map((id) => rows.find((p) => p.deviceId === id) ?? null);
}
