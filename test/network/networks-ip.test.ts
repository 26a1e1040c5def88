import { isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  addressAt,
  canonicalIp,
  cidrContains,
  cidrsOverlap,
  defaultPools,
  formatCidr,
  formatIp,
  lastAddress,
  parseCidr,
  parseIp,
  rangeSize,
} from '../../resolvers/networks/ip';
import { checkSubnet } from '../../resolvers/networks/subnet-checks';

/** Unit tests of the bigint IP module and the subnet checks (no server needed). */

describe('addresses', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['255.255.255.255', '255.255.255.255'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['::', '::'],
    ['::1', '::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
  ])('%s is %s in canonical form (RFC 5952)', (input, canonical) => {
    expect(canonicalIp(input)).toBe(canonical);
  });

  it.each([
    '',
    '10.0.0',
    '10.0.0.256',
    '01.2.3.4x',
    '1::2::3',
    'fe80::1%eth0',
    'hello',
    '1.2.3.4/24',
  ])('refuses %j', (input) => {
    expect(parseIp(input)).toBeNull();
  });

  it('round-trips random IPv6 values through text', () => {
    for (let i = 0; i < 500; i++) {
      let value = 0n;
      for (let g = 0; g < 8; g++)
        value =
          (value << 16n) | BigInt(Math.random() < 0.4 ? 0 : Math.floor(Math.random() * 65536));
      const text = formatIp({ version: 6, value });
      expect(isIPv6(text)).toBe(true);
      expect(parseIp(text)).toEqual({ version: 6, value });
    }
  });
});

describe('CIDRs and ranges', () => {
  it('parses, normalizes and refuses host bits when strict', () => {
    expect(formatCidr(parseCidr('10.1.2.3/16').cidr!)).toBe('10.1.0.0/16');
    expect(parseCidr('10.1.2.3/16', true)).toEqual({ cidr: null, problem: 'host-bits' });
    expect(parseCidr('10.0.0.0/33').problem).toBe('syntax');
    expect(parseCidr('fd00::/129').problem).toBe('syntax');
    expect(parseCidr('10.0.0.0').problem).toBe('syntax');
    expect(formatCidr(parseCidr('FD00:0:0:1::/64', true).cidr!)).toBe('fd00:0:0:1::/64');
  });

  it('knows containment, overlap and the last address', () => {
    const a = parseCidr('10.0.0.0/24').cidr!;
    const b = parseCidr('10.0.0.128/25').cidr!;
    const c = parseCidr('10.0.1.0/24').cidr!;
    expect(cidrsOverlap(a, b)).toBe(true);
    expect(cidrsOverlap(a, c)).toBe(false);
    expect(cidrsOverlap(a, parseCidr('::/0').cidr!)).toBe(false);
    expect(formatIp({ version: 4, value: lastAddress(a) })).toBe('10.0.0.255');
    expect(cidrContains(a, parseIp('10.0.0.77')!)).toBe(true);
    expect(cidrContains(a, parseIp('10.0.1.0')!)).toBe(false);
    expect(cidrContains(a, parseIp('::a00:1')!)).toBe(false);
  });

  it("makes Neutron's default pools around the gateway", () => {
    const v4 = parseCidr('10.0.0.0/24').cidr!;
    const text = (pools: ReturnType<typeof defaultPools>) =>
      pools.map(
        (p) =>
          `${formatIp({ version: p.version, value: p.first })}-${formatIp({ version: p.version, value: p.last })}`,
      );
    expect(text(defaultPools(v4, v4.network + 1n))).toEqual(['10.0.0.2-10.0.0.254']);
    expect(text(defaultPools(v4, v4.network + 100n))).toEqual([
      '10.0.0.1-10.0.0.99',
      '10.0.0.101-10.0.0.254',
    ]);
    expect(text(defaultPools(v4, null))).toEqual(['10.0.0.1-10.0.0.254']);
    const v6 = parseCidr('fd00::/64').cidr!;
    const [pool] = defaultPools(v6, v6.network + 1n);
    expect(formatIp({ version: 6, value: pool.first })).toBe('fd00::2');
    expect(formatIp({ version: 6, value: pool.last })).toBe('fd00::ffff:ffff:ffff:ffff');
    expect(rangeSize(pool)).toBe((1n << 64n) - 2n);
    expect(
      formatIp({ version: 4, value: addressAt(defaultPools(v4, v4.network + 100n), 99n)! }),
    ).toBe('10.0.0.101');
  });
});

describe('subnet checks', () => {
  it('fills defaults and normalizes', () => {
    const checked = checkSubnet({ cidr: '192.168.0.0/28', dnsNameservers: ['192.168.0.3'] }, []);
    expect(checked).toMatchObject({
      cidrText: '192.168.0.0/28',
      gatewayIp: '192.168.0.1',
      allocationPools: [{ start: '192.168.0.2', end: '192.168.0.14' }],
      dnsNameservers: ['192.168.0.3'],
    });
  });

  it('names the field of each problem', () => {
    const field = (
      req: Parameters<typeof checkSubnet>[0],
      siblings: { id: string; cidr: string }[] = [],
    ) => {
      try {
        checkSubnet(req, siblings);
        return null;
      } catch (error) {
        return (error as { field: string }).field;
      }
    };
    expect(field({ cidr: '10.0.0.0/24' }, [{ id: 'x', cidr: '10.0.0.0/16' }])).toBe('input.cidr');
    expect(field({ cidr: '10.0.0.0/31' })).toBe('input.cidr');
    expect(field({ cidr: 'fd00::/64', gatewayIp: '10.0.0.1' })).toBe('input.gatewayIp');
    expect(field({ cidr: '10.0.0.0/24', gatewayIp: '10.0.0.0' })).toBe('input.gatewayIp');
    expect(
      field({ cidr: '10.0.0.0/24', allocationPools: [{ start: '10.0.0.10', end: '10.0.0.255' }] }),
    ).toBe('input.allocationPools.0');
    expect(
      field({
        cidr: '10.0.0.0/24',
        gatewayIp: null,
        allocationPools: [{ start: '10.0.0.1', end: '10.0.0.9' }],
      }),
    ).toBeNull();
    expect(
      field({
        cidr: '10.0.0.0/24',
        dnsNameservers: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4', '1.1.1.5', '1.1.1.6'],
      }),
    ).toBe('input.dnsNameservers');
    expect(
      field({ cidr: '10.0.0.0/24', hostRoutes: [{ destination: '0.0.0.0/0', nexthop: 'x' }] }),
    ).toBe('input.hostRoutes.0.nexthop');
  });
});
