import { and, eq } from 'drizzle-orm';
import { flavors, keypairs, securityGroups, subnets } from '../../../../db/tables';
import { type FlavorRow, loadFlavors } from '../../../compute/flavors';
import { type KeypairRow, loadKeypairs } from '../../../compute/keypairs';
import { loadServerGroups, type ServerGroupRow } from '../../../compute/server-groups';
import { type ImageRow, listImages, loadImages } from '../../../images/images';
import {
  loadFloatingIps,
  loadNetworks,
  loadPorts,
  loadSecurityGroups,
  loadSubnets,
  type NetworkRow,
  type PortRow,
  type SecurityGroupRow,
  type SubnetRow,
} from '../../../networks/access';
import { listNetworks } from '../../../networks/networks';
import { listSecurityGroups } from '../../../networks/security-groups';
import { listVolumes, loadVolumes, type VolumeRow } from '../../../volumes/volumes';
import { idOf } from '../ids';
import type { ResourceContext } from '../plugin';
import { badProperty } from './props';

/**
 * Heat accepts a name or an id wherever it names a flavor, image, key, network, subnet,
 * security group or volume: resolved here within what the stack owner may see. An unknown
 * (or invisible) one, or a name several rows share, is an error naming the property path.
 */

const PAGE = { limit: 100, offset: 0 };

function pick<T extends { id: string }>(
  ctx: ResourceContext,
  prop: string,
  kind: string,
  value: string,
  rows: T[],
): T {
  if (rows.length === 0) throw badProperty(ctx, prop, `no ${kind} named or with id "${value}"`);
  if (rows.length > 1) {
    throw badProperty(
      ctx,
      prop,
      `${rows.length} ${kind}s are named "${value}"; give the id of the one to use`,
    );
  }
  return rows[0];
}

async function byIdOrName<T extends { id: string }>(
  ctx: ResourceContext,
  prop: string,
  kind: string,
  value: string,
  byId: (id: string) => Promise<T | null>,
  byName: (name: string) => Promise<T[]>,
): Promise<T> {
  const id = idOf(value);
  if (id) {
    const row = await byId(id);
    if (row) return row;
  }
  return pick(ctx, prop, kind, value, await byName(value));
}

export function findFlavor(ctx: ResourceContext, prop: string, value: string): Promise<FlavorRow> {
  const svc = ctx.svc;
  return byIdOrName(
    ctx,
    prop,
    'flavor',
    value,
    async (id) => (await loadFlavors(svc, [id]))[0],
    async (name) => {
      // Flavor names are unique; listFlavors has no name filter, so the id is read here.
      const rows = await svc.rt.db
        .select({ id: flavors.id })
        .from(flavors)
        .where(eq(flavors.name, name));
      const visible = await loadFlavors(
        svc,
        rows.map((r) => r.id),
      );
      return visible.filter((r): r is FlavorRow => r !== null);
    },
  );
}

export function findImage(ctx: ResourceContext, prop: string, value: string): Promise<ImageRow> {
  return byIdOrName(
    ctx,
    prop,
    'image',
    value,
    async (id) => (await loadImages(ctx.svc, [id]))[0],
    async (name) => (await listImages(ctx.svc, { name }, PAGE)).rows,
  );
}

/** The owner's own keypair (Nova keypairs belong to a user). */
export function findKeypair(
  ctx: ResourceContext,
  prop: string,
  value: string,
): Promise<KeypairRow> {
  const svc = ctx.svc;
  return byIdOrName(
    ctx,
    prop,
    'key pair',
    value,
    async (id) => (await loadKeypairs(svc, [id]))[0],
    async (name) =>
      svc.rt.db
        .select()
        .from(keypairs)
        .where(and(eq(keypairs.userId, svc.auth!.userId), eq(keypairs.name, name))),
  );
}

export function findNetwork(
  ctx: ResourceContext,
  prop: string,
  value: string,
): Promise<NetworkRow> {
  return byIdOrName(
    ctx,
    prop,
    'network',
    value,
    async (id) => (await loadNetworks(ctx.svc, [id]))[0],
    async (name) =>
      (await listNetworks(ctx.svc, { name }, PAGE)).rows.filter((n) => n.name === name),
  );
}

export function findSubnet(ctx: ResourceContext, prop: string, value: string): Promise<SubnetRow> {
  const svc = ctx.svc;
  return byIdOrName(
    ctx,
    prop,
    'subnet',
    value,
    async (id) => (await loadSubnets(svc, [id]))[0],
    async (name) => {
      // listSubnets has no name filter: the ids are read here, visibility is the service's.
      const rows = await svc.rt.db
        .select({ id: subnets.id })
        .from(subnets)
        .where(eq(subnets.name, name));
      const visible = (
        await loadSubnets(
          svc,
          rows.map((r) => r.id),
        )
      ).filter((r): r is SubnetRow => r !== null);
      // The stack's project's own subnet wins over same-named ones an admin also sees.
      const own = visible.filter((r) => r.projectId === ctx.stack.projectId);
      return own.length > 0 ? own : visible;
    },
  );
}

/**
 * A security group by id or name. Neutron makes a project's `default` group on first use
 * (listSecurityGroups): that write happens on create only; `partial` (validate) reads only
 * and answers null for a `default` group not made yet.
 */
export async function findSecurityGroup(
  ctx: ResourceContext,
  prop: string,
  value: string,
  partial = false,
): Promise<SecurityGroupRow | null> {
  const svc = ctx.svc;
  const byName = async (name: string) => {
    const rows = await svc.rt.db
      .select({ id: securityGroups.id })
      .from(securityGroups)
      // A server uses its own project's groups (an admin sees every project's `default`).
      .where(and(eq(securityGroups.name, name), eq(securityGroups.projectId, ctx.stack.projectId)));
    const visible = await loadSecurityGroups(
      svc,
      rows.map((r) => r.id),
    );
    return visible.filter((r): r is SecurityGroupRow => r !== null);
  };
  if (value === 'default' && (await byName(value)).length === 0) {
    if (partial) return null;
    await listSecurityGroups(svc, { name: value }, PAGE);
  }
  return byIdOrName(
    ctx,
    prop,
    'security group',
    value,
    async (id) => (await loadSecurityGroups(svc, [id]))[0],
    byName,
  );
}

export function findVolume(ctx: ResourceContext, prop: string, value: string): Promise<VolumeRow> {
  return byIdOrName(
    ctx,
    prop,
    'volume',
    value,
    async (id) => (await loadVolumes(ctx.svc, [id]))[0],
    async (name) =>
      (await listVolumes(ctx.svc, { name }, PAGE)).rows.filter((v) => v.name === name),
  );
}

export async function findPort(
  ctx: ResourceContext,
  prop: string,
  value: string,
): Promise<PortRow> {
  const [row] = await loadPorts(ctx.svc, [value]);
  if (!row) throw badProperty(ctx, prop, `no port with id "${value}"`);
  return row;
}

export async function findFloatingIp(
  ctx: ResourceContext,
  prop: string,
  value: string,
): Promise<{ id: string; portId: string | null }> {
  const [row] = await loadFloatingIps(ctx.svc, [value]);
  if (!row) throw badProperty(ctx, prop, `no floating IP with id "${value}"`);
  return row;
}

export async function findServerGroup(
  ctx: ResourceContext,
  prop: string,
  value: string,
): Promise<ServerGroupRow> {
  const [row] = await loadServerGroups(ctx.svc, [value]);
  if (!row) throw badProperty(ctx, prop, `no server group with id "${value}"`);
  return row;
}
