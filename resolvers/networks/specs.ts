import { and, eq, inArray, isNotNull, ne } from 'drizzle-orm';
import type { DbOrTx } from '../../db/connection';
import {
  floatingIps,
  ipAllocations,
  networks,
  portSecurityGroups,
  ports,
  routers,
  securityGroupRules,
  subnets,
} from '../../db/tables';
import type {
  FirewallRule,
  FixedIp,
  NetworkSpec,
  PortSpec,
  RouterSpec,
  SubnetSpec,
} from '../../drivers/network/types';
import type { NetworkRow, PortRow, SubnetRow } from './access';
import { parseCidr } from './ip';

/** What the driver is told: whole specs built from the database, one object at a time. */

const prefixOf = (cidr: string) => parseCidr(cidr).cidr!.prefixLength;

function fixedIp(subnet: SubnetRow, ip: string): FixedIp {
  return {
    subnetId: subnet.id,
    ip,
    prefixLength: prefixOf(subnet.cidr),
    ipVersion: subnet.ipVersion as 4 | 6,
  };
}

/** Fixed IPs of ports with their subnets' prefixes, by port id. */
async function fixedIpsByPort(db: DbOrTx, portIds: string[]): Promise<Map<string, FixedIp[]>> {
  const rows = portIds.length
    ? await db
        .select({ portId: ipAllocations.portId, ip: ipAllocations.ip, subnet: subnets })
        .from(ipAllocations)
        .innerJoin(subnets, eq(subnets.id, ipAllocations.subnetId))
        .where(inArray(ipAllocations.portId, portIds))
    : [];
  const out = new Map<string, FixedIp[]>();
  for (const r of rows) {
    out.set(r.portId, [...(out.get(r.portId) ?? []), fixedIp(r.subnet, r.ip)]);
  }
  return out;
}

function subnetSpec(s: SubnetRow): SubnetSpec {
  return {
    subnetId: s.id,
    cidr: s.cidr,
    ipVersion: s.ipVersion as 4 | 6,
    gatewayIp: s.gatewayIp,
    enableDhcp: s.enableDhcp,
    dnsNameservers: s.dnsNameservers,
    hostRoutes: s.hostRoutes,
  };
}

/** A network's segment, subnets, DHCP port and DHCP hosts; null when it no longer exists. */
export async function networkSpec(db: DbOrTx, networkId: string): Promise<NetworkSpec | null> {
  const [network] = await db.select().from(networks).where(eq(networks.id, networkId));
  if (!network) return null;
  const subnetRows = await db.select().from(subnets).where(eq(subnets.networkId, networkId));
  // Floating IP holders are bookkeeping, not devices on the segment.
  const portRows = await db
    .select()
    .from(ports)
    .where(and(eq(ports.networkId, networkId), ne(ports.deviceOwner, 'network:floatingip')));
  const ips = await fixedIpsByPort(
    db,
    portRows.map((p) => p.id),
  );
  const dhcp = portRows.find((p) => p.deviceOwner === 'network:dhcp');
  const dhcpIps = dhcp ? (ips.get(dhcp.id) ?? []) : [];
  let hostGateway: NetworkSpec['hostGateway'] = null;
  if (network.external) {
    const v4 = subnetRows.find((s) => s.ipVersion === 4 && s.gatewayIp);
    if (v4) hostGateway = { ip: v4.gatewayIp!, prefixLength: prefixOf(v4.cidr) };
  }
  return {
    networkId: network.id,
    segmentationId: network.segmentationId,
    mtu: network.mtu,
    subnets: subnetRows.map(subnetSpec),
    dhcpPort:
      dhcp && dhcpIps.length ? { portId: dhcp.id, mac: dhcp.macAddress, fixedIps: dhcpIps } : null,
    hosts: portRows
      .filter((p) => p.deviceOwner !== 'network:dhcp' && (ips.get(p.id)?.length ?? 0) > 0)
      .map((p) => ({
        portId: p.id,
        mac: p.macAddress,
        fixedIps: ips.get(p.id)!,
        extraDhcpOpts: p.extraDhcpOpts,
      })),
    hostGateway,
  };
}

/**
 * The union of the rules of `groupIds`, with remote groups resolved to their members'
 * addresses (fixed IPs and allowed address pairs) of the rule's IP version, as ipset does.
 */
export async function firewallRules(db: DbOrTx, groupIds: string[]): Promise<FirewallRule[]> {
  if (groupIds.length === 0) return [];
  const rules = await db
    .select()
    .from(securityGroupRules)
    .where(inArray(securityGroupRules.securityGroupId, groupIds));
  const remoteIds = [...new Set(rules.map((r) => r.remoteGroupId).filter((g): g is string => !!g))];
  const members = remoteIds.length
    ? await db
        .select({
          groupId: portSecurityGroups.securityGroupId,
          ip: ipAllocations.ip,
          pairs: ports.allowedAddressPairs,
        })
        .from(portSecurityGroups)
        .innerJoin(ports, eq(ports.id, portSecurityGroups.portId))
        .innerJoin(ipAllocations, eq(ipAllocations.portId, ports.id))
        // Only ports plugged somewhere can send: bound ports are the members (binding resyncs).
        .where(
          and(inArray(portSecurityGroups.securityGroupId, remoteIds), isNotNull(ports.bindingHost)),
        )
    : [];
  const addressesOf = (groupId: string, ethertype: string): string[] => {
    const v6 = ethertype === 'IPv6';
    const out = new Set<string>();
    for (const m of members.filter((x) => x.groupId === groupId)) {
      for (const a of [m.ip, ...m.pairs.map((p) => p.ipAddress)]) {
        if (a.includes(':') !== v6) continue;
        out.add(a.includes('/') ? a : `${a}/${v6 ? 128 : 32}`);
      }
    }
    return [...out].sort();
  };
  return rules.map((r) => ({
    direction: r.direction as 'ingress' | 'egress',
    ethertype: r.ethertype as 'IPv4' | 'IPv6',
    protocol: r.protocol,
    portRangeMin: r.portRangeMin,
    portRangeMax: r.portRangeMax,
    remoteIps: r.remoteGroupId
      ? addressesOf(r.remoteGroupId, r.ethertype)
      : r.remoteIpPrefix
        ? [r.remoteIpPrefix]
        : null,
  }));
}

/** A server port as the L2 agent and firewall need it; null when it no longer exists. */
export async function portSpec(db: DbOrTx, portId: string): Promise<PortSpec | null> {
  const [row] = await db
    .select({ port: ports, network: networks })
    .from(ports)
    .innerJoin(networks, eq(networks.id, ports.networkId))
    .where(eq(ports.id, portId));
  if (!row) return null;
  return (await portSpecs(db, [row]))[0];
}

/** Specs of many ports at once (a server's ports, a reconcile). */
export async function portSpecs(
  db: DbOrTx,
  rows: { port: PortRow; network: NetworkRow }[],
): Promise<PortSpec[]> {
  const ids = rows.map((r) => r.port.id);
  const ips = await fixedIpsByPort(db, ids);
  const memberships = ids.length
    ? await db.select().from(portSecurityGroups).where(inArray(portSecurityGroups.portId, ids))
    : [];
  const out: PortSpec[] = [];
  for (const { port, network } of rows) {
    const groups = memberships.filter((m) => m.portId === port.id).map((m) => m.securityGroupId);
    out.push({
      portId: port.id,
      networkId: network.id,
      segmentationId: network.segmentationId,
      mtu: network.mtu,
      mac: port.macAddress,
      fixedIps: ips.get(port.id) ?? [],
      adminStateUp: port.adminStateUp && network.adminStateUp,
      portSecurityEnabled: port.portSecurityEnabled,
      rules: port.portSecurityEnabled ? await firewallRules(db, groups) : [],
      allowedAddressPairs: port.allowedAddressPairs.map((p) => ({
        ipAddress: p.ipAddress,
        mac: p.macAddress,
      })),
    });
  }
  return out;
}

/** A router with its legs, gateway and floating IPs; null when it no longer exists. */
export async function routerSpec(db: DbOrTx, routerId: string): Promise<RouterSpec | null> {
  const [router] = await db.select().from(routers).where(eq(routers.id, routerId));
  if (!router) return null;
  const legs = await db
    .select({ port: ports, network: networks })
    .from(ports)
    .innerJoin(networks, eq(networks.id, ports.networkId))
    .where(eq(ports.deviceId, router.id));
  const ips = await fixedIpsByPort(
    db,
    legs.map((l) => l.port.id),
  );
  const gatewayLeg = legs.find((l) => l.port.deviceOwner === 'network:router_gateway');
  let gateway: RouterSpec['gateway'] = null;
  const gatewayIp = gatewayLeg ? ips.get(gatewayLeg.port.id)?.find((f) => f.ipVersion === 4) : null;
  if (gatewayLeg && gatewayIp) {
    const [externalSubnet] = await db
      .select()
      .from(subnets)
      .where(eq(subnets.id, gatewayIp.subnetId));
    gateway = {
      portId: gatewayLeg.port.id,
      networkId: gatewayLeg.network.id,
      segmentationId: gatewayLeg.network.segmentationId,
      mtu: gatewayLeg.network.mtu,
      mac: gatewayLeg.port.macAddress,
      fixedIp: gatewayIp,
      nexthop: externalSubnet?.gatewayIp ?? null,
      enableSnat: router.enableSnat,
    };
  }
  const floating = gateway
    ? await db
        .select()
        .from(floatingIps)
        .where(and(eq(floatingIps.routerId, router.id), isNotNull(floatingIps.fixedIpAddress)))
    : [];
  return {
    routerId: router.id,
    adminStateUp: router.adminStateUp,
    interfaces: legs
      .filter((l) => l.port.deviceOwner === 'network:router_interface')
      .flatMap((l) => {
        const ip = ips.get(l.port.id)?.[0];
        return ip
          ? [
              {
                portId: l.port.id,
                networkId: l.network.id,
                segmentationId: l.network.segmentationId,
                mtu: l.network.mtu,
                mac: l.port.macAddress,
                fixedIp: ip,
              },
            ]
          : [];
      }),
    gateway,
    floatingIps: floating.map((f) => ({
      floatingIpId: f.id,
      floatingIp: f.floatingIpAddress,
      fixedIp: f.fixedIpAddress!,
    })),
  };
}
