import { and, eq, inArray, like } from 'drizzle-orm';
import type { Database, DbOrTx, Tx } from '../../db/connection';
import { floatingIps, ipAllocations, networks, ports } from '../../db/tables';
import type { PortSpec } from '../../drivers/network/types';
import { ConflictError } from '../errors';
import type { ServiceContext } from '../runtime';
import { canWriteProject, loadPorts, type PortRow } from './access';
import { NetworkNotFoundError, PortNotFoundError } from './errors';
import { groupsOf, insertPort } from './port-core';
import { afterPortChange, portGroups, removePort, usableNetwork } from './ports';
import { reserveOne } from './quota';
import { portSpecs } from './specs';
import { publishNetworkEvent } from './sync';

/**
 * What compute (createServer, the build and delete jobs, Server.addresses) uses from the
 * networks service. Ports of servers have device_owner `compute:<availability zone>` and
 * device_id the server's id, as in Nova + Neutron.
 */

/** One entry of createServer's `networks`: a network to get a new port on, or a port to use. */
export type ServerPortRequest = { networkId: string; fixedIp?: string | null } | { portId: string };

export interface ServerPortsInput {
  projectId: string;
  serverId: string;
  requests: ServerPortRequest[];
  /** For device_owner `compute:<az>`; `nova` when absent. */
  availabilityZone?: string | null;
}

/**
 * Allocates or claims the server's ports inside the caller's transaction, in request order:
 * a new port (default security group, IPAM, quota `ports`) per network request, an existing
 * unused port of the project per port request. Errors name `input.networks.<i>`:
 * NetworkNotFoundError / PortNotFoundError, IpAddressInUseError, IpAddressGenerationFailureError,
 * ConflictError (port in use), QuotaExceededError.
 */
export async function createServerPorts(
  tx: Tx,
  ctx: ServiceContext,
  input: ServerPortsInput,
): Promise<PortRow[]> {
  const owner = `compute:${input.availabilityZone ?? 'nova'}`;
  const created: PortRow[] = [];
  let newPorts = 0;
  for (const [i, request] of input.requests.entries()) {
    const field = `input.networks.${i}`;
    if ('portId' in request) {
      const [port] = await loadPorts(ctx, [request.portId]);
      if (!port || port.projectId !== input.projectId || !canWriteProject(ctx, port.projectId)) {
        throw new PortNotFoundError(`${field}.portId`, request.portId);
      }
      const [claimed] = await tx
        .update(ports)
        .set({ deviceId: input.serverId, deviceOwner: owner, deviceIndex: i })
        .where(and(eq(ports.id, port.id), eq(ports.deviceId, '')))
        .returning();
      if (!claimed || port.deviceOwner.startsWith('network:')) {
        throw new ConflictError(
          `${field}.portId: port ${port.id} is in use by ${port.deviceOwner || 'device'} ${port.deviceId}`,
        );
      }
      created.push(claimed);
      continue;
    }
    const network = await usableNetwork(ctx, request.networkId, `${field}.networkId`).catch(() => {
      throw new NetworkNotFoundError(`${field}.networkId`, request.networkId);
    });
    const groups = await portGroups(ctx, tx, input.projectId, null, true, field);
    const port = await insertPort(tx, {
      network,
      projectId: input.projectId,
      deviceOwner: owner,
      deviceId: input.serverId,
      securityGroupIds: groups,
      fixedIps: request.fixedIp ? [{ ipAddress: request.fixedIp }] : null,
      createdForServer: true,
      deviceIndex: i,
      field,
    });
    await afterPortChange(tx, port, groups);
    created.push(port);
    newPorts++;
  }
  if (newPorts > 0) {
    await reserveOne(tx, ctx.rt.config.quotaDefaults, input.projectId, 'ports', newPorts);
  }
  for (const port of created) await publishNetworkEvent(tx, 'PORT_UPDATED', 'Port', port);
  return created;
}

/** Specs of the server's ports, in creation order, for the compute driver to plug. */
export async function portSpecsForServer(db: DbOrTx, serverId: string): Promise<PortSpec[]> {
  const rows = await db
    .select({ port: ports, network: networks })
    .from(ports)
    .innerJoin(networks, eq(networks.id, ports.networkId))
    .where(and(eq(ports.deviceId, serverId), like(ports.deviceOwner, 'compute:%')))
    .orderBy(ports.deviceIndex, ports.createdAt, ports.id);
  return portSpecs(db, rows);
}

/**
 * Binds the server's ports to `host` (status BUILD) and queues their plugging there
 * (`port.sync@<host>`): each becomes ACTIVE once the host's driver has it.
 */
export async function bindServerPorts(
  db: Database | Tx,
  serverId: string,
  host: string,
): Promise<void> {
  await db.transaction(async (tx) => {
    const bound = await tx
      .update(ports)
      .set({ bindingHost: host, status: 'BUILD' })
      .where(and(eq(ports.deviceId, serverId), like(ports.deviceOwner, 'compute:%')))
      .returning();
    const groups = await groupsOf(
      tx,
      bound.map((p) => p.id),
    );
    for (const port of bound) {
      await afterPortChange(tx, port, groups.get(port.id) ?? []);
      await publishNetworkEvent(tx, 'PORT_UPDATED', 'Port', port);
    }
  });
}

/** Sets the status of all the server's ports (e.g. DOWN when it stops), publishing the change. */
export async function setPortsStatus(
  db: Database | Tx,
  serverId: string,
  status: 'DOWN' | 'BUILD' | 'ACTIVE',
): Promise<void> {
  await db.transaction(async (tx) => {
    const changed = await tx
      .update(ports)
      .set({ status })
      .where(and(eq(ports.deviceId, serverId), like(ports.deviceOwner, 'compute:%')))
      .returning();
    for (const port of changed) await publishNetworkEvent(tx, 'PORT_UPDATED', 'Port', port);
  });
}

/**
 * The server is going: ports it created are deleted (addresses and quota back, taps removed on
 * their host); ports the user gave it are unbound and kept, as Nova does.
 */
export async function releaseServerPorts(tx: Tx, serverId: string): Promise<void> {
  const rows = await tx
    .select()
    .from(ports)
    .where(and(eq(ports.deviceId, serverId), like(ports.deviceOwner, 'compute:%')))
    .for('update');
  for (const port of rows) {
    if (port.createdForServer) {
      await removePort(tx, port);
      continue;
    }
    const [kept] = await tx
      .update(ports)
      .set({ deviceId: '', deviceOwner: '', deviceIndex: null, bindingHost: null, status: 'DOWN' })
      .where(eq(ports.id, port.id))
      .returning();
    // The old host removes its tap (the job finds it bound nowhere); DHCP and peers follow.
    await afterPortChange(tx, port, (await groupsOf(tx, [port.id])).get(port.id) ?? []);
    await publishNetworkEvent(tx, 'PORT_UPDATED', 'Port', kept);
  }
}

export interface ServerAddress {
  ip: string;
  version: 4 | 6;
  mac: string;
  type: 'fixed' | 'floating';
}

export interface ServerNetworkAddresses {
  networkId: string;
  networkName: string;
  addresses: ServerAddress[];
}

/**
 * Nova's `addresses` for many servers in two statements: per network (by name), fixed IPs
 * then the floating IPs on them. For a dataloader.
 */
export async function serverAddresses(
  db: DbOrTx,
  serverIds: readonly string[],
): Promise<Map<string, ServerNetworkAddresses[]>> {
  const out = new Map<string, ServerNetworkAddresses[]>(serverIds.map((id) => [id, []]));
  if (serverIds.length === 0) return out;
  const rows = await db
    .select({
      serverId: ports.deviceId,
      portId: ports.id,
      mac: ports.macAddress,
      networkId: networks.id,
      networkName: networks.name,
      ip: ipAllocations.ip,
    })
    .from(ports)
    .innerJoin(networks, eq(networks.id, ports.networkId))
    .innerJoin(ipAllocations, eq(ipAllocations.portId, ports.id))
    .where(and(inArray(ports.deviceId, [...serverIds]), like(ports.deviceOwner, 'compute:%')))
    .orderBy(ports.deviceIndex, ports.createdAt, ports.id, ipAllocations.ip);
  const portIds = [...new Set(rows.map((r) => r.portId))];
  const floating = portIds.length
    ? await db
        .select({
          portId: floatingIps.portId,
          fixed: floatingIps.fixedIpAddress,
          ip: floatingIps.floatingIpAddress,
        })
        .from(floatingIps)
        .where(inArray(floatingIps.portId, portIds))
    : [];
  for (const r of rows) {
    const list = out.get(r.serverId);
    if (!list) continue;
    let entry = list.find((e) => e.networkId === r.networkId);
    if (!entry) {
      entry = { networkId: r.networkId, networkName: r.networkName, addresses: [] };
      list.push(entry);
    }
    entry.addresses.push({
      ip: r.ip,
      version: r.ip.includes(':') ? 6 : 4,
      mac: r.mac,
      type: 'fixed',
    });
    for (const f of floating.filter((x) => x.portId === r.portId && x.fixed === r.ip)) {
      entry.addresses.push({ ip: f.ip, version: 4, mac: r.mac, type: 'floating' });
    }
  }
  return out;
}
