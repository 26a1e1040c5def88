import { and, eq, ilike, isNotNull, ne, or, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../../db/connection';
import { networks, ports, subnets } from '../../db/tables';
import { authorize } from '../authorize';
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from '../errors';
import { isAdmin, scopedProjectId } from '../identity/auth-context';
import { containsPattern, type ListResult, type Page, selectPage } from '../pagination';
import { releaseQuota, reserveQuota } from '../quotas';
import { inTransaction, type ServiceContext } from '../runtime';
import { foreignKeyViolation, isUuid, parseInput } from '../validation';
import { listScope, loadNetworks, type NetworkRow, type ProjectFilter, writable } from './access';
import { NetworkInUseError } from './errors';
import { publishNetworkEvent, syncNetwork, syncPort } from './sync';

/** Neutron names are free text (empty allowed), at most 255 characters. */
export const neutronName = z.string().max(255, 'must be at most 255 characters');

export interface NetworkFilter extends ProjectFilter {
  name?: string | null;
  shared?: boolean | null;
  external?: boolean | null;
}

/** Networks the caller may see: its project's, shared and external ones; oldest first. */
export async function listNetworks(
  ctx: ServiceContext,
  filter: NetworkFilter,
  page: Page,
): Promise<ListResult<NetworkRow>> {
  authorize(ctx, 'network:list');
  const scope = listScope(
    ctx,
    networks.projectId,
    filter,
    or(eq(networks.shared, true), eq(networks.external, true)),
  );
  if (scope === null) return { rows: [], totalCount: 0 };
  const where = and(
    scope,
    filter.name != null ? ilike(networks.name, containsPattern(filter.name)) : undefined,
    filter.shared != null ? eq(networks.shared, filter.shared) : undefined,
    filter.external != null ? eq(networks.external, filter.external) : undefined,
  );
  return selectPage(
    ctx.rt.db,
    networks,
    where,
    { column: networks.createdAt, direction: 'ASC', tiebreak: networks.id },
    page,
  );
}

const createInput = z.object({
  name: neutronName.nullish(),
  adminStateUp: z.boolean().nullish(),
  shared: z.boolean().nullish(),
  external: z.boolean().nullish(),
  mtu: z.number().int().min(68, 'must be at least 68').max(9000, 'must be at most 9000').nullish(),
  projectId: z.string().nullish(),
});

/** The project a create acts for: the token's, or (admins) the one named in the input. */
export function targetProject(ctx: ServiceContext, given: string | null | undefined): string {
  if (given) {
    if (!isAdmin(ctx.auth)) {
      throw new ForbiddenError('Only an admin may create resources for another project');
    }
    if (!isUuid(given))
      throw new InvalidInputError('input.projectId', `No project with id "${given}"`);
    return given;
  }
  const own = scopedProjectId(ctx.auth);
  if (!own) throw new InvalidInputError('input', 'A token scoped to a project is required');
  return own;
}

/** Takes the lowest free VLAN tag of the range; a lock makes concurrent creates take turns. */
async function allocateSegment(tx: Tx, range: { min: number; max: number }): Promise<number> {
  await tx.execute(sql`select pg_advisory_xact_lock(7243101)`);
  const { rows } = await tx.execute<{ id: number }>(
    sql`select s.id from generate_series(${range.min}::int, ${range.max}::int) as s(id)
        where not exists (select 1 from ${networks} n where n.segmentation_id = s.id)
        order by s.id limit 1`,
  );
  if (!rows[0]) {
    throw new ConflictError(
      `No VLAN segment is free in ${range.min}-${range.max} (Neutron's NoNetworkAvailable)`,
    );
  }
  return Number(rows[0].id);
}

/** Neutron's createNetwork: one VLAN segment allocated; shared and external are admin-only. */
export async function createNetwork(ctx: ServiceContext, input: unknown): Promise<NetworkRow> {
  authorize(ctx, 'network:manage_networks');
  const data = parseInput(createInput, input);
  const projectId = targetProject(ctx, data.projectId);
  if ((data.shared || data.external) && !isAdmin(ctx.auth)) {
    throw new ForbiddenError(
      `Only an admin may create a ${data.external ? 'external' : 'shared'} network`,
    );
  }
  return inTransaction(ctx.rt, async (tx) => {
    const segmentationId = await allocateSegment(tx, ctx.rt.config.network.vlanRange);
    const [row] = await tx
      .insert(networks)
      .values({
        projectId,
        name: data.name ?? '',
        adminStateUp: data.adminStateUp ?? true,
        shared: data.shared ?? false,
        external: data.external ?? false,
        mtu: data.mtu ?? 1500,
        status: (data.adminStateUp ?? true) ? 'ACTIVE' : 'DOWN',
        segmentationId,
      })
      .returning()
      .catch((error: unknown) => {
        if (foreignKeyViolation(error) !== null) {
          throw new InvalidInputError('input.projectId', `No project with id "${projectId}"`);
        }
        throw error;
      });
    await syncNetwork(tx, row.id);
    await reserveQuota(tx, ctx.rt.config.quotaDefaults, projectId, { networks: 1 });
    await publishNetworkEvent(tx, 'NETWORK_CREATED', 'Network', row);
    return row;
  });
}

const updateInput = z.object({
  id: z.string(),
  name: neutronName.nullish(),
  adminStateUp: z.boolean().nullish(),
  shared: z.boolean().nullish(),
  mtu: z.number().int().min(68, 'must be at least 68').max(9000, 'must be at most 9000').nullish(),
});

export async function updateNetwork(ctx: ServiceContext, input: unknown): Promise<NetworkRow> {
  authorize(ctx, 'network:manage_networks');
  const data = parseInput(updateInput, input);
  const current = await writable(loadNetworks, ctx, 'network', data.id);
  if (data.shared != null && data.shared !== current.shared && !isAdmin(ctx.auth)) {
    throw new ForbiddenError('Only an admin may share or unshare a network');
  }
  return inTransaction(ctx.rt, async (tx) => {
    const adminStateUp = data.adminStateUp ?? current.adminStateUp;
    const [row] = await tx
      .update(networks)
      .set({
        name: data.name ?? current.name,
        adminStateUp,
        status: adminStateUp ? 'ACTIVE' : 'DOWN',
        shared: data.shared ?? current.shared,
        mtu: data.mtu ?? current.mtu,
      })
      .where(eq(networks.id, current.id))
      .returning();
    if (!row) throw new NotFoundError('network', data.id);
    await syncNetwork(tx, row.id);
    // Plugged ports carry the network's admin state and MTU.
    if (row.adminStateUp !== current.adminStateUp || row.mtu !== current.mtu) {
      const bound = await tx
        .select({ id: ports.id, bindingHost: ports.bindingHost })
        .from(ports)
        .where(and(eq(ports.networkId, row.id), isNotNull(ports.bindingHost)));
      for (const port of bound) await syncPort(tx, port);
    }
    await publishNetworkEvent(tx, 'NETWORK_UPDATED', 'Network', row);
    return row;
  });
}

/**
 * Neutron's deleteNetwork: refused (NetworkInUse) while ports other than the DHCP port are on
 * it; the DHCP port, subnets and allocations go with it and the segment is free again.
 */
export async function deleteNetwork(ctx: ServiceContext, id: string): Promise<NetworkRow> {
  authorize(ctx, 'network:manage_networks');
  const current = await writable(loadNetworks, ctx, 'network', id);
  return inTransaction(ctx.rt, async (tx) => {
    // Locks the network so no port is added while it goes.
    const [row] = await tx.select().from(networks).where(eq(networks.id, current.id)).for('update');
    if (!row) throw new NotFoundError('network', id);
    const [{ n }] = await tx
      .select({ n: sql<number>`cast(count(*) as integer)` })
      .from(ports)
      .where(and(eq(ports.networkId, row.id), ne(ports.deviceOwner, 'network:dhcp')));
    if (n > 0) throw new NetworkInUseError(row.id, n);
    const [{ subnetCount }] = await tx
      .select({ subnetCount: sql<number>`cast(count(*) as integer)` })
      .from(subnets)
      .where(eq(subnets.networkId, row.id));
    await tx.delete(networks).where(eq(networks.id, row.id));
    await syncNetwork(tx, row.id);
    await releaseQuota(tx, row.projectId, { networks: 1, subnets: subnetCount });
    await publishNetworkEvent(tx, 'NETWORK_DELETED', 'Network', row);
    return row;
  });
}
