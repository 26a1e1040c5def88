import { randomBytes } from 'node:crypto';
import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import {
  type AddressPairValue,
  ipAllocations,
  portSecurityGroups,
  ports,
  subnets,
} from '../../db/tables';
import { ConflictError, InvalidInputError } from '../errors';
import type { NetworkRow, PortRow, SubnetRow } from './access';
import { IpAddressGenerationFailureError } from './errors';
import { cidrContains, parseCidr, parseIp } from './ip';
import { allocateAuto, allocateRequested, planOf } from './ipam';

/** Creating a port inside a caller's transaction: MAC, fixed IPs, security groups. */

export interface FixedIpRequest {
  subnetId?: string | null;
  ipAddress?: string | null;
}

export interface NewPort {
  network: NetworkRow;
  projectId: string;
  name?: string;
  macAddress?: string | null;
  deviceOwner?: string;
  deviceId?: string;
  adminStateUp?: boolean;
  portSecurityEnabled?: boolean;
  allowedAddressPairs?: AddressPairValue[];
  securityGroupIds?: string[];
  /** null: one address per IP version from the network's subnets (Neutron's default). */
  fixedIps?: FixedIpRequest[] | null;
  createdForServer?: boolean;
  /** Its place among the server's NICs (createServer's request order). */
  deviceIndex?: number;
  /** Path of the request in the input, for errors: `input`, `input.networks.2`. */
  field: string;
}

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
/** Neutron's mac_generation_retries. */
const MAC_ATTEMPTS = 16;

/** Neutron's base MAC fa:16:3e with three random octets. */
export function generateMac(): string {
  return `fa:16:3e:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

/** A unicast MAC address in lowercase, or InvalidInputError naming `field`. */
export function checkMac(field: string, text: string): string {
  const mac = text.toLowerCase();
  if (
    !MAC.test(mac) ||
    mac === '00:00:00:00:00:00' ||
    (Number.parseInt(mac.slice(0, 2), 16) & 1) === 1
  ) {
    throw new InvalidInputError(
      field,
      `${field} must be a unicast MAC address like fa:16:3e:00:00:01 (got "${text}")`,
    );
  }
  return mac;
}

/** Checks allowed address pairs: an address or CIDR each, with an optional MAC. */
export function checkAddressPairs(
  field: string,
  pairs: { ipAddress: string; macAddress?: string | null }[],
): AddressPairValue[] {
  if (pairs.length > 10) throw new InvalidInputError(field, `${field} may hold at most 10 pairs`);
  return pairs.map((p, i) => {
    const f = `${field}.${i}`;
    const cidr = p.ipAddress.includes('/') ? parseCidr(p.ipAddress).cidr : null;
    const ip = cidr ? null : parseIp(p.ipAddress);
    if (!cidr && !ip)
      throw new InvalidInputError(
        `${f}.ipAddress`,
        `${f}.ipAddress is not an address or CIDR (got "${p.ipAddress}")`,
      );
    return {
      ipAddress: p.ipAddress,
      macAddress: p.macAddress ? checkMac(`${f}.macAddress`, p.macAddress) : null,
    };
  });
}

export async function subnetsOf(tx: Tx, networkId: string): Promise<SubnetRow[]> {
  return tx
    .select()
    .from(subnets)
    .where(eq(subnets.networkId, networkId))
    .orderBy(asc(subnets.createdAt), asc(subnets.id));
}

/**
 * Gives `portId` its fixed IPs: the requested ones (each checked: subnet of this network,
 * address inside it and free), or by default one address per IP version.
 */
export async function allocateFixedIps(
  tx: Tx,
  network: NetworkRow,
  portId: string,
  requests: FixedIpRequest[] | null,
  field: string,
  mayBeGateway = false,
): Promise<void> {
  const all = await subnetsOf(tx, network.id);
  if (requests === null) {
    for (const version of [4, 6]) {
      const candidates = all.filter((s) => s.ipVersion === version);
      let failure: unknown = null;
      for (const subnet of candidates) {
        try {
          await allocateAuto(tx, planOf(subnet), portId, `${field}.fixedIps`);
          failure = null;
          break;
        } catch (error) {
          if (!(error instanceof IpAddressGenerationFailureError)) throw error;
          failure = error;
        }
      }
      if (failure) throw failure;
    }
    return;
  }
  for (const [i, request] of requests.entries()) {
    const f = `${field}.fixedIps.${i}`;
    let subnet: SubnetRow | undefined;
    if (request.subnetId) {
      subnet = all.find((s) => s.id === request.subnetId);
      if (!subnet)
        throw new InvalidInputError(
          `${f}.subnetId`,
          `${f}.subnetId: no subnet "${request.subnetId}" on network ${network.id}`,
        );
    }
    if (request.ipAddress) {
      const address = parseIp(request.ipAddress);
      if (!address)
        throw new InvalidInputError(
          `${f}.ipAddress`,
          `${f}.ipAddress is not an IP address (got "${request.ipAddress}")`,
        );
      if (!subnet) {
        subnet = all.find((s) => cidrContains(planOf(s).cidr, address));
        if (!subnet) {
          throw new InvalidInputError(
            `${f}.ipAddress`,
            `${f}.ipAddress ${request.ipAddress} is outside every subnet of network ${network.id}`,
          );
        }
      }
      await allocateRequested(
        tx,
        planOf(subnet),
        request.ipAddress,
        portId,
        `${f}.ipAddress`,
        mayBeGateway,
      );
    } else if (subnet) {
      await allocateAuto(tx, planOf(subnet), portId, f);
    } else {
      throw new InvalidInputError(f, `${f} needs a subnetId or an ipAddress`);
    }
  }
}

/** Inserts a port with its addresses and groups; the caller reserves quota and syncs. */
export async function insertPort(tx: Tx, p: NewPort): Promise<PortRow> {
  const given = p.macAddress ? checkMac(`${p.field}.macAddress`, p.macAddress) : null;
  const portSecurity = p.portSecurityEnabled ?? true;
  let row: PortRow | undefined;
  // A generated MAC may already be on the network (24 random bits: likely among thousands of
  // ports): another one is drawn, as Neutron's mac_generation_retries does. ON CONFLICT keeps
  // the transaction usable; a given MAC that is taken is an error.
  for (let attempt = 0; !row && attempt < MAC_ATTEMPTS; attempt++) {
    const mac = given ?? generateMac();
    [row] = await tx
      .insert(ports)
      .values({
        networkId: p.network.id,
        projectId: p.projectId,
        name: p.name ?? '',
        macAddress: mac,
        deviceOwner: p.deviceOwner ?? '',
        deviceId: p.deviceId ?? '',
        adminStateUp: p.adminStateUp ?? true,
        portSecurityEnabled: portSecurity,
        allowedAddressPairs: p.allowedAddressPairs ?? [],
        createdForServer: p.createdForServer ?? false,
        deviceIndex: p.deviceIndex ?? null,
      })
      .onConflictDoNothing({ target: [ports.networkId, ports.macAddress] })
      .returning();
    if (!row && given) {
      throw new ConflictError(
        `MAC address ${given} is in use on network ${p.network.id} (${p.field}.macAddress)`,
      );
    }
  }
  if (!row) {
    throw new ConflictError(
      `No free MAC address found on network ${p.network.id} after ${MAC_ATTEMPTS} tries`,
    );
  }
  await allocateFixedIps(
    tx,
    p.network,
    row.id,
    p.fixedIps ?? null,
    p.field,
    p.deviceOwner === 'network:router_interface',
  );
  if (p.securityGroupIds?.length) {
    await tx
      .insert(portSecurityGroups)
      .values(p.securityGroupIds.map((g) => ({ portId: row.id, securityGroupId: g })));
  }
  return row;
}

/** Fixed IPs of ports, in one statement. */
export async function fixedIpsOf(
  db: Pick<Tx, 'select'>,
  portIds: readonly string[],
): Promise<Map<string, { subnetId: string; ip: string }[]>> {
  const rows = portIds.length
    ? await db
        .select({
          portId: ipAllocations.portId,
          subnetId: ipAllocations.subnetId,
          ip: ipAllocations.ip,
        })
        .from(ipAllocations)
        .where(inArray(ipAllocations.portId, [...portIds]))
    : [];
  const out = new Map<string, { subnetId: string; ip: string }[]>();
  for (const r of rows)
    out.set(r.portId, [...(out.get(r.portId) ?? []), { subnetId: r.subnetId, ip: r.ip }]);
  return out;
}

/** Security group ids of ports, in one statement. */
export async function groupsOf(
  db: Pick<Tx, 'select'>,
  portIds: readonly string[],
): Promise<Map<string, string[]>> {
  const rows = portIds.length
    ? await db
        .select()
        .from(portSecurityGroups)
        .where(inArray(portSecurityGroups.portId, [...portIds]))
    : [];
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.portId, [...(out.get(r.portId) ?? []), r.securityGroupId]);
  return out;
}

/** The network's DHCP port, with an address on `subnet` (made on the first DHCP subnet). */
export async function ensureDhcpAddress(
  tx: Tx,
  network: NetworkRow,
  subnet: SubnetRow,
): Promise<void> {
  let [port] = await tx
    .select()
    .from(ports)
    .where(and(eq(ports.networkId, network.id), eq(ports.deviceOwner, 'network:dhcp')));
  if (!port) {
    port = await insertPort(tx, {
      network,
      projectId: network.projectId,
      deviceOwner: 'network:dhcp',
      deviceId: `dhcp-${network.id}`,
      portSecurityEnabled: false,
      fixedIps: [],
      field: 'input',
    });
  }
  const [held] = await tx
    .select()
    .from(ipAllocations)
    .where(and(eq(ipAllocations.portId, port.id), eq(ipAllocations.subnetId, subnet.id)));
  if (!held) await allocateAuto(tx, planOf(subnet), port.id, 'input', true);
}
