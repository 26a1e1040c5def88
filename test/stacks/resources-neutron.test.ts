import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceState } from '../../resolvers/stacks/resources/plugin';
import { resourceTypeSchema } from '../../resolvers/stacks/resources/registry';
import { parseTemplate } from '../../resolvers/stacks/template/index';
import { createNetwork, createSubnet } from '../network/networks-support';
import { rawId } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { createResource, deleteResource, pluginContext } from './plugin-support';
import { networkRows, node, plugin, refused, refusedBoth } from './resources-neutron-support';

/**
 * The neutron resource types driven one by one against a real Stratus (fake network driver,
 * as the networks API tests run): create -> attributes -> update -> delete, checked through
 * the GraphQL API, and refused properties naming the Heat property path with nothing made.
 */

let s: TestStratus;
let member: SeededUser;
let externalId: string;

const Net = plugin('OS::Neutron::Net');
const Subnet = plugin('OS::Neutron::Subnet');
const Port = plugin('OS::Neutron::Port');
const Router = plugin('OS::Neutron::Router');
const RouterInterface = plugin('OS::Neutron::RouterInterface');
const FloatingIP = plugin('OS::Neutron::FloatingIP');
const FloatingIPAssociation = plugin('OS::Neutron::FloatingIPAssociation');
const SecurityGroup = plugin('OS::Neutron::SecurityGroup');
const SecurityGroupRule = plugin('OS::Neutron::SecurityGroupRule');

const ctx = (name: string) => pluginContext(s, member, name);
const path = (name: string) => `resources.${name}.properties`;

beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
  const external = await createNetwork(s, s.adminToken, { name: 'stack-public', external: true });
  externalId = rawId(external.id);
  await createSubnet(s, s.adminToken, {
    networkId: external.id,
    cidr: '203.0.113.0/24',
    enableDhcp: false,
  });
}, 120_000);
afterAll(() => s?.stop());

describe('OS::Neutron::Net', () => {
  it('creates, shows, updates in place and deletes a network', async () => {
    const c = await ctx('net');
    const props = { name: 'stack-net-a', value_specs: { mtu: 1400 } };
    await Net.validate!(c, props);
    expect(Net.quota!(props)).toEqual([{ resource: 'networks', amount: 1 }]);
    const state = await createResource(Net, c, props);
    const id = state.physicalId!;
    expect(await node(s, member, 'Network', id, 'name mtu adminStateUp')).toMatchObject({
      name: 'stack-net-a',
      mtu: 1400,
      adminStateUp: true,
    });
    expect(await Net.attribute(c, state, 'name')).toBe('stack-net-a');
    expect(await Net.attribute(c, state, 'mtu')).toBe(1400);
    expect(await Net.attribute(c, state, 'status')).toBe('ACTIVE');
    expect(await Net.attribute(c, state, 'subnets')).toEqual([]);
    expect(await Net.attribute(c, state, 'show')).toMatchObject({
      id,
      name: 'stack-net-a',
      admin_state_up: true,
      tenant_id: rawId(member.projectId),
    });

    const next = { name: 'stack-net-b', admin_state_up: false, value_specs: { mtu: 1400 } };
    expect(await Net.update!(c, state, next, ['name', 'admin_state_up'])).toEqual({
      kind: 'updated',
    });
    expect(await node(s, member, 'Network', id, 'name adminStateUp')).toMatchObject({
      name: 'stack-net-b',
      adminStateUp: false,
    });
    // router:external cannot change in place (and the plan says so without calling update).
    expect(Net.updateReplaces!(state, next, ['name'])).toBe(false);
    expect(
      Net.updateReplaces!(state, { ...next, value_specs: { 'router:external': true } }, [
        'value_specs',
      ]),
    ).toBe(true);
    expect(
      await Net.update!(
        c,
        { ...state, properties: next },
        { ...next, value_specs: { 'router:external': true } },
        ['value_specs'],
      ),
    ).toEqual({ kind: 'replace' });

    await deleteResource(Net, c, state);
    expect(await node(s, member, 'Network', id, 'name')).toBeNull();
    await deleteResource(Net, c, state); // already gone: success
  });

  it('names the physical resource after the stack when no name is given', async () => {
    const c = await ctx('unnamed');
    const state = await createResource(Net, c, {});
    expect(await Net.attribute(c, state, 'name')).toBe(c.physicalName);
    await deleteResource(Net, c, state);
  });

  it('refuses unknown value_specs keys, dns_domain and admin-only properties by path', async () => {
    const c = await ctx('net');
    await refusedBoth(s, Net, c, { value_specs: { foo: 1 } }, `${path('net')}.value_specs.foo`);
    await refusedBoth(s, Net, c, { dns_domain: 'example.org.' }, `${path('net')}.dns_domain`);
    await refused(s, `${path('net')}.shared`, () => Net.validate!(c, { shared: true }));
    await refused(s, `${path('net')}.value_specs.mtu`, () =>
      Net.create(c, { value_specs: { mtu: 20 } }),
    );
  });
});

describe('OS::Neutron::Subnet', () => {
  it('creates on a network named in the template, shows, updates and deletes', async () => {
    const cn = await ctx('net');
    const netState = await createResource(Net, cn, { name: 'subnet-test-net' });
    const c = await ctx('subnet');
    const props = {
      network: 'subnet-test-net',
      cidr: '10.81.0.0/24',
      gateway_ip: null,
      allocation_pools: [{ start: '10.81.0.10', end: '10.81.0.99' }],
      dns_nameservers: ['10.81.0.2'],
      host_routes: [{ destination: '192.168.50.0/24', nexthop: '10.81.0.254' }],
      enable_dhcp: true,
    };
    await Subnet.validate!(c, props);
    const state = await createResource(Subnet, c, props);
    const id = state.physicalId!;
    expect(
      await node(
        s,
        member,
        'Subnet',
        id,
        'cidr gatewayIp allocationPools { start end } network { id }',
      ),
    ).toMatchObject({
      cidr: '10.81.0.0/24',
      gatewayIp: null,
      allocationPools: [{ start: '10.81.0.10', end: '10.81.0.99' }],
    });
    expect(await Subnet.attribute(c, state, 'network_id')).toBe(netState.physicalId);
    expect(await Subnet.attribute(c, state, 'cidr')).toBe('10.81.0.0/24');
    expect(await Subnet.attribute(c, state, 'gateway_ip')).toBeNull();
    expect(await Subnet.attribute(c, state, 'ip_version')).toBe(4);
    expect(await Subnet.attribute(c, state, 'allocation_pools')).toEqual([
      { start: '10.81.0.10', end: '10.81.0.99' },
    ]);
    expect(await Net.attribute(cn, netState, 'subnets')).toEqual([id]);

    const next = { ...props, name: 'renamed', dns_nameservers: ['10.81.0.3', '10.81.0.4'] };
    await Subnet.update!(c, state, next, ['name', 'dns_nameservers']);
    expect(await node(s, member, 'Subnet', id, 'id name dnsNameservers')).toMatchObject({
      name: 'renamed',
      dnsNameservers: ['10.81.0.3', '10.81.0.4'],
    });
    expect(await Subnet.attribute(c, state, 'name')).toBe('renamed');

    await deleteResource(Subnet, c, state);
    expect(await node(s, member, 'Subnet', id, 'cidr')).toBeNull();
    await deleteResource(Subnet, c, state);
    await deleteResource(Net, cn, netState);
  });

  it('refuses a bad CIDR, an unknown network and a subnet pool, naming the property', async () => {
    const cn = await ctx('net');
    const netState = await createResource(Net, cn, { name: 'subnet-bad-net' });
    const c = await ctx('subnet');
    const p = path('subnet');
    const base = { network: netState.physicalId, cidr: '10.82.0.0/24' };
    await refusedBoth(s, Subnet, c, { ...base, cidr: '10.82.0.0/33' }, `${p}.cidr`);
    await refusedBoth(s, Subnet, c, { ...base, cidr: 'not-a-cidr' }, `${p}.cidr`);
    await refusedBoth(s, Subnet, c, { ...base, network: 'no-such-net' }, `${p}.network`);
    await refusedBoth(s, Subnet, c, { ...base, gateway_ip: '10.99.0.1' }, `${p}.gateway_ip`);
    await refusedBoth(
      s,
      Subnet,
      c,
      { ...base, allocation_pools: [{ start: '10.82.0.50', end: '10.82.0.20' }] },
      `${p}.allocation_pools.0.start`,
    );
    await refusedBoth(s, Subnet, c, { ...base, subnetpool: 'pool' }, `${p}.subnetpool`);
    // The deprecated network_id works as network.
    const state = await createResource(Subnet, c, {
      network_id: 'subnet-bad-net',
      cidr: '10.82.0.0/24',
    });
    expect(await Subnet.attribute(c, state, 'network_id')).toBe(netState.physicalId);
    // An overlapping CIDR is found by validate, before anything is written.
    await refused(s, `${p}.cidr`, () => Subnet.validate!(c, { ...base, cidr: '10.82.0.128/25' }));
    await deleteResource(Subnet, c, state);
    await deleteResource(Net, cn, netState);
  });
});

describe('OS::Neutron::SecurityGroup and SecurityGroupRule', () => {
  const rulesOf = async (id: string) =>
    (
      (await node(
        s,
        member,
        'SecurityGroup',
        id,
        'rules { direction ethertype protocol portRangeMin portRangeMax remoteIpPrefix remoteGroup { id } }',
      ))!.rules as Record<string, unknown>[]
    )
      .map((r) => JSON.stringify(r))
      .sort();

  it('creates a group with its rules, replaces the rule set in place, deletes', async () => {
    const c = await ctx('sg');
    const props = {
      name: 'stack-web',
      description: 'web',
      rules: [
        { protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '10.0.0.0/8' },
        { protocol: 'icmp' },
        { remote_mode: 'remote_group_id' },
      ],
    };
    await SecurityGroup.validate!(c, props);
    expect(SecurityGroup.quota!(props)).toEqual([
      { resource: 'security_groups', amount: 1 },
      { resource: 'security_group_rules', amount: 3 },
    ]);
    const state = await createResource(SecurityGroup, c, props);
    const id = state.physicalId!;
    const self = { id: Buffer.from(`SecurityGroup:${id}`).toString('base64') };
    const r = (x: Record<string, unknown>) =>
      JSON.stringify({
        direction: 'INGRESS',
        ethertype: 'IPv4',
        protocol: null,
        portRangeMin: null,
        portRangeMax: null,
        remoteIpPrefix: null,
        remoteGroup: null,
        ...x,
      });
    // No egress rule in the template: Neutron's default egress rules stay.
    expect(await rulesOf(id)).toEqual(
      [
        r({ protocol: 6, portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: '10.0.0.0/8' }),
        r({ protocol: 1 }),
        r({ remoteGroup: self }),
        r({ direction: 'EGRESS' }),
        r({ direction: 'EGRESS', ethertype: 'IPv6' }),
      ].sort(),
    );
    const show = (await SecurityGroup.attribute(c, state, 'show')) as Record<string, unknown>;
    expect(show).toMatchObject({ id, name: 'stack-web', description: 'web' });
    expect((show.security_group_rules as unknown[]).length).toBe(5);

    // New set: one kept, one added, one egress (so the default egress rules go).
    const next = {
      name: 'stack-web2',
      rules: [
        { protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '10.0.0.0/8' },
        { protocol: 'udp', port_range_min: 53, port_range_max: 53 },
        { direction: 'egress', protocol: 'tcp', port_range_min: 443, port_range_max: 443 },
      ],
    };
    expect(await SecurityGroup.update!(c, state, next, ['name', 'rules'])).toEqual({
      kind: 'updated',
    });
    expect(await node(s, member, 'SecurityGroup', id, 'name')).toMatchObject({
      name: 'stack-web2',
    });
    expect(await rulesOf(id)).toEqual(
      [
        r({ protocol: 6, portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: '10.0.0.0/8' }),
        r({ protocol: 17, portRangeMin: 53, portRangeMax: 53 }),
        r({ direction: 'EGRESS', protocol: 6, portRangeMin: 443, portRangeMax: 443 }),
      ].sort(),
    );

    // A separate rule resource, naming the groups by name.
    const cr = await ctx('rule');
    const ruleProps = {
      security_group: 'stack-web2',
      protocol: 'tcp',
      port_range_min: 80,
      remote_group: 'stack-web2',
    };
    await SecurityGroupRule.validate!(cr, ruleProps);
    const rule = await createResource(SecurityGroupRule, cr, ruleProps);
    expect(await SecurityGroupRule.attribute(cr, rule, 'show')).toMatchObject({
      id: rule.physicalId,
      security_group_id: id,
      remote_group_id: id,
      port_range_min: 80,
      port_range_max: 80,
    });
    expect(await rulesOf(id)).toHaveLength(4);
    await deleteResource(SecurityGroupRule, cr, rule);
    expect(await node(s, member, 'SecurityGroupRule', rule.physicalId!, 'direction')).toBeNull();
    await deleteResource(SecurityGroupRule, cr, rule);

    await deleteResource(SecurityGroup, c, state);
    expect(await node(s, member, 'SecurityGroup', id, 'name')).toBeNull();
    await deleteResource(SecurityGroup, c, state);
  });

  it('refuses a bad rule by its path and leaves no group behind', async () => {
    const c = await ctx('sg');
    const p = path('sg');
    // Found by the domain's checks during create: the group made first is removed again.
    await refused(s, `${p}.rules.1.port_range_min`, () =>
      SecurityGroup.create(c, {
        name: 'bad-sg',
        rules: [
          { protocol: 'tcp', port_range_min: 22 },
          { protocol: 'tcp', port_range_min: 70000 },
        ],
      }),
    );
    await refusedBoth(
      s,
      SecurityGroup,
      c,
      { rules: [{ direction: 'sideways' }] },
      `${p}.rules.0.direction`,
    );
    await refusedBoth(
      s,
      SecurityGroup,
      c,
      { rules: [{ remote_ip_prefix: '10.0.0.0/99' }] },
      `${p}.rules.0.remote_ip_prefix`,
    );
    await refusedBoth(s, SecurityGroup, c, { name: 'default' }, `${p}.name`);
    const cr = await ctx('rule');
    await refusedBoth(
      s,
      SecurityGroupRule,
      cr,
      { security_group: 'no-such-group' },
      `${path('rule')}.security_group`,
    );
  });
});

describe('OS::Neutron::Port', () => {
  it('creates with fixed IPs, groups and address pairs by name, updates in place, deletes', async () => {
    const cn = await ctx('net');
    const netState = await createResource(Net, cn, { name: 'port-net' });
    const cs = await ctx('subnet');
    const subState = await createResource(Subnet, cs, {
      network: 'port-net',
      cidr: '10.83.0.0/24',
      name: 'port-subnet',
    });
    const cg = await ctx('sg');
    const sgState = await createResource(SecurityGroup, cg, { name: 'port-sg' });
    const c = await ctx('port');
    const props = {
      network: 'port-net',
      name: 'stack-port',
      fixed_ips: [{ subnet: 'port-subnet', ip_address: '10.83.0.20' }],
      security_groups: ['port-sg'],
      allowed_address_pairs: [{ ip_address: '10.83.0.200' }],
      'binding:vnic_type': 'normal',
    };
    await Port.validate!(c, props);
    const state = await createResource(Port, c, props);
    const id = state.physicalId!;
    const FIELDS =
      'name adminStateUp fixedIps { ipAddress subnet { id } } securityGroups { id } allowedAddressPairs { ipAddress }';
    const sgGlobal = Buffer.from(`SecurityGroup:${sgState.physicalId}`).toString('base64');
    expect(await node(s, member, 'Port', id, FIELDS)).toMatchObject({
      name: 'stack-port',
      fixedIps: [{ ipAddress: '10.83.0.20' }],
      securityGroups: [{ id: sgGlobal }],
      allowedAddressPairs: [{ ipAddress: '10.83.0.200' }],
    });
    expect(await Port.attribute(c, state, 'fixed_ips')).toEqual([
      { subnet_id: subState.physicalId, ip_address: '10.83.0.20' },
    ]);
    expect(await Port.attribute(c, state, 'mac_address')).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(await Port.attribute(c, state, 'network_id')).toBe(netState.physicalId);
    expect(await Port.attribute(c, state, 'status')).toBe('DOWN');
    expect(await Port.attribute(c, state, 'subnets')).toMatchObject([
      { id: subState.physicalId, cidr: '10.83.0.0/24' },
    ]);
    expect(await Port.attribute(c, state, 'show')).toMatchObject({
      id,
      security_groups: [sgState.physicalId],
    });

    // The address is taken: a second port asking for it names the property.
    const c2 = await ctx('port2');
    const before = await networkRows(s);
    await expect(
      Port.create(c2, { network: 'port-net', fixed_ips: [{ ip_address: '10.83.0.20' }] }),
    ).rejects.toMatchObject({ field: `${path('port2')}.fixed_ips.0.ip_address` });
    expect(await networkRows(s)).toEqual(before);

    const next = {
      ...props,
      name: 'stack-port-2',
      admin_state_up: false,
      fixed_ips: [{ subnet: subState.physicalId, ip_address: '10.83.0.21' }],
      security_groups: [],
      allowed_address_pairs: [],
    };
    expect(
      await Port.update!(c, state, next, [
        'name',
        'admin_state_up',
        'fixed_ips',
        'security_groups',
        'allowed_address_pairs',
      ]),
    ).toEqual({ kind: 'updated' });
    expect(await node(s, member, 'Port', id, FIELDS)).toMatchObject({
      name: 'stack-port-2',
      adminStateUp: false,
      fixedIps: [{ ipAddress: '10.83.0.21' }],
      securityGroups: [],
      allowedAddressPairs: [],
    });

    await deleteResource(Port, c, state);
    expect(await node(s, member, 'Port', id, 'name')).toBeNull();
    const { rows } = await s.stratus.runtime.pool.query(
      'select count(*)::int as n from ip_allocations where port_id = $1',
      [id],
    );
    expect(rows[0].n).toBe(0);
    await deleteResource(Port, c, state);
    await deleteResource(SecurityGroup, cg, sgState);
    await deleteResource(Subnet, cs, subState);
    await deleteResource(Net, cn, netState);
  });

  it('refuses a vnic type, an unknown subnet or group and the external network by path', async () => {
    const cn = await ctx('net');
    const netState = await createResource(Net, cn, { name: 'port-bad-net' });
    const c = await ctx('port');
    const p = path('port');
    const base = { network: 'port-bad-net' };
    await refusedBoth(
      s,
      Port,
      c,
      { ...base, 'binding:vnic_type': 'direct' },
      `${p}.binding:vnic_type`,
    );
    await refusedBoth(
      s,
      Port,
      c,
      { ...base, fixed_ips: [{ subnet: 'nope' }] },
      `${p}.fixed_ips.0.subnet`,
    );
    await refusedBoth(s, Port, c, { ...base, security_groups: ['nope'] }, `${p}.security_groups.0`);
    await refusedBoth(s, Port, c, { network: 'no-such-network' }, `${p}.network`);
    await refused(s, `${p}.network`, () => Port.validate!(c, { network: 'stack-public' }));
    await refused(s, `${p}.mac_address`, () => Port.validate!(c, { ...base, mac_address: 'zz' }));
    await deleteResource(Net, cn, netState);
  });
});

describe('a network chain: net, subnet, router with a gateway, interface, port, floating IP', () => {
  it('is created in order and deleted in reverse, leaving nothing', async () => {
    const ignoreGroups = ({
      security_groups,
      security_group_rules,
      ...rest
    }: Record<string, number>) => {
      void security_groups;
      void security_group_rules;
      return rest;
    };
    const before = ignoreGroups(await networkRows(s));
    const cn = await ctx('net');
    const netState = await createResource(Net, cn, { name: 'chain-net' });
    const cs = await ctx('subnet');
    const subState = await createResource(Subnet, cs, {
      network: netState.physicalId,
      cidr: '10.84.0.0/24',
      name: 'chain-subnet',
    });

    const cr = await ctx('router');
    const routerProps = {
      name: 'chain-router',
      external_gateway_info: { network: 'stack-public' },
    };
    await Router.validate!(cr, routerProps);
    expect(Router.quota!(routerProps)).toEqual([{ resource: 'routers', amount: 1 }]);
    const routerState = await createResource(Router, cr, routerProps);
    const routerId = routerState.physicalId!;
    const gateway = (await Router.attribute(cr, routerState, 'external_gateway_info')) as {
      network_id: string;
      enable_snat: boolean;
      external_fixed_ips: { ip_address: string }[];
    };
    expect(gateway.network_id).toBe(externalId);
    expect(gateway.enable_snat).toBe(true);
    expect(gateway.external_fixed_ips[0].ip_address).toMatch(/^203\.0\.113\./);
    await Router.update!(
      cr,
      routerState,
      { ...routerProps, external_gateway_info: { network: externalId, enable_snat: false } },
      ['external_gateway_info'],
    );
    expect(
      await node(s, member, 'Router', routerId, 'externalGatewayInfo { enableSnat }'),
    ).toMatchObject({ externalGatewayInfo: { enableSnat: false } });

    const ci = await ctx('interface');
    const ifaceState = await createResource(RouterInterface, ci, {
      router: 'chain-router',
      subnet: 'chain-subnet',
    });
    expect(ifaceState.physicalId).toBe(`${routerId}:subnet_id=${subState.physicalId}`);
    expect(
      await node(s, member, 'Router', routerId, 'interfaces { fixedIps { ipAddress } }'),
    ).toMatchObject({ interfaces: [{ fixedIps: [{ ipAddress: '10.84.0.1' }] }] });

    const cp = await ctx('port');
    const portState = await createResource(Port, cp, { network: 'chain-net' });
    const [fixed] = (await Port.attribute(cp, portState, 'fixed_ips')) as { ip_address: string }[];

    const cf = await ctx('fip');
    const fipProps = { floating_network: 'stack-public', port_id: portState.physicalId };
    await FloatingIP.validate!(cf, fipProps);
    const fipState = await createResource(FloatingIP, cf, fipProps);
    const fipId = fipState.physicalId!;
    expect(await FloatingIP.attribute(cf, fipState, 'floating_ip_address')).toMatch(
      /^203\.0\.113\./,
    );
    expect(await FloatingIP.attribute(cf, fipState, 'port_id')).toBe(portState.physicalId);
    expect(await FloatingIP.attribute(cf, fipState, 'fixed_ip_address')).toBe(fixed.ip_address);
    expect(await FloatingIP.attribute(cf, fipState, 'show')).toMatchObject({
      id: fipId,
      router_id: routerId,
      floating_network_id: externalId,
    });
    const FIP = 'fixedIpAddress status port { id }';
    expect(await node(s, member, 'FloatingIp', fipId, FIP)).toMatchObject({
      fixedIpAddress: fixed.ip_address,
      status: 'ACTIVE',
    });

    // Taken off the port in place, then put back by a FloatingIPAssociation.
    await FloatingIP.update!(cf, fipState, { floating_network: 'stack-public' }, ['port_id']);
    expect(await FloatingIP.attribute(cf, fipState, 'port_id')).toBeNull();
    const ca = await ctx('assoc');
    const assocProps = { floatingip_id: fipId, port_id: portState.physicalId };
    await FloatingIPAssociation.validate!(ca, assocProps);
    const assocState = await createResource(FloatingIPAssociation, ca, assocProps);
    expect(assocState.physicalId).toBe(fipId);
    expect(await node(s, member, 'FloatingIp', fipId, FIP)).toMatchObject({
      fixedIpAddress: fixed.ip_address,
      status: 'ACTIVE',
    });
    // Moved in place to a second port (by name) with a chosen fixed IP.
    const cp2 = await ctx('port2');
    const port2 = await createResource(Port, cp2, {
      network: 'chain-net',
      name: 'chain-port-2',
      fixed_ips: [{ ip_address: '10.84.0.77' }],
    });
    const moved = await FloatingIPAssociation.update!(
      ca,
      assocState,
      { ...assocProps, port_id: 'chain-port-2', fixed_ip_address: '10.84.0.77' },
      ['port_id', 'fixed_ip_address'],
    );
    expect(moved).toMatchObject({ kind: 'updated' });
    if (moved.kind === 'updated') assocState.data = moved.data ?? assocState.data;
    expect(await node(s, member, 'FloatingIp', fipId, FIP)).toMatchObject({
      fixedIpAddress: '10.84.0.77',
      status: 'ACTIVE',
    });
    await deleteResource(FloatingIPAssociation, ca, assocState);
    await deleteResource(Port, cp2, port2);
    expect(await node(s, member, 'FloatingIp', fipId, FIP)).toMatchObject({
      fixedIpAddress: null,
      port: null,
      status: 'DOWN',
    });
    await deleteResource(FloatingIPAssociation, ca, assocState);

    await deleteResource(FloatingIP, cf, fipState);
    expect(await node(s, member, 'FloatingIp', fipId, FIP)).toBeNull();
    await deleteResource(Port, cp, portState);
    await deleteResource(RouterInterface, ci, ifaceState);
    expect(await node(s, member, 'Router', routerId, 'interfaces { id }')).toMatchObject({
      interfaces: [],
    });
    await deleteResource(RouterInterface, ci, ifaceState); // already gone: success
    await deleteResource(Router, cr, routerState);
    expect(await node(s, member, 'Router', routerId, 'name')).toBeNull();
    await deleteResource(Subnet, cs, subState);
    await deleteResource(Net, cn, netState);
    expect(await node(s, member, 'Network', netState.physicalId!, 'name')).toBeNull();
    expect(ignoreGroups(await networkRows(s))).toEqual(before);
  });

  it('refuses a gateway on an unknown or internal network and an interface on nothing', async () => {
    const cn = await ctx('net');
    const netState = await createResource(Net, cn, { name: 'chain-internal' });
    const cr = await ctx('router');
    const gw = `${path('router')}.external_gateway_info.network`;
    await refusedBoth(s, Router, cr, { external_gateway_info: { network: 'nowhere' } }, gw);
    await refusedBoth(s, Router, cr, { external_gateway_info: { network: 'chain-internal' } }, gw);
    const routerState = await createResource(Router, cr, { name: 'chain-bare' });
    const ci = await ctx('interface');
    // Neither subnet nor port: refused at create (validate cannot tell it from a deferred one).
    await refused(s, `${path('interface')}.subnet`, () =>
      RouterInterface.create(ci, { router: 'chain-bare' }),
    );
    await refusedBoth(
      s,
      RouterInterface,
      ci,
      { router: 'no-router', subnet: 'x' },
      `${path('interface')}.router`,
    );
    const cf = await ctx('fip');
    await refusedBoth(
      s,
      FloatingIP,
      cf,
      { floating_network: 'chain-internal' },
      `${path('fip')}.floating_network`,
    );
    await deleteResource(Router, cr, routerState);
    await deleteResource(Net, cn, netState);
  });
});

describe('resources made and removed out of order (Heat would order them implicitly)', () => {
  it('a floating IP waits for its router; refused deletes are retried until what used them is gone', async () => {
    const cn = await ctx('net');
    const netState = await createResource(Net, cn, { name: 'order-net' });
    const cs = await ctx('subnet');
    const subState = await createResource(Subnet, cs, {
      network: 'order-net',
      cidr: '10.86.0.0/24',
      name: 'order-subnet',
    });
    const cp = await ctx('port');
    const portState = await createResource(Port, cp, { network: 'order-net' });
    const cr = await ctx('router');
    const routerState = await createResource(Router, cr, {
      name: 'order-router',
      external_gateway_info: { network: 'stack-public' },
    });

    // No interface yet: the address is taken, the association waits for the router.
    const cf = await ctx('fip');
    const fipProps = { floating_network: 'stack-public', port_id: portState.physicalId };
    const made = await FloatingIP.create(cf, fipProps);
    const fipState: ResourceState = {
      physicalId: made.physicalId,
      properties: fipProps,
      data: made.data ?? {},
    };
    const waiting = await FloatingIP.checkCreateComplete!(cf, fipState);
    expect(waiting).toMatchObject({
      done: false,
      reason: expect.stringMatching(/waiting for a router/),
    });
    expect(await FloatingIP.attribute(cf, fipState, 'port_id')).toBeNull();
    const ci = await ctx('interface');
    const ifaceState = await createResource(RouterInterface, ci, {
      router: 'order-router',
      subnet: 'order-subnet',
    });
    expect(await FloatingIP.checkCreateComplete!(cf, fipState)).toEqual({ done: true });
    expect(await FloatingIP.attribute(cf, fipState, 'port_id')).toBe(portState.physicalId);

    // Deleted in the wrong order: each refusal is noted and retried, not a failure.
    await Router.delete(cr, routerState); // still has an interface
    await RouterInterface.delete(ci, ifaceState); // a floating IP goes through it
    await Subnet.delete(cs, subState); // the port and the interface hold addresses
    await Net.delete(cn, netState); // the port is on it
    for (const [p, c, st] of [
      [Router, cr, routerState],
      [RouterInterface, ci, ifaceState],
      [Subnet, cs, subState],
      [Net, cn, netState],
    ] as const) {
      expect(st.data.deleteWaiting, p.type).toBeTruthy();
      expect(await p.checkDeleteComplete!(c, st)).toMatchObject({ done: false });
    }
    await deleteResource(FloatingIP, cf, fipState);
    expect(await RouterInterface.checkDeleteComplete!(ci, ifaceState)).toEqual({ done: true });
    expect(await Router.checkDeleteComplete!(cr, routerState)).toEqual({ done: true });
    expect(await Subnet.checkDeleteComplete!(cs, subState)).toMatchObject({ done: false });
    await deleteResource(Port, cp, portState);
    expect(await Subnet.checkDeleteComplete!(cs, subState)).toEqual({ done: true });
    expect(await Net.checkDeleteComplete!(cn, netState)).toEqual({ done: true });
    for (const [type, st] of [
      ['Network', netState],
      ['Subnet', subState],
      ['Router', routerState],
      ['Port', portState],
      ['FloatingIp', fipState],
    ] as const) {
      expect(await node(s, member, type, st.physicalId!, 'id'), type).toBeNull();
    }
  });
});

describe('validate before the stack has made what a resource refers to', () => {
  it('checks what is known and leaves out the properties the engine deferred', async () => {
    // The engine leaves out properties naming resources of the stack (not made yet).
    await Subnet.validate!(await ctx('subnet'), { cidr: '10.85.0.0/24', ip_version: 4 });
    await refused(s, `${path('subnet')}.cidr`, async () =>
      Subnet.validate!(await ctx('subnet'), { cidr: '10.85.0.0/40' }),
    );
    await refused(s, `${path('subnet')}.network`, async () =>
      Subnet.create(await ctx('subnet'), { cidr: '10.85.0.0/24' }),
    );
    await Port.validate!(await ctx('port'), { name: 'p', mac_address: 'fa:16:3e:00:00:01' });
    await refused(s, `${path('port')}.network`, async () => Port.create(await ctx('port'), {}));
    await RouterInterface.validate!(await ctx('interface'), {});
    await refused(s, `${path('interface')}.subnet`, async () =>
      RouterInterface.validate!(await ctx('interface'), { subnet: 'a', port: 'b' }),
    );
    await FloatingIP.validate!(await ctx('fip'), {});
    await FloatingIPAssociation.validate!(await ctx('assoc'), {});
    await refused(s, `${path('assoc')}.port_id`, async () =>
      FloatingIPAssociation.validate!(await ctx('assoc'), { port_id: 'no-such-port' }),
    );
    await SecurityGroupRule.validate!(await ctx('rule'), { protocol: 'tcp', port_range_min: 22 });
    await refused(s, `${path('rule')}.direction`, async () =>
      SecurityGroupRule.validate!(await ctx('rule'), { direction: 'up' }),
    );
  });
});

describe('the neutron types in a template', () => {
  const CHAIN = `heat_template_version: 2018-08-31
resources:
  net: {type: OS::Neutron::Net, properties: {name: n1}}
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: 10.9.0.0/24}
  router:
    type: OS::Neutron::Router
    properties: {external_gateway_info: {network: public}}
  iface:
    type: OS::Neutron::RouterInterface
    properties: {router: {get_resource: router}, subnet: {get_resource: subnet}}
  port:
    type: OS::Neutron::Port
    properties:
      network: {get_resource: net}
      fixed_ips: [{subnet: {get_resource: subnet}}]
  fip:
    type: OS::Neutron::FloatingIP
    depends_on: iface
    properties: {floating_network: public, port_id: {get_resource: port}}
outputs:
  address: {value: {get_attr: [fip, floating_ip_address]}}
  mtu: {value: {get_attr: [net, mtu]}}
  ips: {value: {get_attr: [port, fixed_ips, 0, ip_address]}}
`;

  it('parses with the registry schema and orders the chain', async () => {
    const t = await parseTemplate(CHAIN, { resourceTypes: resourceTypeSchema });
    const level = (name: string) => t.graph.levels.findIndex((l) => l.includes(name));
    expect(level('net')).toBeLessThan(level('subnet'));
    expect(level('subnet')).toBeLessThan(level('iface'));
    expect(level('router')).toBeLessThan(level('iface'));
    expect(level('iface')).toBeLessThan(level('fip'));
    expect(level('port')).toBeLessThan(level('fip'));
  });

  it('refuses an unknown property and attribute by path', async () => {
    await expect(
      parseTemplate(CHAIN.replace('name: n1', 'nmae: n1'), { resourceTypes: resourceTypeSchema }),
    ).rejects.toMatchObject({ path: 'resources.net.properties.nmae' });
    await expect(
      parseTemplate(CHAIN.replace('[net, mtu]', '[net, mtuu]'), {
        resourceTypes: resourceTypeSchema,
      }),
    ).rejects.toMatchObject({ kind: 'REFERENCE' });
  });
});
