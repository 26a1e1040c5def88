import type { FirewallRule, PortSpec } from '../types';
import { BASE_COOKIE } from './names';

/*
 * The OpenFlow pipeline of the integration bridge: Neutron's openvswitch firewall in small.
 * The userspace datapath never passes through the host's netfilter, so security groups are
 * conntrack flows (`ct()`), with one conntrack zone per port (its ofport number):
 *
 *   table 0  classify: a server port with port security -> reg5=ofport, reg6=VLAN, table 10;
 *            any other port of ours (port security off, DHCP, router legs) -> reg6=VLAN,
 *            table 30; anything else is dropped.
 *   table 10 anti-spoofing: only the port's MAC with its fixed IPs (and allowed address
 *            pairs) may send; ARP likewise; DHCP client traffic passes; IP goes through
 *            ct(zone=port) to table 20.
 *   table 20 egress rules: established/related pass, new connections that a rule allows are
 *            committed; then table 30.
 *   table 30 destination: unicast to a filtered port on the same VLAN -> reg7=its ofport,
 *            ct(zone=that port) to table 40 (DHCP/ND replies pass straight); the rest NORMAL.
 *   table 40 ingress rules: established/related pass, new connections that a rule allows are
 *            committed; output to reg7.
 *
 * Egress and ingress use the zones of their own ports, so a connection between two ports is
 * tracked once on each side, like the two iptables chains of the hybrid driver.
 */

export const TABLE = { classify: 0, egress: 10, egressRules: 20, destination: 30, ingress: 40 };

/** Neutron's dead VLAN: a port that is administratively down is parked there. */
export const DEAD_VLAN = 4095;

const REG_SRC = 'NXM_NX_REG5[]';
const REG_VLAN = 'NXM_NX_REG6[]';
const REG_DST = 'NXM_NX_REG7[]';

/** The flows every bridge carries, independent of ports. */
export function baseFlows(): string[] {
  const c = `cookie=${BASE_COOKIE}`;
  const { classify, egress, egressRules, destination, ingress } = TABLE;
  return [
    `${c},table=${classify},priority=0,actions=drop`,
    `${c},table=${egress},priority=0,actions=drop`,
    `${c},table=${egressRules},priority=100,ct_state=+trk+inv,actions=drop`,
    `${c},table=${egressRules},priority=90,ct_state=+trk+est,actions=resubmit(,${destination})`,
    `${c},table=${egressRules},priority=90,ct_state=+trk+rel,actions=resubmit(,${destination})`,
    `${c},table=${egressRules},priority=0,actions=drop`,
    `${c},table=${destination},priority=0,actions=NORMAL`,
    `${c},table=${ingress},priority=100,ct_state=+trk+inv,actions=drop`,
    `${c},table=${ingress},priority=90,ct_state=+trk+est,actions=output:${REG_DST}`,
    `${c},table=${ingress},priority=90,ct_state=+trk+rel,actions=output:${REG_DST}`,
    `${c},table=${ingress},priority=0,actions=drop`,
  ];
}

/** A port of ours that is not filtered (DHCP, router legs, host gateway): it joins its VLAN. */
export function unfilteredPortFlows(cookie: string, ofport: number, vlan: number): string[] {
  return [
    `cookie=${cookie},table=${TABLE.classify},priority=100,in_port=${ofport},actions=load:${vlan}->${REG_VLAN},resubmit(,${TABLE.destination})`,
  ];
}

/** All flows of one server port (replaced together under its cookie). */
export function serverPortFlows(cookie: string, ofport: number, spec: PortSpec): string[] {
  const c = `cookie=${cookie}`;
  const p = ofport;
  const v = spec.segmentationId;
  const { classify, egress, egressRules, destination, ingress } = TABLE;
  if (!spec.adminStateUp) {
    return [`${c},table=${classify},priority=100,in_port=${p},actions=drop`];
  }
  if (!spec.portSecurityEnabled) return unfilteredPortFlows(cookie, p, v);

  const mac = spec.mac.toLowerCase();
  const flows = [
    `${c},table=${classify},priority=100,in_port=${p},actions=load:${p}->${REG_SRC},load:${v}->${REG_VLAN},resubmit(,${egress})`,
    // DHCP and router advertisements only come from the DHCP port and routers.
    `${c},table=${egress},priority=99,reg5=${p},udp,tp_src=67,actions=drop`,
    `${c},table=${egress},priority=99,reg5=${p},udp6,tp_src=547,actions=drop`,
    `${c},table=${egress},priority=99,reg5=${p},icmp6,icmpv6_type=134,actions=drop`,
    // A DHCP client has no address yet.
    `${c},table=${egress},priority=95,reg5=${p},udp,dl_src=${mac},tp_src=68,tp_dst=67,actions=resubmit(,${destination})`,
    `${c},table=${egress},priority=95,reg5=${p},udp6,dl_src=${mac},tp_src=546,tp_dst=547,actions=resubmit(,${destination})`,
    // Neighbour discovery and router solicitation (link-local or unspecified source).
    ...[133, 135, 136].map(
      (t) =>
        `${c},table=${egress},priority=95,reg5=${p},icmp6,dl_src=${mac},icmpv6_type=${t},actions=resubmit(,${destination})`,
    ),
    `${c},table=${egress},priority=90,reg5=${p},ipv6,dl_src=${mac},ipv6_src=fe80::/64,actions=ct(table=${egressRules},zone=${p})`,
  ];
  const sources: { mac: string; cidr: string }[] = spec.fixedIps.map((f) => ({
    mac,
    cidr: f.ip,
  }));
  for (const pair of spec.allowedAddressPairs) {
    sources.push({ mac: (pair.mac ?? mac).toLowerCase(), cidr: pair.ipAddress });
  }
  for (const s of sources) {
    if (isV6(s.cidr)) {
      flows.push(
        `${c},table=${egress},priority=90,reg5=${p},ipv6,dl_src=${s.mac},ipv6_src=${s.cidr},actions=ct(table=${egressRules},zone=${p})`,
      );
    } else {
      flows.push(
        `${c},table=${egress},priority=90,reg5=${p},arp,dl_src=${s.mac},arp_sha=${s.mac},arp_spa=${s.cidr},actions=resubmit(,${destination})`,
        `${c},table=${egress},priority=90,reg5=${p},ip,dl_src=${s.mac},nw_src=${s.cidr},actions=ct(table=${egressRules},zone=${p})`,
      );
    }
  }

  // Traffic to this port: DHCP/ND replies straight, other IP through its ingress rules.
  const to = `reg6=${v},dl_dst=${mac}`;
  flows.push(
    `${c},table=${destination},priority=110,${to},udp,tp_src=67,tp_dst=68,actions=output:${p}`,
    `${c},table=${destination},priority=110,${to},udp6,tp_src=547,tp_dst=546,actions=output:${p}`,
    ...[134, 135, 136].map(
      (t) =>
        `${c},table=${destination},priority=110,${to},icmp6,icmpv6_type=${t},actions=output:${p}`,
    ),
    `${c},table=${destination},priority=100,${to},ip,actions=load:${p}->${REG_DST},ct_clear,ct(table=${ingress},zone=${p})`,
    `${c},table=${destination},priority=100,${to},ipv6,actions=load:${p}->${REG_DST},ct_clear,ct(table=${ingress},zone=${p})`,
  );

  for (const rule of spec.rules) {
    for (const match of ruleMatches(rule)) {
      if (rule.direction === 'egress') {
        flows.push(
          `${c},table=${egressRules},priority=50,ct_state=+trk+new,reg5=${p},${match},actions=ct(commit,zone=${p}),resubmit(,${destination})`,
        );
      } else {
        flows.push(
          `${c},table=${ingress},priority=50,ct_state=+trk+new,reg7=${p},${match},actions=ct(commit,zone=${p}),output:${p}`,
        );
      }
    }
  }
  return flows;
}

/** The OpenFlow matches (one flow each) of one rule: protocol x port masks x remote CIDRs. */
export function ruleMatches(rule: FirewallRule): string[] {
  const v6 = rule.ethertype === 'IPv6';
  let proto: string;
  let ports: string[] = [''];
  switch (rule.protocol) {
    case null:
      proto = v6 ? 'ipv6' : 'ip';
      break;
    case 6:
    case 17:
    case 132: {
      const name = { 6: 'tcp', 17: 'udp', 132: 'sctp' }[rule.protocol];
      proto = v6 ? `${name}6` : name;
      if (rule.portRangeMin !== null) {
        const max = rule.portRangeMax ?? rule.portRangeMin;
        const masks = portMasks(rule.portRangeMin, max);
        if (masks.length > 0) ports = masks.map((m) => `,tp_dst=${m}`);
      }
      break;
    }
    case 1:
    case 58: {
      // Neutron accepts "icmp" with either ethertype: the family decides which ICMP it is.
      proto = v6 ? 'icmp6' : 'icmp';
      const field = v6 ? 'icmpv6' : 'icmp';
      let m = '';
      if (rule.portRangeMin !== null) m += `,${field}_type=${rule.portRangeMin}`;
      if (rule.portRangeMin !== null && rule.portRangeMax !== null)
        m += `,${field}_code=${rule.portRangeMax}`;
      ports = [m];
      break;
    }
    default:
      proto = `${v6 ? 'ipv6' : 'ip'},nw_proto=${rule.protocol}`;
  }
  let remotes = [''];
  if (rule.remoteIps !== null) {
    const field = rule.direction === 'ingress' ? 'src' : 'dst';
    remotes = rule.remoteIps
      .filter((cidr) => isV6(cidr) === v6)
      .map((cidr) => (v6 ? `,ipv6_${field}=${cidr}` : `,nw_${field}=${cidr}`));
  }
  const out: string[] = [];
  for (const port of ports) for (const remote of remotes) out.push(`${proto}${port}${remote}`);
  return out;
}

/**
 * Splits an inclusive port range into value/mask pairs (as Neutron's port_rule_masking); the
 * whole range gives none (no match on the port).
 */
export function portMasks(min: number, max: number): string[] {
  if (min === 0 && max === 65535) return [];
  const out: string[] = [];
  let start = min;
  while (start <= max) {
    let size = 1;
    // Grow the block while it stays aligned and inside the range.
    while (start % (size * 2) === 0 && start + size * 2 - 1 <= max && size < 65536) size *= 2;
    const mask = 0xffff & ~(size - 1);
    out.push(size === 1 ? `${start}` : `0x${start.toString(16)}/0x${mask.toString(16)}`);
    start += size;
  }
  return out;
}

function isV6(address: string): boolean {
  return address.includes(':');
}
