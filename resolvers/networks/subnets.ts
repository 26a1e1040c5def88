import { and, eq, ne, sql } from 'drizzle-orm';
import { z } from 'zod';
import { ipAllocations, networks, ports, subnets } from '../../db/tables';
import { authorize } from '../authorize';
import { InvalidInputError, NotFoundError } from '../errors';
import { type ListResult, type Page, selectPage } from '../pagination';
import { releaseQuota, reserveQuota } from '../quotas';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, parseInput } from '../validation';
import {
  canWriteProject,
  listScope,
  loadNetworks,
  loadSubnets,
  type ProjectFilter,
  type SubnetRow,
  writable,
} from './access';
import { SubnetInUseError } from './errors';
import { neutronName } from './networks';
import { ensureDhcpAddress } from './port-core';
import { checkSubnet } from './subnet-checks';
import { publishNetworkEvent, syncNetwork } from './sync';

export interface SubnetFilter extends ProjectFilter {
  networkId?: string | null;
  ipVersion?: number | null;
}

/** Subnets of the networks the caller may see, oldest first. */
export async function listSubnets(
  ctx: ServiceContext,
  filter: SubnetFilter,
  page: Page,
): Promise<ListResult<SubnetRow>> {
  authorize(ctx, 'network:list');
  const visibleNetworks = sql`exists (select 1 from ${networks} n where n.id = ${subnets.networkId} and (n.shared or n.external))`;
  const scope = listScope(ctx, subnets.projectId, filter, visibleNetworks);
  if (scope === null) return { rows: [], totalCount: 0 };
  if (filter.networkId && !isUuid(filter.networkId)) return { rows: [], totalCount: 0 };
  return selectPage(
    ctx.rt.db,
    subnets,
    and(
      scope,
      filter.networkId ? eq(subnets.networkId, filter.networkId) : undefined,
      filter.ipVersion != null ? eq(subnets.ipVersion, filter.ipVersion) : undefined,
    ),
    { column: subnets.createdAt, direction: 'ASC', tiebreak: subnets.id },
    page,
  );
}

/** Subnets of each network (for `Network.subnets`). */
export async function subnetsOfNetworks(
  ctx: ServiceContext,
  networkIds: readonly string[],
): Promise<SubnetRow[][]> {
  const rows = await loadSubnetRowsOf(ctx, networkIds);
  return networkIds.map((id) => rows.filter((s) => s.networkId === id));
}

async function loadSubnetRowsOf(ctx: ServiceContext, networkIds: readonly string[]) {
  const valid = networkIds.filter(isUuid);
  if (!valid.length) return [];
  return ctx.rt.db
    .select()
    .from(subnets)
    .where(sql`${subnets.networkId} in ${valid}`)
    .orderBy(subnets.createdAt, subnets.id);
}

const pool = z.object({ start: z.string(), end: z.string() });
const route = z.object({ destination: z.string(), nexthop: z.string() });

const createInput = z.object({
  networkId: z.string(),
  name: neutronName.nullish(),
  cidr: z.string(),
  ipVersion: z.union([z.literal(4), z.literal(6)]).nullish(),
  /** Absent: the first address; null: no gateway. */
  gatewayIp: z.string().nullable().optional(),
  allocationPools: z.array(pool).max(20, 'may hold at most 20 pools').nullish(),
  dnsNameservers: z.array(z.string()).nullish(),
  hostRoutes: z.array(route).max(20, 'may hold at most 20 routes').nullish(),
  enableDhcp: z.boolean().nullish(),
});

/**
 * Neutron's createSubnet: CIDR, gateway and pools checked (no overlap within the network),
 * and with DHCP the network's DHCP port gets an address on it.
 */
export async function createSubnet(ctx: ServiceContext, input: unknown): Promise<SubnetRow> {
  authorize(ctx, 'network:manage_subnets');
  const data = parseInput(createInput, input);
  const network = await writable(loadNetworks, ctx, 'network', data.networkId).catch((error) => {
    if (error instanceof NotFoundError) {
      throw new InvalidInputError(
        'input.networkId',
        `input.networkId: no network with id "${data.networkId}"`,
      );
    }
    throw error;
  });
  return inTransaction(ctx.rt, async (tx) => {
    // The network row serialises subnet changes, so two overlapping CIDRs cannot both pass.
    const [locked] = await tx
      .select()
      .from(networks)
      .where(eq(networks.id, network.id))
      .for('update');
    if (!locked) throw new NotFoundError('network', data.networkId);
    const siblings = await tx
      .select({ id: subnets.id, cidr: subnets.cidr })
      .from(subnets)
      .where(eq(subnets.networkId, network.id));
    const checked = checkSubnet(data, siblings);
    const [row] = await tx
      .insert(subnets)
      .values({
        networkId: network.id,
        projectId: network.projectId,
        name: data.name ?? '',
        ipVersion: checked.ipVersion,
        cidr: checked.cidrText,
        gatewayIp: checked.gatewayIp,
        allocationPools: checked.allocationPools,
        dnsNameservers: checked.dnsNameservers,
        hostRoutes: checked.hostRoutes,
        enableDhcp: data.enableDhcp ?? true,
      })
      .returning();
    if (row.enableDhcp) await ensureDhcpAddress(tx, locked, row);
    await syncNetwork(tx, network.id);
    await reserveQuota(tx, ctx.rt.config.quotaDefaults, network.projectId, { subnets: 1 });
    await publishNetworkEvent(tx, 'SUBNET_CREATED', 'Subnet', row);
    return row;
  });
}

const updateInput = z.object({
  id: z.string(),
  name: neutronName.nullish(),
  dnsNameservers: z.array(z.string()).nullish(),
  hostRoutes: z.array(route).max(20, 'may hold at most 20 routes').nullish(),
  enableDhcp: z.boolean().nullish(),
});

/** Renames, changes name servers or host routes, turns DHCP on or off. */
export async function updateSubnet(ctx: ServiceContext, input: unknown): Promise<SubnetRow> {
  authorize(ctx, 'network:manage_subnets');
  const data = parseInput(updateInput, input);
  const [current] = await loadSubnets(ctx, [data.id]);
  if (!current || !canWriteProject(ctx, current.projectId))
    throw new NotFoundError('subnet', data.id);
  const checked = checkSubnet(
    {
      cidr: current.cidr,
      gatewayIp: current.gatewayIp,
      allocationPools: current.allocationPools,
      dnsNameservers: data.dnsNameservers ?? current.dnsNameservers,
      hostRoutes: data.hostRoutes ?? current.hostRoutes,
    },
    [],
  );
  return inTransaction(ctx.rt, async (tx) => {
    const [network] = await tx
      .select()
      .from(networks)
      .where(eq(networks.id, current.networkId))
      .for('update');
    const [row] = await tx
      .update(subnets)
      .set({
        name: data.name ?? current.name,
        dnsNameservers: checked.dnsNameservers,
        hostRoutes: checked.hostRoutes,
        enableDhcp: data.enableDhcp ?? current.enableDhcp,
      })
      .where(eq(subnets.id, current.id))
      .returning();
    if (row.enableDhcp && !current.enableDhcp) await ensureDhcpAddress(tx, network, row);
    if (!row.enableDhcp && current.enableDhcp) await releaseDhcpAddress(tx, row);
    await syncNetwork(tx, row.networkId);
    await publishNetworkEvent(tx, 'SUBNET_UPDATED', 'Subnet', row);
    return row;
  });
}

/** Takes the DHCP port's address on the subnet back; the port goes with its last address. */
async function releaseDhcpAddress(
  tx: Parameters<Parameters<typeof inTransaction>[1]>[0],
  subnet: SubnetRow,
) {
  const dhcpPorts = tx
    .select({ id: ports.id })
    .from(ports)
    .where(and(eq(ports.networkId, subnet.networkId), eq(ports.deviceOwner, 'network:dhcp')));
  await tx
    .delete(ipAllocations)
    .where(
      and(eq(ipAllocations.subnetId, subnet.id), sql`${ipAllocations.portId} in ${dhcpPorts}`),
    );
  await tx.execute(
    sql`delete from ${ports} p where p.network_id = ${subnet.networkId} and p.device_owner = 'network:dhcp'
        and not exists (select 1 from ${ipAllocations} a where a.port_id = p.id)`,
  );
}

/** Neutron's deleteSubnet: refused (SubnetInUse) while ports other than the DHCP port hold addresses of it. */
export async function deleteSubnet(ctx: ServiceContext, id: string): Promise<SubnetRow> {
  authorize(ctx, 'network:manage_subnets');
  const [current] = await loadSubnets(ctx, [id]);
  if (!current || !canWriteProject(ctx, current.projectId)) throw new NotFoundError('subnet', id);
  return inTransaction(ctx.rt, async (tx) => {
    await tx
      .select({ id: networks.id })
      .from(networks)
      .where(eq(networks.id, current.networkId))
      .for('update');
    // Locking the subnet waits out allocations in flight (their foreign key holds a share lock).
    const [row] = await tx.select().from(subnets).where(eq(subnets.id, current.id)).for('update');
    if (!row) throw new NotFoundError('subnet', id);
    const [{ n }] = await tx
      .select({ n: sql<number>`cast(count(*) as integer)` })
      .from(ipAllocations)
      .innerJoin(ports, eq(ports.id, ipAllocations.portId))
      .where(and(eq(ipAllocations.subnetId, row.id), ne(ports.deviceOwner, 'network:dhcp')));
    if (n > 0) throw new SubnetInUseError(row.id, n);
    await releaseDhcpAddress(tx, row);
    await tx.delete(subnets).where(eq(subnets.id, row.id));
    await syncNetwork(tx, row.networkId);
    await releaseQuota(tx, row.projectId, { subnets: 1 });
    await publishNetworkEvent(tx, 'SUBNET_DELETED', 'Subnet', row);
    return row;
  });
}
