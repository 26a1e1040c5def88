import { isIPv4, isIPv6 } from 'node:net';

/**
 * IPv4/IPv6 arithmetic on bigint: parsing, canonical text (dotted quad, RFC 5952), CIDRs and
 * ranges. Small on purpose: IPAM needs only these, and ipaddr.js is not a direct dependency.
 */

export type IpVersion = 4 | 6;

export interface Address {
  version: IpVersion;
  value: bigint;
}

export interface Cidr {
  version: IpVersion;
  /** The network address (host bits zero). */
  network: bigint;
  prefixLength: number;
}

const bits = (version: IpVersion) => (version === 4 ? 32 : 128);

/** Parses an address in any accepted text form, or null. */
export function parseIp(text: string): Address | null {
  if (isIPv4(text)) {
    const value = text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { version: 4, value };
  }
  if (!isIPv6(text) || text.includes('%')) return null;
  let head = text;
  let tail4: bigint | null = null;
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail4 = parseIp(text.slice(lastColon + 1))?.value ?? null;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, null];
  const leftGroups = left ? left.split(':') : [];
  const rightGroups = right ? right.split(':') : [];
  const missing = 8 - leftGroups.length - rightGroups.length;
  const groups = [
    ...leftGroups,
    ...(right !== null ? Array(missing).fill('0') : []),
    ...rightGroups,
  ];
  let value = groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
  if (tail4 !== null) value = (value & ~0xffffffffn) | tail4;
  return { version: 6, value };
}

/** Canonical text of an address: dotted quad, or RFC 5952 (lowercase, longest zero run as ::). */
export function formatIp(address: Address): string {
  if (address.version === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((address.value >> s) & 0xffn)).join('.');
  }
  const groups = Array.from({ length: 8 }, (_, i) =>
    Number((address.value >> BigInt((7 - i) * 16)) & 0xffffn),
  );
  // The longest run of at least two zero groups (the first on a tie) becomes ::.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLength).join(':');
  return `${left}::${right}`;
}

/** The canonical form of an address text, or null when it is not an address. */
export function canonicalIp(text: string): string | null {
  const parsed = parseIp(text);
  return parsed ? formatIp(parsed) : null;
}

export type CidrProblem = 'syntax' | 'host-bits';

/**
 * Parses `a.b.c.d/n` or `x::/n`. With `strict`, host bits must be zero (Neutron refuses
 * 10.0.0.1/24 as a subnet CIDR); otherwise they are cleared.
 */
export function parseCidr(
  text: string,
  strict = false,
): { cidr: Cidr; problem: null } | { cidr: null; problem: CidrProblem } {
  const slash = text.indexOf('/');
  if (slash < 0) return { cidr: null, problem: 'syntax' };
  const address = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!address || !/^\d{1,3}$/.test(prefixText)) return { cidr: null, problem: 'syntax' };
  const prefixLength = Number(prefixText);
  if (prefixLength > bits(address.version)) return { cidr: null, problem: 'syntax' };
  const network = address.value & netmask(address.version, prefixLength);
  if (strict && network !== address.value) return { cidr: null, problem: 'host-bits' };
  return { cidr: { version: address.version, network, prefixLength }, problem: null };
}

export function netmask(version: IpVersion, prefixLength: number): bigint {
  const width = BigInt(bits(version));
  const all = (1n << width) - 1n;
  return (all << (width - BigInt(prefixLength))) & all;
}

/** The last address of a CIDR (the IPv4 broadcast address). */
export function lastAddress(cidr: Cidr): bigint {
  return (
    cidr.network |
    (~netmask(cidr.version, cidr.prefixLength) & ((1n << BigInt(bits(cidr.version))) - 1n))
  );
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp({ version: cidr.version, value: cidr.network })}/${cidr.prefixLength}`;
}

export function cidrContains(cidr: Cidr, address: Address): boolean {
  return (
    address.version === cidr.version &&
    address.value >= cidr.network &&
    address.value <= lastAddress(cidr)
  );
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.version === b.version && a.network <= lastAddress(b) && b.network <= lastAddress(a);
}

/** An inclusive range of addresses of one version (an allocation pool). */
export interface IpRange {
  version: IpVersion;
  first: bigint;
  last: bigint;
}

export const rangeSize = (r: IpRange) => r.last - r.first + 1n;

export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/**
 * Neutron's default allocation pools: the CIDR without its network address, its IPv4
 * broadcast address and the gateway (which may split the range in two).
 */
export function defaultPools(cidr: Cidr, gateway: bigint | null): IpRange[] {
  const version = cidr.version;
  let first = cidr.network + 1n;
  let last = version === 4 ? lastAddress(cidr) - 1n : lastAddress(cidr);
  // /31 and /32 (and IPv6 /127, /128): every address is usable.
  if (last < first) {
    first = cidr.network;
    last = lastAddress(cidr);
  }
  const whole: IpRange = { version, first, last };
  if (gateway === null || gateway < first || gateway > last) return [whole];
  const pools: IpRange[] = [];
  if (gateway > first) pools.push({ version, first, last: gateway - 1n });
  if (gateway < last) pools.push({ version, first: gateway + 1n, last });
  return pools;
}

/** The address `offset` places into the pools taken end to end. */
export function addressAt(pools: IpRange[], offset: bigint): bigint | null {
  let rest = offset;
  for (const pool of pools) {
    const size = rangeSize(pool);
    if (rest < size) return pool.first + rest;
    rest -= size;
  }
  return null;
}
