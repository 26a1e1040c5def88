import type { AllocationPool, HostRouteValue } from '../../db/tables';
import { InvalidInputError } from '../errors';
import {
  type Cidr,
  cidrContains,
  cidrsOverlap,
  defaultPools,
  formatCidr,
  formatIp,
  type IpRange,
  lastAddress,
  parseCidr,
  parseIp,
  rangesOverlap,
} from './ip';

/** Neutron's checks of a subnet's CIDR, gateway, pools, name servers and host routes. */

export interface SubnetRequest {
  cidr: string;
  ipVersion?: number | null;
  /** undefined: the first address; null: no gateway. */
  gatewayIp?: string | null;
  allocationPools?: AllocationPool[] | null;
  dnsNameservers?: string[] | null;
  hostRoutes?: HostRouteValue[] | null;
}

export interface CheckedSubnet {
  cidr: Cidr;
  cidrText: string;
  ipVersion: 4 | 6;
  gatewayIp: string | null;
  allocationPools: AllocationPool[];
  dnsNameservers: string[];
  hostRoutes: HostRouteValue[];
}

const isReserved = (cidr: Cidr, value: bigint) =>
  value === cidr.network || (cidr.version === 4 && value === lastAddress(cidr));

function address(field: string, text: string, cidr: Cidr | null, version: 4 | 6) {
  const parsed = parseIp(text);
  if (!parsed) throw new InvalidInputError(field, `${field} is not an IP address (got "${text}")`);
  if (parsed.version !== version) {
    throw new InvalidInputError(field, `${field} ${text} is not an IPv${version} address`);
  }
  if (cidr && !cidrContains(cidr, parsed)) {
    throw new InvalidInputError(
      field,
      `${field} ${text} is outside the subnet's CIDR ${formatCidr(cidr)}`,
    );
  }
  return parsed;
}

/** Checks a subnet request against the network's other subnets; the error names the field. */
export function checkSubnet(
  req: SubnetRequest,
  siblings: { id: string; cidr: string }[],
): CheckedSubnet {
  const parsed = parseCidr(req.cidr, true);
  if (!parsed.cidr) {
    const hint =
      parsed.problem === 'host-bits'
        ? ` (host bits set; did you mean ${formatCidr(parseCidr(req.cidr).cidr!)}?)`
        : '';
    throw new InvalidInputError(
      'input.cidr',
      `input.cidr is not a valid CIDR (got "${req.cidr}")${hint}`,
    );
  }
  const cidr = parsed.cidr;
  const version = cidr.version;
  if (req.ipVersion != null && req.ipVersion !== version) {
    throw new InvalidInputError(
      'input.ipVersion',
      `input.ipVersion ${req.ipVersion} does not match the CIDR ${req.cidr}`,
    );
  }
  if (cidr.prefixLength > (version === 4 ? 30 : 126)) {
    throw new InvalidInputError(
      'input.cidr',
      `input.cidr ${req.cidr} is too small: at most /${version === 4 ? 30 : 126}`,
    );
  }
  for (const other of siblings) {
    const o = parseCidr(other.cidr).cidr;
    if (o && cidrsOverlap(o, cidr)) {
      throw new InvalidInputError(
        'input.cidr',
        `input.cidr ${formatCidr(cidr)} overlaps subnet ${other.id} (${other.cidr}) of the network`,
      );
    }
  }
  let gateway: bigint | null = null;
  if (req.gatewayIp === undefined) gateway = cidr.network + 1n;
  else if (req.gatewayIp !== null) {
    const g = address('input.gatewayIp', req.gatewayIp, cidr, version);
    if (isReserved(cidr, g.value)) {
      throw new InvalidInputError(
        'input.gatewayIp',
        `input.gatewayIp ${req.gatewayIp} is the network or broadcast address of ${formatCidr(cidr)}`,
      );
    }
    gateway = g.value;
  }
  let pools: IpRange[];
  if (req.allocationPools?.length) {
    pools = req.allocationPools.map((p, i) => {
      const field = `input.allocationPools.${i}`;
      const first = address(`${field}.start`, p.start, cidr, version).value;
      const last = address(`${field}.end`, p.end, cidr, version).value;
      if (first > last)
        throw new InvalidInputError(
          `${field}.start`,
          `${field}: start ${p.start} is after end ${p.end}`,
        );
      if (isReserved(cidr, first) || isReserved(cidr, last)) {
        throw new InvalidInputError(
          field,
          `${field} includes the network or broadcast address of ${formatCidr(cidr)}`,
        );
      }
      if (gateway !== null && gateway >= first && gateway <= last) {
        throw new InvalidInputError(
          field,
          `${field} (${p.start}-${p.end}) contains the gateway ${formatIp({ version, value: gateway })}`,
        );
      }
      return { version, first, last };
    });
    for (const [i, a] of pools.entries()) {
      for (const [j, b] of pools.entries()) {
        if (j > i && rangesOverlap(a, b)) {
          throw new InvalidInputError(
            `input.allocationPools.${j}`,
            `input.allocationPools.${j} overlaps input.allocationPools.${i}`,
          );
        }
      }
    }
  } else {
    pools = defaultPools(cidr, gateway);
  }
  const dnsNameservers = (req.dnsNameservers ?? []).map((d, i) =>
    formatIp(address(`input.dnsNameservers.${i}`, d, null, version)),
  );
  if (dnsNameservers.length > 5)
    throw new InvalidInputError(
      'input.dnsNameservers',
      'input.dnsNameservers may hold at most 5 addresses',
    );
  const hostRoutes = (req.hostRoutes ?? []).map((r, i) => {
    const dest = parseCidr(r.destination).cidr;
    if (!dest || dest.version !== version) {
      throw new InvalidInputError(
        `input.hostRoutes.${i}.destination`,
        `input.hostRoutes.${i}.destination is not an IPv${version} CIDR (got "${r.destination}")`,
      );
    }
    const hop = address(`input.hostRoutes.${i}.nexthop`, r.nexthop, null, version);
    return { destination: formatCidr(dest), nexthop: formatIp(hop) };
  });
  return {
    cidr,
    cidrText: formatCidr(cidr),
    ipVersion: version,
    gatewayIp: gateway === null ? null : formatIp({ version, value: gateway }),
    allocationPools: pools.map((p) => ({
      start: formatIp({ version, value: p.first }),
      end: formatIp({ version, value: p.last }),
    })),
    dnsNameservers,
    hostRoutes,
  };
}
