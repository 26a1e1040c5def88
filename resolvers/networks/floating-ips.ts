import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { floatingIps, ipAllocations, ports, routers } from '../../db/tables';
import { authorize } from '../authorize';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors';
import { isAdmin } from '../identity/auth-context';
import { type ListResult, type Page, selectPage } from '../pagination';
import { releaseQuota, reserveQuota } from '../quotas';
import { inTransaction, type ServiceContext } from '../runtime';
import { parseInput } from '../validation';
import {
  type FloatingIpRow,
  listScope,
  loadFloatingIps,
  loadNetworks,
  loadPorts,
  type ProjectFilter,
  writable,
} from './access';
import { ExternalGatewayForFloatingIpNotFoundError } from './errors';
import { canonicalIp } from './ip';
import { targetProject } from './networks';
import { fixedIpsOf, insertPort } from './port-core';
import { publishNetworkEvent, syncNetwork, syncRouter } from './sync';

/** Floating IPs: an address of an external network, DNAT'd by a router to a port's fixed IP. */

export async function listFloatingIps(
  ctx: ServiceContext,
  filter: ProjectFilter,
  page: Page,
): Promise<ListResult<FloatingIpRow>> {
  authorize(ctx, 'network:list');
  const scope = listScope(ctx, floatingIps.projectId, filter);
  if (scope === null) return { rows: [], totalCount: 0 };
  return selectPage(
    ctx.rt.db,
    floatingIps,
    scope,
    { column: floatingIps.createdAt, direction: 'ASC', tiebreak: floatingIps.id },
    page,
  );
}

interface Association {
  portId: string;
  fixedIpAddress: string;
  routerId: string;
}

/**
 * Where a floating IP of `externalNetworkId` can go for `portId`: the port's fixed IP (the
 * one asked for, or its first IPv4) and the router that has a gateway on the external network
 * and an interface on that IP's subnet (Neutron's ExternalGatewayForFloatingIPNotFound).
 */
async function associationFor(
  ctx: ServiceContext,
  tx: Tx,
  externalNetworkId: string,
  portId: string,
  fixedIpAddress: string | null | undefined,
  projectId: string,
  /** The floating IP being moved, which may keep its own fixed IP. */
  self: string | null = null,
): Promise<Association> {
  const [port] = await loadPorts(ctx, [portId]);
  if (!port || port.projectId !== projectId || port.deviceOwner.startsWith('network:')) {
    throw new InvalidInputError(
      'input.portId',
      `input.portId: no port with id "${portId}" in the floating IP's project`,
    );
  }
  const held = (await fixedIpsOf(tx, [port.id])).get(port.id) ?? [];
  const wanted = fixedIpAddress ? canonicalIp(fixedIpAddress) : null;
  if (fixedIpAddress && !wanted) {
    throw new InvalidInputError(
      'input.fixedIpAddress',
      `input.fixedIpAddress is not an IP address (got "${fixedIpAddress}")`,
    );
  }
  const fixed = wanted ? held.find((h) => h.ip === wanted) : held.find((h) => !h.ip.includes(':'));
  if (!fixed) {
    throw new InvalidInputError(
      wanted ? 'input.fixedIpAddress' : 'input.portId',
      wanted ? `Port ${port.id} has no fixed IP ${wanted}` : `Port ${port.id} has no IPv4 fixed IP`,
    );
  }
  const [router] = await tx
    .select({ id: routers.id })
    .from(routers)
    .innerJoin(
      ports,
      and(
        eq(ports.deviceId, sql`${routers.id}::text`),
        eq(ports.deviceOwner, 'network:router_interface'),
      ),
    )
    .innerJoin(ipAllocations, eq(ipAllocations.portId, ports.id))
    .where(
      and(
        eq(routers.gatewayNetworkId, externalNetworkId),
        eq(ipAllocations.subnetId, fixed.subnetId),
      ),
    )
    .limit(1);
  if (!router) throw new ExternalGatewayForFloatingIpNotFoundError(externalNetworkId, port.id);
  const [taken] = await tx
    .select({ id: floatingIps.id })
    .from(floatingIps)
    .where(
      and(
        eq(floatingIps.portId, port.id),
        eq(floatingIps.fixedIpAddress, fixed.ip),
        self ? ne(floatingIps.id, self) : undefined,
      ),
    );
  if (taken)
    throw new ConflictError(
      `Fixed IP ${fixed.ip} of port ${port.id} already has floating IP ${taken.id}`,
    );
  return { portId: port.id, fixedIpAddress: fixed.ip, routerId: router.id };
}

const createInput = z.object({
  floatingNetworkId: z.string(),
  floatingIpAddress: z.string().nullish(),
  portId: z.string().nullish(),
  fixedIpAddress: z.string().nullish(),
  description: z.string().max(255).nullish(),
  projectId: z.string().nullish(),
});

/** Allocates an address of an external network (a network:floatingip port holds it), associated at once when a port is given. */
export async function createFloatingIp(
  ctx: ServiceContext,
  input: unknown,
): Promise<FloatingIpRow> {
  authorize(ctx, 'network:manage_floating_ips');
  const data = parseInput(createInput, input);
  const projectId = targetProject(ctx, data.projectId);
  const [network] = await loadNetworks(ctx, [data.floatingNetworkId]);
  if (!network?.external) {
    throw new InvalidInputError(
      'input.floatingNetworkId',
      `input.floatingNetworkId: no external network with id "${data.floatingNetworkId}"`,
    );
  }
  if (data.floatingIpAddress && !isAdmin(ctx.auth)) {
    throw new InvalidInputError(
      'input.floatingIpAddress',
      'Only an admin may choose the floating IP address',
    );
  }
  return inTransaction(ctx.rt, async (tx) => {
    const association = data.portId
      ? await associationFor(ctx, tx, network.id, data.portId, data.fixedIpAddress, projectId)
      : null;
    const holder = await insertPort(tx, {
      network,
      projectId,
      deviceOwner: 'network:floatingip',
      portSecurityEnabled: false,
      fixedIps: data.floatingIpAddress ? [{ ipAddress: data.floatingIpAddress }] : null,
      field: 'input',
    });
    const [address] = (await fixedIpsOf(tx, [holder.id])).get(holder.id) ?? [];
    if (!address) {
      throw new InvalidInputError(
        'input.floatingNetworkId',
        `External network ${network.id} has no subnet to take a floating IP from`,
      );
    }
    const [row] = await tx
      .insert(floatingIps)
      .values({
        projectId,
        floatingNetworkId: network.id,
        floatingPortId: holder.id,
        floatingIpAddress: address.ip,
        description: data.description ?? '',
        portId: association?.portId ?? null,
        fixedIpAddress: association?.fixedIpAddress ?? null,
        routerId: association?.routerId ?? null,
        status: association ? 'ACTIVE' : 'DOWN',
      })
      .returning();
    await tx.update(ports).set({ deviceId: row.id }).where(eq(ports.id, holder.id));
    if (association) await syncRouter(tx, association.routerId);
    await reserveQuota(tx, ctx.rt.config.quotaDefaults, projectId, { floating_ips: 1 });
    await publishNetworkEvent(tx, 'FLOATING_IP_CREATED', 'FloatingIp', row);
    return row;
  });
}

const updateInput = z.object({
  id: z.string(),
  /** null: disassociate; absent: unchanged. */
  portId: z.string().nullable().optional(),
  fixedIpAddress: z.string().nullish(),
  description: z.string().max(255).nullish(),
});

/** Associates the floating IP with a port (or moves it), disassociates it (portId null), or only changes its description (portId absent). */
export async function updateFloatingIp(
  ctx: ServiceContext,
  input: unknown,
): Promise<FloatingIpRow> {
  authorize(ctx, 'network:manage_floating_ips');
  const data = parseInput(updateInput, input);
  const current = await writable(loadFloatingIps, ctx, 'floating IP', data.id);
  return inTransaction(ctx.rt, async (tx) => {
    const [locked] = await tx
      .select()
      .from(floatingIps)
      .where(eq(floatingIps.id, current.id))
      .for('update');
    if (!locked) throw new NotFoundError('floating IP', data.id);
    const kept =
      locked.portId && locked.fixedIpAddress && locked.routerId
        ? {
            portId: locked.portId,
            fixedIpAddress: locked.fixedIpAddress,
            routerId: locked.routerId,
          }
        : null;
    const association =
      data.portId === undefined
        ? kept
        : data.portId
          ? await associationFor(
              ctx,
              tx,
              locked.floatingNetworkId,
              data.portId,
              data.fixedIpAddress,
              locked.projectId,
              locked.id,
            )
          : null;
    const [row] = await tx
      .update(floatingIps)
      .set({
        portId: association?.portId ?? null,
        fixedIpAddress: association?.fixedIpAddress ?? null,
        routerId: association?.routerId ?? null,
        status: association ? 'ACTIVE' : 'DOWN',
        description: data.description ?? locked.description,
      })
      .where(eq(floatingIps.id, locked.id))
      .returning();
    for (const routerId of new Set([locked.routerId, row.routerId])) {
      if (routerId) await syncRouter(tx, routerId);
    }
    await publishNetworkEvent(tx, 'FLOATING_IP_UPDATED', 'FloatingIp', row);
    return row;
  });
}

/** Releases the address (its holder port goes) and the router forgets the NAT. */
export async function deleteFloatingIp(ctx: ServiceContext, id: string): Promise<FloatingIpRow> {
  authorize(ctx, 'network:manage_floating_ips');
  const current = await writable(loadFloatingIps, ctx, 'floating IP', id);
  return inTransaction(ctx.rt, async (tx) => {
    const [row] = await tx.delete(floatingIps).where(eq(floatingIps.id, current.id)).returning();
    if (!row) throw new NotFoundError('floating IP', id);
    await tx.delete(ports).where(eq(ports.id, row.floatingPortId));
    if (row.routerId) await syncRouter(tx, row.routerId);
    await syncNetwork(tx, row.floatingNetworkId);
    await releaseQuota(tx, row.projectId, { floating_ips: 1 });
    await publishNetworkEvent(tx, 'FLOATING_IP_DELETED', 'FloatingIp', row);
    return row;
  });
}

/** Floating IPs on each port (for `Port.floatingIps` and server addresses). */
export async function floatingIpsOfPorts(
  ctx: ServiceContext,
  portIds: readonly string[],
): Promise<FloatingIpRow[][]> {
  const rows = portIds.length
    ? await ctx.rt.db
        .select()
        .from(floatingIps)
        .where(inArray(floatingIps.portId, [...portIds]))
    : [];
  return portIds.map((id) => rows.filter((f) => f.portId === id));
}
