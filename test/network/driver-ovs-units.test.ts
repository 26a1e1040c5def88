import { describe, expect, it } from 'vitest';
import { hostsFile, optsFile } from '../../drivers/network/ovs/dnsmasq';
import { portMasks, ruleMatches } from '../../drivers/network/ovs/flows';
import { natRules, networkOf } from '../../drivers/network/ovs/router';
import type { FirewallRule } from '../../drivers/network/types';
import { fixedIp, networkSpec, portSpec } from './driver-ovs-support';

/** The pure parts of the OVS driver: flow matches, dnsmasq files, NAT rules. */

const rule = (overrides: Partial<FirewallRule>): FirewallRule => ({
  direction: 'ingress',
  ethertype: 'IPv4',
  protocol: null,
  portRangeMin: null,
  portRangeMax: null,
  remoteIps: null,
  ...overrides,
});

/** Every port a list of value/mask pairs matches. */
function covered(masks: string[]): number[] {
  const ports: number[] = [];
  for (let p = 0; p <= 65535; p++) {
    if (
      masks.some((m) => {
        const [v, mask] = m.split('/').map(Number);
        return mask === undefined ? p === v : (p & mask) === v;
      })
    )
      ports.push(p);
  }
  return ports;
}

describe('ovs driver flows', () => {
  it('splits port ranges into exact value/mask matches', () => {
    expect(portMasks(22, 22)).toEqual(['22']);
    expect(portMasks(80, 83)).toEqual(['0x50/0xfffc']);
    expect(portMasks(0, 65535)).toEqual([]);
    for (const [min, max] of [
      [1, 65535],
      [1000, 1999],
      [33, 47],
      [65535, 65535],
    ]) {
      const ports = covered(portMasks(min, max));
      expect(ports[0]).toBe(min);
      expect(ports.at(-1)).toBe(max);
      expect(ports).toHaveLength(max - min + 1);
    }
  });

  it('turns rules into matches: protocol, ports or ICMP type/code, remote CIDRs by family', () => {
    expect(ruleMatches(rule({}))).toEqual(['ip']);
    expect(ruleMatches(rule({ ethertype: 'IPv6', direction: 'egress' }))).toEqual(['ipv6']);
    expect(ruleMatches(rule({ protocol: 6, portRangeMin: 22, portRangeMax: 22 }))).toEqual([
      'tcp,tp_dst=22',
    ]);
    expect(ruleMatches(rule({ protocol: 17, portRangeMin: 1, portRangeMax: 65535 })).length).toBe(
      16,
    );
    expect(ruleMatches(rule({ protocol: 1, portRangeMin: 8, portRangeMax: 0 }))).toEqual([
      'icmp,icmp_type=8,icmp_code=0',
    ]);
    expect(ruleMatches(rule({ protocol: 58, ethertype: 'IPv6', portRangeMin: 128 }))).toEqual([
      'icmp6,icmpv6_type=128',
    ]);
    expect(ruleMatches(rule({ protocol: 47 }))).toEqual(['ip,nw_proto=47']);
    expect(
      ruleMatches(rule({ remoteIps: ['10.0.0.0/8', '2001:db8::/32', '192.168.1.5/32'] })),
    ).toEqual(['ip,nw_src=10.0.0.0/8', 'ip,nw_src=192.168.1.5/32']);
    expect(ruleMatches(rule({ direction: 'egress', remoteIps: ['10.0.0.0/8'] }))).toEqual([
      'ip,nw_dst=10.0.0.0/8',
    ]);
    // A remote group without members matches nothing.
    expect(ruleMatches(rule({ remoteIps: [] }))).toEqual([]);
  });
});

describe('ovs driver dnsmasq files', () => {
  it('writes static leases for known ports and per-subnet options', () => {
    const net = networkSpec('10.5.0', 5);
    const subnet = net.subnets[0];
    subnet.dnsNameservers = ['9.9.9.9', '1.1.1.1'];
    subnet.hostRoutes = [{ destination: '192.168.0.0/16', nexthop: '10.5.0.254' }];
    const port = portSpec(net, '10.5.0.7');
    net.hosts = [
      { portId: port.portId, mac: port.mac, fixedIps: port.fixedIps },
      // The DHCP port itself gets no lease.
      {
        portId: net.dhcpPort?.portId ?? '',
        mac: 'fa:16:3e:00:00:01',
        fixedIps: [fixedIp(subnet.subnetId, '10.5.0.2')],
      },
    ];
    expect(hostsFile(net)).toBe(`${port.mac},host-10-5-0-7,10.5.0.7\n`);
    const t = `tag:subnet-${subnet.subnetId}`;
    expect(optsFile(net).split('\n').filter(Boolean)).toEqual([
      `${t},option:dns-server,9.9.9.9,1.1.1.1`,
      `${t},option:classless-static-route,192.168.0.0/16,10.5.0.254,0.0.0.0/0,10.5.0.1`,
      `${t},249,192.168.0.0/16,10.5.0.254,0.0.0.0/0,10.5.0.1`,
      `${t},option:router,10.5.0.1`,
    ]);
    subnet.gatewayIp = null;
    subnet.hostRoutes = [];
    expect(optsFile(net)).toContain(`${t},option:router\n`);
  });
});

describe('ovs driver router NAT', () => {
  it('DNATs floating IPs, SNATs them back, then SNATs the subnets behind the gateway', () => {
    const rules = natRules({
      routerId: 'r',
      adminStateUp: true,
      interfaces: [
        {
          portId: 'i1111111111111',
          networkId: 'n',
          segmentationId: 1,
          mtu: 1500,
          mac: 'fa:16:3e:00:00:01',
          fixedIp: fixedIp('s', '10.0.0.1'),
        },
      ],
      gateway: {
        portId: 'g2222222222222',
        networkId: 'e',
        segmentationId: 2,
        mtu: 1500,
        mac: 'fa:16:3e:00:00:02',
        fixedIp: fixedIp('x', '172.24.4.10'),
        nexthop: '172.24.4.1',
        enableSnat: true,
      },
      floatingIps: [{ floatingIpId: 'f', floatingIp: '172.24.4.50', fixedIp: '10.0.0.5' }],
    });
    expect(rules.split('\n')).toEqual([
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      '-A PREROUTING -d 172.24.4.50/32 -j DNAT --to-destination 10.0.0.5',
      '-A OUTPUT -d 172.24.4.50/32 -j DNAT --to-destination 10.0.0.5',
      '-A POSTROUTING -s 10.0.0.5/32 -o qg-g2222222222 -j SNAT --to-source 172.24.4.50',
      '-A POSTROUTING ! -o qg-g2222222222 -m conntrack ! --ctstate DNAT -j ACCEPT',
      '-A POSTROUTING -s 10.0.0.0/24 -o qg-g2222222222 -j SNAT --to-source 172.24.4.10',
      'COMMIT',
      '',
    ]);
    expect(networkOf('192.168.77.130', 25)).toBe('192.168.77.128/25');
  });
});
