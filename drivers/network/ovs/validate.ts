import { isIP } from 'node:net';
import { DriverError } from '../../errors';
import { extraDhcpOptProblem } from '../extra-dhcp-opts';
import type { FirewallRule, FixedIp, NetworkSpec, PortSpec, RouterSpec } from '../types';

/**
 * A spec the driver refuses before touching the host, naming the offending field. Values end
 * up in OpenFlow text, dnsmasq files and iptables rules, so each is checked for its shape.
 */
export class InvalidNetworkSpecError extends DriverError {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super('NETWORK_INVALID_SPEC', `invalid network spec: "${field}" ${reason}`);
  }
}

function fail(field: string, reason: string): never {
  throw new InvalidNetworkSpecError(field, reason);
}

/** Ids name host objects (`tap<id[:11]>`, `qdhcp-<id>`): lowercase hex and dashes. */
export function checkId(field: string, id: unknown): void {
  if (typeof id !== 'string' || !/^[0-9a-f][0-9a-f-]{7,63}$/.test(id))
    fail(field, `must be a lowercase UUID, got ${JSON.stringify(id)}`);
}

/** deletePort also takes the 11-character prefix that `list()` reports. */
export function checkIdOrPrefix(field: string, id: unknown): void {
  if (typeof id !== 'string' || !/^[0-9a-f][0-9a-f-]{10,63}$/.test(id))
    fail(field, `must be a lowercase UUID or its first 11 characters, got ${JSON.stringify(id)}`);
}

function checkInt(field: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    fail(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
}

function checkMac(field: string, mac: unknown): void {
  if (typeof mac !== 'string' || !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac))
    fail(field, `must be a MAC address like fa:16:3e:12:34:56, got ${JSON.stringify(mac)}`);
}

function checkIp(field: string, ip: unknown, version?: 4 | 6): void {
  const v = typeof ip === 'string' ? isIP(ip) : 0;
  if (v === 0 || (version !== undefined && v !== version))
    fail(field, `must be an IPv${version ?? '4 or 6'} address, got ${JSON.stringify(ip)}`);
}

/** An address or address/prefix. */
function checkCidr(field: string, cidr: unknown): void {
  if (typeof cidr !== 'string') fail(field, `must be a CIDR, got ${JSON.stringify(cidr)}`);
  const [address, prefix, ...rest] = cidr.split('/');
  const v = isIP(address);
  const max = v === 6 ? 128 : 32;
  if (
    v === 0 ||
    rest.length > 0 ||
    (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) ||
    Number(prefix ?? 0) > max
  )
    fail(field, `must be an address or a CIDR, got ${JSON.stringify(cidr)}`);
}

function checkFixedIp(field: string, f: FixedIp): void {
  checkId(`${field}.subnetId`, f.subnetId);
  if (f.ipVersion !== 4 && f.ipVersion !== 6) fail(`${field}.ipVersion`, 'must be 4 or 6');
  checkIp(`${field}.ip`, f.ip, f.ipVersion);
  checkInt(`${field}.prefixLength`, f.prefixLength, 0, f.ipVersion === 6 ? 128 : 32);
}

function checkSegment(spec: { segmentationId: number; mtu: number }): void {
  checkInt('segmentationId', spec.segmentationId, 1, 4094);
  checkInt('mtu', spec.mtu, 68, 65535);
}

export function checkNetworkSpec(spec: NetworkSpec): void {
  checkId('networkId', spec.networkId);
  checkSegment(spec);
  spec.subnets.forEach((s, i) => {
    checkId(`subnets[${i}].subnetId`, s.subnetId);
    checkCidr(`subnets[${i}].cidr`, s.cidr);
    if (!s.cidr.includes('/')) fail(`subnets[${i}].cidr`, 'needs a prefix length');
    if (s.gatewayIp !== null) checkIp(`subnets[${i}].gatewayIp`, s.gatewayIp, s.ipVersion);
    s.dnsNameservers.forEach((d, j) => {
      checkIp(`subnets[${i}].dnsNameservers[${j}]`, d);
    });
    s.hostRoutes.forEach((r, j) => {
      checkCidr(`subnets[${i}].hostRoutes[${j}].destination`, r.destination);
      checkIp(`subnets[${i}].hostRoutes[${j}].nexthop`, r.nexthop);
    });
  });
  if (spec.dhcpPort) {
    checkId('dhcpPort.portId', spec.dhcpPort.portId);
    checkMac('dhcpPort.mac', spec.dhcpPort.mac);
    spec.dhcpPort.fixedIps.forEach((f, i) => {
      checkFixedIp(`dhcpPort.fixedIps[${i}]`, f);
    });
  }
  spec.hosts.forEach((h, i) => {
    checkId(`hosts[${i}].portId`, h.portId);
    checkMac(`hosts[${i}].mac`, h.mac);
    h.fixedIps.forEach((f, j) => {
      checkFixedIp(`hosts[${i}].fixedIps[${j}]`, f);
    });
    h.extraDhcpOpts?.forEach((o, j) => {
      const problem = extraDhcpOptProblem(o);
      if (problem) fail(`hosts[${i}].extraDhcpOpts[${j}].${problem.part}`, problem.reason);
    });
  });
  if (spec.hostGateway) {
    checkIp('hostGateway.ip', spec.hostGateway.ip);
    const max = spec.hostGateway.ip.includes(':') ? 128 : 32;
    checkInt('hostGateway.prefixLength', spec.hostGateway.prefixLength, 0, max);
  }
}

function checkRule(field: string, r: FirewallRule): void {
  if (r.direction !== 'ingress' && r.direction !== 'egress')
    fail(`${field}.direction`, 'must be ingress or egress');
  if (r.ethertype !== 'IPv4' && r.ethertype !== 'IPv6')
    fail(`${field}.ethertype`, 'must be IPv4 or IPv6');
  if (r.protocol !== null) checkInt(`${field}.protocol`, r.protocol, 0, 255);
  if (r.portRangeMin !== null) checkInt(`${field}.portRangeMin`, r.portRangeMin, 0, 65535);
  if (r.portRangeMax !== null) checkInt(`${field}.portRangeMax`, r.portRangeMax, 0, 65535);
  const icmp = r.protocol === 1 || r.protocol === 58;
  if (
    !icmp &&
    r.portRangeMin !== null &&
    r.portRangeMax !== null &&
    r.portRangeMin > r.portRangeMax
  )
    fail(`${field}.portRangeMin`, 'must not exceed portRangeMax');
  r.remoteIps?.forEach((c, i) => {
    checkCidr(`${field}.remoteIps[${i}]`, c);
  });
}

export function checkPortSpec(spec: PortSpec): void {
  checkId('portId', spec.portId);
  checkId('networkId', spec.networkId);
  checkSegment(spec);
  checkMac('mac', spec.mac);
  spec.fixedIps.forEach((f, i) => {
    checkFixedIp(`fixedIps[${i}]`, f);
  });
  spec.rules.forEach((r, i) => {
    checkRule(`rules[${i}]`, r);
  });
  spec.allowedAddressPairs.forEach((p, i) => {
    checkCidr(`allowedAddressPairs[${i}].ipAddress`, p.ipAddress);
    if (p.mac !== null) checkMac(`allowedAddressPairs[${i}].mac`, p.mac);
  });
}

export function checkRouterSpec(spec: RouterSpec): void {
  checkId('routerId', spec.routerId);
  spec.interfaces.forEach((leg, i) => {
    checkId(`interfaces[${i}].portId`, leg.portId);
    checkId(`interfaces[${i}].networkId`, leg.networkId);
    checkSegment(leg);
    checkMac(`interfaces[${i}].mac`, leg.mac);
    checkFixedIp(`interfaces[${i}].fixedIp`, leg.fixedIp);
  });
  const gw = spec.gateway;
  if (gw) {
    checkId('gateway.portId', gw.portId);
    checkId('gateway.networkId', gw.networkId);
    checkSegment(gw);
    checkMac('gateway.mac', gw.mac);
    checkFixedIp('gateway.fixedIp', gw.fixedIp);
    if (gw.nexthop !== null) checkIp('gateway.nexthop', gw.nexthop);
  }
  spec.floatingIps.forEach((f, i) => {
    checkId(`floatingIps[${i}].floatingIpId`, f.floatingIpId);
    checkIp(`floatingIps[${i}].floatingIp`, f.floatingIp);
    checkIp(`floatingIps[${i}].fixedIp`, f.fixedIp);
  });
}
