import { eq } from 'drizzle-orm';
import { servers } from '../../../../db/tables';
import { serverStatus } from '../../../compute/server-states';
import type { ServerRow } from '../../../compute/servers';
import { StratusError } from '../../../errors';
import { canSeeProject } from '../../../identity/auth-context';
import { serverAddresses } from '../../../networks/server-ports';
import type { ResourceContext } from '../plugin';

/** Reading a stack's server back: its row, Heat's attribute shapes, and its failures. */

/** The server went to ERROR (or a step on it failed): the engine fails the resource with this. */
export class ServerFailedError extends StratusError {
  constructor(
    readonly serverId: string,
    message: string,
  ) {
    super('CONFLICT', message);
  }
}

/** The row, deleted ones included (a delete's completion), or null when gone or not the owner's. */
export async function readServer(ctx: ResourceContext, id: string): Promise<ServerRow | null> {
  const [row] = await ctx.svc.rt.db.select().from(servers).where(eq(servers.id, id));
  return row && canSeeProject(ctx.svc.auth, row.projectId) ? row : null;
}

export function faultOf(row: ServerRow, doing: string): ServerFailedError {
  const fault = row.fault ? `${row.fault.message} (code ${row.fault.code})` : 'no fault recorded';
  return new ServerFailedError(row.id, `Server ${row.id} went to ERROR while ${doing}: ${fault}`);
}

interface HeatAddress {
  version: number;
  addr: string;
  'OS-EXT-IPS:type': string;
  'OS-EXT-IPS-MAC:mac_addr': string;
}

/** Nova's `addresses` as Heat shows it: network name -> addresses. */
export async function addressesOf(
  ctx: ResourceContext,
  id: string,
): Promise<{ byName: Record<string, HeatAddress[]>; byId: Record<string, HeatAddress[]> }> {
  const nets = (await serverAddresses(ctx.svc.rt.db, [id])).get(id) ?? [];
  const byName: Record<string, HeatAddress[]> = {};
  const byId: Record<string, HeatAddress[]> = {};
  for (const net of nets) {
    const list = net.addresses.map((a) => ({
      version: a.version,
      addr: a.ip,
      'OS-EXT-IPS:type': a.type,
      'OS-EXT-IPS-MAC:mac_addr': a.mac,
    }));
    const key = net.networkName || net.networkId;
    byName[key] = [...(byName[key] ?? []), ...list];
    byId[net.networkId] = list;
  }
  return { byName, byId };
}

/** The server as Nova's GET /servers/{id} shows it, with Heat's extended keys. */
export async function showServer(
  ctx: ResourceContext,
  row: ServerRow,
): Promise<Record<string, unknown>> {
  const { byName } = await addressesOf(ctx, row.id);
  return {
    id: row.id,
    name: row.name,
    status: serverStatus(row.vmState, row.taskState),
    'OS-EXT-STS:vm_state': row.vmState,
    'OS-EXT-STS:task_state': row.taskState,
    'OS-EXT-STS:power_state': row.powerState,
    'OS-EXT-AZ:availability_zone': row.availabilityZone ?? 'nova',
    'OS-EXT-SRV-ATTR:instance_name': row.id,
    'OS-EXT-SRV-ATTR:host': row.host,
    tenant_id: row.projectId,
    user_id: row.userId,
    flavor: {
      id: row.flavor.flavorId,
      original_name: row.flavor.name,
      vcpus: row.flavor.vcpus,
      ram: row.flavor.ramMib,
      disk: row.flavor.rootDiskGib,
      ephemeral: row.flavor.ephemeralGib,
      swap: row.flavor.swapMib,
    },
    image: row.imageId ? { id: row.imageId } : '',
    key_name: row.keyName,
    metadata: row.metadata,
    tags: row.tags,
    addresses: byName,
    accessIPv4: '',
    accessIPv6: '',
    locked: row.locked,
    fault: row.fault ? { code: row.fault.code, message: row.fault.message } : undefined,
    created: row.createdAt.toISOString(),
    updated: row.updatedAt.toISOString(),
  };
}

/** One of OS::Nova::Server's attributes. */
export async function serverAttribute(
  ctx: ResourceContext,
  row: ServerRow,
  name: string,
): Promise<unknown> {
  switch (name) {
    case 'show':
      return showServer(ctx, row);
    case 'name':
      return row.name;
    // Nova's access IPs are set by hand and Stratus has none: Heat shows '' then.
    case 'accessIPv4':
    case 'accessIPv6':
      return '';
    // The hypervisor knows an instance by its server id (QEMU's -uuid), not instance-%08x.
    case 'instance_name':
      return row.id;
    case 'addresses':
      return (await addressesOf(ctx, row.id)).byName;
    case 'networks': {
      // Heat keys the fixed IPs by network name and by network id.
      const { byName, byId } = await addressesOf(ctx, row.id);
      const ips = (m: Record<string, HeatAddress[]>) =>
        Object.fromEntries(Object.entries(m).map(([k, list]) => [k, list.map((a) => a.addr)]));
      return { ...ips(byName), ...ips(byId) };
    }
    case 'first_address': {
      const { byName } = await addressesOf(ctx, row.id);
      const first = Object.values(byName)
        .flat()
        .find((a) => a['OS-EXT-IPS:type'] === 'fixed' && a.version === 4);
      return first?.addr ?? '';
    }
    default:
      return null;
  }
}
