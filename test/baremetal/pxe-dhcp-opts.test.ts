import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsmasqArgs, dnsmasqFiles, hostsFile, optsFile } from '../../drivers/network/ovs/dnsmasq';
import { checkNetworkSpec } from '../../drivers/network/ovs/validate';
import type { NetworkSpec } from '../../drivers/network/types';
import {
  allRows,
  createNetwork,
  createSubnet,
  eventually,
  fakeDriver,
  mutate,
} from '../network/networks-support';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';

/**
 * Ports' extraDhcpOpts (Neutron's extra_dhcp_opt) through the API: stored, validated with the
 * failing field named, replaced on update, handed to the network driver with the network's
 * DHCP hosts, and written by the OVS driver as dnsmasq tags and options.
 */

let s: TestStratus;
let member: SeededUser;
let networkId: string;

const FIELDS = 'id macAddress extraDhcpOpts { optName optValue ipVersion }';
const create = (input: Record<string, unknown>) =>
  mutate(s, member.token, 'createPort', { networkId, ...input }, 'port', FIELDS);
const update = (input: Record<string, unknown>) =>
  mutate(s, member.token, 'updatePort', input, 'port', FIELDS);

const BOOT = [
  { optName: 'tag:ipxe,bootfile-name', optValue: 'http://10.9.0.1:4000/boot.ipxe' },
  { optName: 'server-ip-address', optValue: '10.9.0.1' },
  { optName: '66', optValue: '10.9.0.1' },
];

beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
  networkId = (await createNetwork(s, member.token, { name: 'prov' })).id;
  await createSubnet(s, member.token, { networkId, cidr: '10.9.0.0/24' });
});
afterAll(() => s?.stop());

describe('port extraDhcpOpts', () => {
  it('stores the options, defaults ipVersion to 4, and resyncs the network with them', async () => {
    const payload = await create({ extraDhcpOpts: BOOT });
    expect(payload.__typename, JSON.stringify(payload)).toBe('CreatePortSuccess');
    const port = payload.port;
    expect(port.extraDhcpOpts).toEqual(BOOT.map((o) => ({ ...o, ipVersion: 4 })));
    const portId = Buffer.from(port.id, 'base64').toString().split(':').pop();
    const host = await eventually(() => {
      const spec = fakeDriver(s).networks.get(
        Buffer.from(networkId, 'base64').toString().split(':').pop()!,
      );
      const h = spec?.hosts.find((x) => x.portId === portId);
      expect(h?.extraDhcpOpts).toHaveLength(3);
      return h!;
    });
    expect(host.mac).toBe(port.macAddress);
  });

  it('replaces the list on update and removes it with []', async () => {
    const port = (await create({})).port;
    expect(port.extraDhcpOpts).toEqual([]);
    const one = await update({
      id: port.id,
      extraDhcpOpts: [{ optName: 'bootfile-name', optValue: 'pxelinux.0' }],
    });
    expect(one.port.extraDhcpOpts).toEqual([
      { optName: 'bootfile-name', optValue: 'pxelinux.0', ipVersion: 4 },
    ]);
    const kept = await update({ id: port.id, name: 'renamed' });
    expect(kept.port.extraDhcpOpts).toHaveLength(1);
    const none = await update({ id: port.id, extraDhcpOpts: [] });
    expect(none.port.extraDhcpOpts).toEqual([]);
  });

  it.each([
    ['unknown name', [{ optName: 'boot-me', optValue: 'x' }], 'input.extraDhcpOpts.0.optName'],
    ['number out of range', [{ optName: '300', optValue: 'x' }], 'input.extraDhcpOpts.0.optName'],
    [
      'malformed tag',
      [BOOT[1], { optName: 'tag:a b,bootfile-name', optValue: 'x' }],
      'input.extraDhcpOpts.1.optName',
    ],
    [
      'line break in value',
      [{ optName: 'bootfile-name', optValue: 'a\ndhcp-range=evil' }],
      'input.extraDhcpOpts.0.optValue',
    ],
    [
      'empty value',
      [{ optName: 'bootfile-name', optValue: ' ' }],
      'input.extraDhcpOpts.0.optValue',
    ],
    ['twice the same', [BOOT[1], BOOT[1]], 'input.extraDhcpOpts.1.optName'],
    [
      'bad ip version',
      [{ optName: 'bootfile-name', optValue: 'x', ipVersion: 5 }],
      'input.extraDhcpOpts.0.ipVersion',
    ],
    [
      'v4 name as v6',
      [{ optName: 'server-ip-address', optValue: 'x', ipVersion: 6 }],
      'input.extraDhcpOpts.0.optName',
    ],
  ])('refuses %s with the field named and nothing created', async (_what, opts, field) => {
    const before = await allRows(s);
    const payload = await create({ extraDhcpOpts: opts });
    expect(payload.__typename, JSON.stringify(payload)).toBe('InvalidInputError');
    expect(payload.field).toBe(field);
    expect(await allRows(s)).toEqual(before);
  });

  it('refuses a bad option on update and keeps the old ones', async () => {
    const port = (await create({ extraDhcpOpts: [BOOT[1]] })).port;
    const payload = await update({
      id: port.id,
      extraDhcpOpts: [BOOT[0], { optName: 'nonsense', optValue: 'x' }],
    });
    expect(payload.field).toBe('input.extraDhcpOpts.1.optName');
    const data = await s.ok(
      'query($id: ID!) { node(id: $id) { ... on Port { extraDhcpOpts { optName } } } }',
      { id: port.id },
      member.token,
    );
    expect(data.node.extraDhcpOpts).toEqual([{ optName: 'server-ip-address' }]);
  });
});

describe('dnsmasq files for extra DHCP options (ovs driver)', () => {
  const subnetId = randomUUID();
  const portId = randomUUID();
  const plainId = randomUUID();
  const spec: NetworkSpec = {
    networkId: randomUUID(),
    segmentationId: 100,
    mtu: 1500,
    subnets: [
      {
        subnetId,
        cidr: '10.9.0.0/24',
        ipVersion: 4,
        gatewayIp: '10.9.0.1',
        enableDhcp: true,
        dnsNameservers: [],
        hostRoutes: [],
      },
    ],
    dhcpPort: null,
    hosts: [
      {
        portId,
        mac: 'FA:16:3E:00:00:05',
        fixedIps: [{ subnetId, ip: '10.9.0.5', prefixLength: 24, ipVersion: 4 }],
        extraDhcpOpts: BOOT.map((o) => ({ ...o, ipVersion: 4 as const })),
      },
      {
        portId: plainId,
        mac: 'fa:16:3e:00:00:06',
        fixedIps: [{ subnetId, ip: '10.9.0.6', prefixLength: 24, ipVersion: 4 }],
      },
    ],
    hostGateway: null,
  };

  it('tags the port that has options and writes them for that tag only', () => {
    expect(hostsFile(spec)).toBe(
      `fa:16:3e:00:00:05,set:port-${portId},host-10-9-0-5,10.9.0.5\nfa:16:3e:00:00:06,host-10-9-0-6,10.9.0.6\n`,
    );
    const opts = optsFile(spec).trim().split('\n');
    expect(opts).toContain(
      `tag:port-${portId},tag:ipxe,option:bootfile-name,http://10.9.0.1:4000/boot.ipxe`,
    );
    expect(opts).toContain(`tag:port-${portId},option:server-ip-address,10.9.0.1`);
    expect(opts).toContain(`tag:port-${portId},66,10.9.0.1`);
    expect(opts.filter((l) => l.includes(plainId))).toEqual([]);
  });

  it('marks iPXE clients with the ipxe tag', () => {
    const args = dnsmasqArgs(spec, 'ns-x', dnsmasqFiles('/tmp/x'));
    expect(args).toContain('--dhcp-match=set:ipxe,175');
    expect(args).toContain('--dhcp-userclass=set:ipxe,iPXE');
  });

  it('refuses an option that would break the file before touching the host', () => {
    const bad = structuredClone(spec);
    bad.hosts[0].extraDhcpOpts = [{ optName: 'bootfile-name', optValue: 'x\ny', ipVersion: 4 }];
    expect(() => checkNetworkSpec(bad)).toThrow(/hosts\[0\]\.extraDhcpOpts\[0\]\.optValue/);
  });
});
