import { and, eq, ilike, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { floatingIps, ipAllocations, networks, portSecurityGroups, ports } from '../../db/tables';
import { authorize } from '../authorize';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../errors';
import { isAdmin } from '../identity/auth-context';
import { containsPattern, type ListResult, type Page, selectPage } from '../pagination';
import { releaseQuota } from '../quotas';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, parseInput } from '../validation';
import {
  canWriteProject,
  listScope,
  loadNetworks,
  loadPorts,
  loadSecurityGroups,
  type NetworkRow,
  type PortRow,
  type ProjectFilter,
  writable,
} from './access';
import { PortOwnedError } from './errors';
import { neutronName, targetProject } from './networks';
import { allocateFixedIps, checkAddressPairs, groupsOf, insertPort } from './port-core';
import { checkExtraDhcpOpts, extraDhcpOptInput } from './ports-dhcp-opts';
import { reserveAndPublish } from './quota';
import { ensureDefaultGroup, resyncGroupPorts } from './security-groups';
import { publishNetworkEvent, syncNetwork, syncPort, syncRouter } from './sync';

export interface PortFilter extends ProjectFilter {
  networkId?: string | null;
  deviceId?: string | null;
  deviceOwner?: string | null;
  name?: string | null;
  status?: string | null;
}

/** Ports of the caller's project (admins: any or all), oldest first. */
export async function listPorts(
  ctx: ServiceContext,
  filter: PortFilter,
  page: Page,
): Promise<ListResult<PortRow>> {
  authorize(ctx, 'network:list');
  const scope = listScope(ctx, ports.projectId, filter);
  if (scope === null || (filter.networkId && !isUuid(filter.networkId)))
    return { rows: [], totalCount: 0 };
  return selectPage(
    ctx.rt.db,
    ports,
    and(
      scope,
      filter.networkId ? eq(ports.networkId, filter.networkId) : undefined,
      filter.deviceId != null ? eq(ports.deviceId, filter.deviceId) : undefined,
      filter.deviceOwner != null ? eq(ports.deviceOwner, filter.deviceOwner) : undefined,
      filter.name != null ? ilike(ports.name, containsPattern(filter.name)) : undefined,
      filter.status != null ? eq(ports.status, filter.status) : undefined,
    ),
    { column: ports.createdAt, direction: 'ASC', tiebreak: ports.id },
    page,
  );
}

const fixedIp = z.object({ subnetId: z.string().nullish(), ipAddress: z.string().nullish() });
const pair = z.object({ ipAddress: z.string(), macAddress: z.string().nullish() });

const createInput = z.object({
  networkId: z.string(),
  name: neutronName.nullish(),
  macAddress: z.string().nullish(),
  fixedIps: z.array(fixedIp).max(20, 'may hold at most 20 addresses').nullish(),
  deviceOwner: z.string().max(255).nullish(),
  deviceId: z.string().max(255).nullish(),
  adminStateUp: z.boolean().nullish(),
  securityGroupIds: z.array(z.string()).max(20).nullish(),
  portSecurityEnabled: z.boolean().nullish(),
  allowedAddressPairs: z.array(pair).nullish(),
  extraDhcpOpts: z.array(extraDhcpOptInput).nullish(),
  projectId: z.string().nullish(),
});

/**
 * The network a port may be made on: the caller's own, or a shared one; an external network
 * only for admins (others reach it through routers and floating IPs). `field` names the input.
 */
export async function usableNetwork(
  ctx: ServiceContext,
  id: string,
  field: string,
): Promise<NetworkRow> {
  const [network] = await loadNetworks(ctx, [id]);
  if (
    !network ||
    (!network.shared && !canWriteProject(ctx, network.projectId) && !network.external)
  ) {
    throw new InvalidInputError(field, `${field}: no network with id "${id}" that you may use`);
  }
  if (network.external && !isAdmin(ctx.auth)) {
    throw new ForbiddenError(
      `Network ${id} is external: only an admin may put ports on it directly`,
    );
  }
  return network;
}

/** Security groups for a port: the given ones (of its project) or the project's default group. */
export async function portGroups(
  ctx: ServiceContext,
  tx: Tx,
  projectId: string,
  given: string[] | null | undefined,
  portSecurity: boolean,
  field: string,
): Promise<string[]> {
  if (!portSecurity) {
    if (given?.length) {
      throw new InvalidInputError(
        `${field}.securityGroupIds`,
        'A port without port security cannot have security groups',
      );
    }
    return [];
  }
  if (given == null) return [await ensureDefaultGroup(tx, projectId)];
  const groups = await loadSecurityGroups(ctx, given);
  groups.forEach((g, i) => {
    if (!g || g.projectId !== projectId) {
      throw new InvalidInputError(
        `${field}.securityGroupIds.${i}`,
        `${field}.securityGroupIds.${i}: no security group "${given[i]}" in the port's project`,
      );
    }
  });
  return [...new Set(given)];
}

/** Neutron's createPort: MAC, fixed IPs from IPAM, security groups; quota `ports`. */
export async function createPort(ctx: ServiceContext, input: unknown): Promise<PortRow> {
  authorize(ctx, 'network:manage_ports');
  const data = parseInput(createInput, input);
  const network = await usableNetwork(ctx, data.networkId, 'input.networkId');
  const projectId = targetProject(ctx, data.projectId);
  if (data.deviceOwner?.startsWith('network:') && !isAdmin(ctx.auth)) {
    throw new ForbiddenError(
      'Ports owned by network:* are made by Stratus (routers, DHCP, floating IPs)',
    );
  }
  const portSecurity = data.portSecurityEnabled ?? true;
  const pairs = checkAddressPairs('input.allowedAddressPairs', data.allowedAddressPairs ?? []);
  if (pairs.length && !portSecurity) {
    throw new InvalidInputError(
      'input.allowedAddressPairs',
      'Allowed address pairs need port security enabled',
    );
  }
  const dhcpOpts = checkExtraDhcpOpts('input.extraDhcpOpts', data.extraDhcpOpts ?? []);
  return inTransaction(ctx.rt, async (tx) => {
    const securityGroupIds = await portGroups(
      ctx,
      tx,
      projectId,
      data.securityGroupIds,
      portSecurity,
      'input',
    );
    let row = await insertPort(tx, {
      network,
      projectId,
      name: data.name ?? '',
      macAddress: data.macAddress,
      deviceOwner: data.deviceOwner ?? '',
      deviceId: data.deviceId ?? '',
      adminStateUp: data.adminStateUp ?? true,
      portSecurityEnabled: portSecurity,
      allowedAddressPairs: pairs,
      securityGroupIds,
      fixedIps: data.fixedIps ?? null,
      field: 'input',
    });
    if (dhcpOpts.length) {
      [row] = await tx
        .update(ports)
        .set({ extraDhcpOpts: dhcpOpts })
        .where(eq(ports.id, row.id))
        .returning();
      // Not bound yet, but its options are for its network's DHCP (a bare-metal NIC's boot).
      await syncNetwork(tx, row.networkId);
    }
    await afterPortChange(tx, row, securityGroupIds);
    // Quota rows are locked last, so concurrent creates in one project wait the least.
    await reserveAndPublish(tx, ctx.rt.config.quotaDefaults, projectId, 'ports', 1, {
      kind: 'PORT_CREATED',
      resourceType: 'Port',
      row,
    });
    return row;
  });
}

/**
 * What a change of a bound port touches on the data path: its network's DHCP hosts, its tap,
 * and the ports whose remote-group rules list it. An unbound port is on no host, serves no
 * DHCP client and is no remote-group member, so changing it queues nothing: binding it does
 * (bindServerPorts), and concurrent creates share no job row.
 */
export async function afterPortChange(tx: Tx, port: PortRow, groupIds: string[]): Promise<void> {
  if (!port.bindingHost) return;
  await syncNetwork(tx, port.networkId);
  await syncPort(tx, port);
  await resyncGroupPorts(tx, groupIds);
}

const updateInput = z.object({
  id: z.string(),
  name: neutronName.nullish(),
  fixedIps: z.array(fixedIp).max(20, 'may hold at most 20 addresses').nullish(),
  adminStateUp: z.boolean().nullish(),
  securityGroupIds: z.array(z.string()).max(20).nullish(),
  portSecurityEnabled: z.boolean().nullish(),
  allowedAddressPairs: z.array(pair).nullish(),
  extraDhcpOpts: z.array(extraDhcpOptInput).nullish(),
});

/**
 * Changes a port: name, admin state, fixed IPs (the list replaces the old one: kept addresses
 * stay, others are released, new ones allocated), security groups, port security, address
 * pairs, extra DHCP options (the list replaces the old one; the network's DHCP is resynced).
 */
export async function updatePort(ctx: ServiceContext, input: unknown): Promise<PortRow> {
  authorize(ctx, 'network:manage_ports');
  const data = parseInput(updateInput, input);
  const current = await writable(loadPorts, ctx, 'port', data.id);
  const portSecurity = data.portSecurityEnabled ?? current.portSecurityEnabled;
  const pairs =
    data.allowedAddressPairs != null
      ? checkAddressPairs('input.allowedAddressPairs', data.allowedAddressPairs)
      : current.allowedAddressPairs;
  const dhcpOpts =
    data.extraDhcpOpts != null
      ? checkExtraDhcpOpts('input.extraDhcpOpts', data.extraDhcpOpts)
      : null;
  if (pairs.length && !portSecurity) {
    throw new InvalidInputError(
      'input.allowedAddressPairs',
      'Allowed address pairs need port security enabled',
    );
  }
  const [network] = await ctx.rt.db
    .select()
    .from(networks)
    .where(eq(networks.id, current.networkId));
  return inTransaction(ctx.rt, async (tx) => {
    const [locked] = await tx.select().from(ports).where(eq(ports.id, current.id)).for('update');
    if (!locked) throw new NotFoundError('port', data.id);
    const before = (await groupsOf(tx, [locked.id])).get(locked.id) ?? [];
    let groups = before;
    if (data.securityGroupIds != null || (data.portSecurityEnabled === false && before.length)) {
      if (data.securityGroupIds == null && !portSecurity) {
        throw new InvalidInputError(
          'input.portSecurityEnabled',
          'Remove the security groups (securityGroupIds: []) to turn port security off',
        );
      }
      groups = await portGroups(
        ctx,
        tx,
        locked.projectId,
        data.securityGroupIds,
        portSecurity,
        'input',
      );
      await tx.delete(portSecurityGroups).where(eq(portSecurityGroups.portId, locked.id));
      if (groups.length)
        await tx
          .insert(portSecurityGroups)
          .values(groups.map((g) => ({ portId: locked.id, securityGroupId: g })));
    } else if (portSecurity && !locked.portSecurityEnabled && before.length === 0) {
      groups = await portGroups(ctx, tx, locked.projectId, null, true, 'input');
      await tx
        .insert(portSecurityGroups)
        .values(groups.map((g) => ({ portId: locked.id, securityGroupId: g })));
    }
    if (data.fixedIps != null) {
      const held = await tx.select().from(ipAllocations).where(eq(ipAllocations.portId, locked.id));
      const keep = held.filter((h) =>
        data.fixedIps!.some(
          (r) => r.ipAddress && r.ipAddress === h.ip && (!r.subnetId || r.subnetId === h.subnetId),
        ),
      );
      const fresh = data.fixedIps.filter((r) => !keep.some((k) => r.ipAddress === k.ip));
      await tx
        .delete(ipAllocations)
        .where(
          and(
            eq(ipAllocations.portId, locked.id),
            keep.length ? sql`${ipAllocations.ip} not in ${keep.map((k) => k.ip)}` : undefined,
          ),
        );
      await allocateFixedIps(
        tx,
        network,
        locked.id,
        fresh,
        'input',
        locked.deviceOwner === 'network:router_interface',
      );
    }
    const [row] = await tx
      .update(ports)
      .set({
        name: data.name ?? locked.name,
        adminStateUp: data.adminStateUp ?? locked.adminStateUp,
        portSecurityEnabled: portSecurity,
        allowedAddressPairs: pairs,
        extraDhcpOpts: dhcpOpts ?? locked.extraDhcpOpts,
      })
      .where(eq(ports.id, locked.id))
      .returning();
    await afterPortChange(tx, row, [...new Set([...before, ...groups])]);
    // An unbound port (a bare-metal NIC) is still a DHCP client of its network.
    if (!row.bindingHost && data.extraDhcpOpts != null) await syncNetwork(tx, row.networkId);
    await publishNetworkEvent(tx, 'PORT_UPDATED', 'Port', row);
    return row;
  });
}

/**
 * Removes a port and gives its addresses back: floating IPs on it are disassociated, its
 * network's DHCP and its host's tap are resynced. Within the caller's transaction.
 */
export async function removePort(tx: Tx, port: PortRow): Promise<void> {
  const groups = (await groupsOf(tx, [port.id])).get(port.id) ?? [];
  const floating = await tx
    .select({ id: floatingIps.id, previousRouter: floatingIps.routerId })
    .from(floatingIps)
    .where(eq(floatingIps.portId, port.id))
    .for('update');
  await tx
    .update(floatingIps)
    .set({ portId: null, fixedIpAddress: null, routerId: null, status: 'DOWN' })
    .where(eq(floatingIps.portId, port.id));
  // The rows as updated carry no router any more: resync the routers they were on.
  for (const routerId of new Set(floating.map((f) => f.previousRouter))) {
    if (routerId) await syncRouter(tx, routerId);
  }
  await tx.delete(ports).where(eq(ports.id, port.id));
  await afterPortChange(tx, port, groups);
  if (!port.deviceOwner.startsWith('network:'))
    await releaseQuota(tx, port.projectId, { ports: 1 });
  await publishNetworkEvent(tx, 'PORT_DELETED', 'Port', port);
}

/** Neutron's deletePort; ports of routers, DHCP and floating IPs go through their own API. */
export async function deletePort(ctx: ServiceContext, id: string): Promise<PortRow> {
  authorize(ctx, 'network:manage_ports');
  const port = await writable(loadPorts, ctx, 'port', id);
  if (port.deviceOwner.startsWith('network:')) throw new PortOwnedError(port.id, port.deviceOwner);
  return inTransaction(ctx.rt, async (tx) => {
    const [locked] = await tx.select().from(ports).where(eq(ports.id, port.id)).for('update');
    if (!locked) throw new NotFoundError('port', id);
    await removePort(tx, locked);
    return locked;
  });
}

/** Fixed IPs of each port (for `Port.fixedIps`). */
export async function fixedIpsOfPorts(ctx: ServiceContext, portIds: readonly string[]) {
  const rows = portIds.length
    ? await ctx.rt.db
        .select()
        .from(ipAllocations)
        .where(inArray(ipAllocations.portId, [...portIds]))
    : [];
  return portIds.map((id) => rows.filter((r) => r.portId === id));
}

/** Security group ids of each port (for `Port.securityGroups`). */
export async function groupIdsOfPorts(ctx: ServiceContext, portIds: readonly string[]) {
  const map = await groupsOf(ctx.rt.db, portIds);
  return portIds.map((id) => map.get(id) ?? []);
}
