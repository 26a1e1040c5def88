import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import { ipAllocations } from '../../db/tables';
import { InvalidInputError } from '../errors';
import type { SubnetRow } from './access';
import { IpAddressGenerationFailureError, IpAddressInUseError } from './errors';
import {
  type Cidr,
  cidrContains,
  formatIp,
  type IpRange,
  lastAddress,
  parseCidr,
  parseIp,
  rangeSize,
} from './ip';

/**
 * IPAM: addresses of a subnet's allocation pools given to ports inside the port's transaction.
 * The primary key (subnet_id, ip) is the guarantee that no address is given twice; picking
 * avoids contention: random candidates in large pools, a random free address from a fresh
 * read in small or crowded ones, retried when a concurrent transaction took it first.
 */

export interface SubnetPlan {
  subnet: SubnetRow;
  cidr: Cidr;
  pools: IpRange[];
  total: bigint;
}

export function planOf(subnet: SubnetRow): SubnetPlan {
  const cidr = parseCidr(subnet.cidr).cidr!;
  const pools = subnet.allocationPools.map((p) => ({
    version: cidr.version,
    first: parseIp(p.start)!.value,
    last: parseIp(p.end)!.value,
  }));
  return { subnet, cidr, pools, total: pools.reduce((n, p) => n + rangeSize(p), 0n) };
}

/** Inserts the allocation unless the address is taken (waits for a concurrent holder to end). */
async function claim(tx: Tx, plan: SubnetPlan, ip: string, portId: string): Promise<boolean> {
  const rows = await tx
    .insert(ipAllocations)
    .values({ subnetId: plan.subnet.id, ip, portId, networkId: plan.subnet.networkId })
    .onConflictDoNothing()
    .returning({ ip: ipAllocations.ip });
  return rows.length > 0;
}

function randomBelow(n: bigint): bigint {
  return BigInt(`0x${randomBytes(16).toString('hex')}`) % n;
}

function addressAt(pools: IpRange[], offset: bigint): bigint {
  let rest = offset;
  for (const pool of pools) {
    const size = rangeSize(pool);
    if (rest < size) return pool.first + rest;
    rest -= size;
  }
  throw new Error('offset outside the pools');
}

/** Up to `limit` free addresses of the pools, given the taken ones. */
function freeAddresses(plan: SubnetPlan, taken: Set<string>, limit: number): string[] {
  const free: string[] = [];
  for (const pool of plan.pools) {
    for (let v = pool.first; v <= pool.last && free.length < limit; v++) {
      const ip = formatIp({ version: plan.cidr.version, value: v });
      if (!taken.has(ip)) free.push(ip);
    }
    if (free.length >= limit) break;
  }
  return free;
}

/** Gives the port a free address of the subnet's pools; IpAddressGenerationFailure when none is left. */
export async function allocateAuto(
  tx: Tx,
  plan: SubnetPlan,
  portId: string,
  field: string,
  /** The lowest free address (the DHCP port's habit) rather than a random one. */
  lowest = false,
): Promise<string> {
  const version = plan.cidr.version;
  // Large pools: a random address is nearly always free, at one statement.
  if (plan.total > 256n && !lowest) {
    for (let attempt = 0; attempt < 4; attempt++) {
      const ip = formatIp({ version, value: addressAt(plan.pools, randomBelow(plan.total)) });
      if (await claim(tx, plan, ip, portId)) return ip;
    }
  }
  // Small or crowded: read what is taken now and try a random free one; a lost race rereads.
  for (let round = 0; round < 50; round++) {
    const rows = await tx
      .select({ ip: ipAllocations.ip })
      .from(ipAllocations)
      .where(eq(ipAllocations.subnetId, plan.subnet.id));
    const free = freeAddresses(plan, new Set(rows.map((r) => r.ip)), 64);
    if (free.length === 0) break;
    const ip = lowest ? free[0] : free[Number(randomBelow(BigInt(free.length)))];
    if (await claim(tx, plan, ip, portId)) return ip;
  }
  throw new IpAddressGenerationFailureError(field, plan.subnet.networkId, plan.subnet.id);
}

/**
 * Gives the port the address it asked for: inside the subnet (not its network or IPv4
 * broadcast address, not the gateway unless `mayBeGateway`), and not held by another port.
 */
export async function allocateRequested(
  tx: Tx,
  plan: SubnetPlan,
  requested: string,
  portId: string,
  field: string,
  mayBeGateway = false,
): Promise<string> {
  const address = parseIp(requested);
  if (!address)
    throw new InvalidInputError(field, `${field} is not an IP address (got "${requested}")`);
  const ip = formatIp(address);
  if (!cidrContains(plan.cidr, address)) {
    throw new InvalidInputError(
      field,
      `${field} ${ip} is outside subnet ${plan.subnet.id} (${plan.subnet.cidr})`,
    );
  }
  const reserved =
    plan.cidr.prefixLength < (plan.cidr.version === 4 ? 31 : 127) &&
    (address.value === plan.cidr.network ||
      (plan.cidr.version === 4 && address.value === lastAddress(plan.cidr)));
  if (reserved) {
    throw new InvalidInputError(
      field,
      `${field} ${ip} is the network or broadcast address of ${plan.subnet.cidr}`,
    );
  }
  if (!mayBeGateway && plan.subnet.gatewayIp === ip) {
    throw new IpAddressInUseError(field, ip, plan.subnet.networkId);
  }
  if (!(await claim(tx, plan, ip, portId))) {
    throw new IpAddressInUseError(field, ip, plan.subnet.networkId);
  }
  return ip;
}
