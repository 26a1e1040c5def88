import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindServerPorts } from '../../resolvers/networks/server-ports';
import { rawId } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import {
  allRows,
  createNetwork,
  createPort,
  createSubnet,
  eventually,
  fakeDriver,
  made,
  mutate,
} from './networks-support';

/** Security groups: the default group, rule checks, duplicates, and what the data path is told. */

let s: TestStratus;
let member: SeededUser;
const RULE =
  'id direction ethertype protocol portRangeMin portRangeMax remoteIpPrefix remoteGroup { id }';

beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
});
afterAll(() => s?.stop());

async function defaultGroup(token: string | null) {
  const data = await s.ok(
    `{ securityGroups { edges { node { id name isDefault rules { ${RULE} } } } } }`,
    {},
    token,
  );
  return data.securityGroups.edges
    .map((e: { node: unknown }) => e.node)
    .find((g: { isDefault: boolean }) => g.isDefault);
}

describe('security groups', () => {
  it("has Neutron's default group with its four rules, which cannot be deleted", async () => {
    const group = await defaultGroup(member.token);
    expect(group.name).toBe('default');
    const rules = group.rules.map((r: Record<string, unknown>) => ({
      direction: r.direction,
      ethertype: r.ethertype,
      remote: (r.remoteGroup as { id: string } | null)?.id === group.id ? 'self' : null,
      protocol: r.protocol,
    }));
    expect(rules).toEqual(
      expect.arrayContaining([
        { direction: 'EGRESS', ethertype: 'IPv4', remote: null, protocol: null },
        { direction: 'EGRESS', ethertype: 'IPv6', remote: null, protocol: null },
        { direction: 'INGRESS', ethertype: 'IPv4', remote: 'self', protocol: null },
        { direction: 'INGRESS', ethertype: 'IPv6', remote: 'self', protocol: null },
      ]),
    );
    expect(rules).toHaveLength(4);
    const refused = await mutate(
      s,
      member.token,
      'deleteSecurityGroup',
      { id: group.id },
      'securityGroup',
      'id',
    );
    expect(refused.__typename).toBe('ConflictError');
  });

  it('checks rules: protocol, port ranges, ICMP type/code, remote prefix ethertype; refuses duplicates; writes nothing', async () => {
    const group = await made(
      s,
      member.token,
      'createSecurityGroup',
      { name: 'web' },
      'securityGroup',
      'id',
    );
    const ok = await made(
      s,
      member.token,
      'createSecurityGroupRule',
      {
        securityGroupId: group.id,
        direction: 'INGRESS',
        protocol: 'tcp',
        portRangeMin: 80,
        portRangeMax: 443,
        remoteIpPrefix: '10.0.0.7/24',
      },
      'securityGroupRule',
      RULE,
    );
    expect(ok).toMatchObject({
      protocol: 6,
      portRangeMin: 80,
      portRangeMax: 443,
      remoteIpPrefix: '10.0.0.0/24',
    });
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ protocol: 'tcp', portRangeMin: 443, portRangeMax: 80 }, 'input.portRangeMin'],
      [{ protocol: 'udp', portRangeMin: 0, portRangeMax: 10 }, 'input.portRangeMin'],
      [{ protocol: 'tcp', portRangeMin: 1, portRangeMax: 70000 }, 'input.portRangeMax'],
      [{ protocol: 'icmp', portRangeMin: 1000, portRangeMax: 2000 }, 'input.portRangeMin'],
      [{ protocol: 'icmp', portRangeMax: 0 }, 'input.portRangeMin'],
      [{ protocol: 'gre', portRangeMin: 22, portRangeMax: 22 }, 'input.portRangeMin'],
      [{ portRangeMin: 22, portRangeMax: 22 }, 'input.portRangeMin'],
      [{ protocol: 'bogus' }, 'input.protocol'],
      [{ protocol: '300' }, 'input.protocol'],
      [{ protocol: 'icmpv6' }, 'input.protocol'],
      [{ remoteIpPrefix: 'fd00::/64' }, 'input.remoteIpPrefix'],
      [{ remoteIpPrefix: 'not-a-cidr' }, 'input.remoteIpPrefix'],
      [{ remoteGroupId: group.id, remoteIpPrefix: '10.0.0.0/8' }, 'input.remoteGroupId'],
    ];
    const before = await allRows(s);
    for (const [input, field] of bad) {
      const payload = await mutate(
        s,
        member.token,
        'createSecurityGroupRule',
        { securityGroupId: group.id, direction: 'INGRESS', ...input },
        'securityGroupRule',
        'id',
      );
      expect(payload, JSON.stringify(input)).toMatchObject({
        __typename: 'InvalidInputError',
        field,
      });
    }
    const duplicate = await mutate(
      s,
      member.token,
      'createSecurityGroupRule',
      {
        securityGroupId: group.id,
        direction: 'INGRESS',
        protocol: '6',
        portRangeMin: 80,
        portRangeMax: 443,
        remoteIpPrefix: '10.0.0.0/24',
      },
      'securityGroupRule',
      'id',
    );
    expect(duplicate).toMatchObject({
      __typename: 'SecurityGroupRuleExistsError',
      ruleId: expect.any(String),
    });
    expect(await allRows(s)).toEqual(before);
    const icmp = await made(
      s,
      member.token,
      'createSecurityGroupRule',
      {
        securityGroupId: group.id,
        direction: 'INGRESS',
        ethertype: 'IPv6',
        protocol: 'icmp',
        portRangeMin: 128,
        portRangeMax: 0,
      },
      'securityGroupRule',
      RULE,
    );
    expect(icmp).toMatchObject({ protocol: 58, portRangeMin: 128, portRangeMax: 0 });
  });

  it('tells the data path the rules of bound ports, remote groups resolved to member addresses, and resyncs on changes', async () => {
    const net = await createNetwork(s, member.token);
    await createSubnet(s, member.token, { networkId: net.id, cidr: '10.60.0.0/24' });
    const serverA = randomUUID();
    const serverB = randomUUID();
    const a = await createPort(s, member.token, {
      networkId: net.id,
      deviceOwner: 'compute:nova',
      deviceId: serverA,
      fixedIps: [{ ipAddress: '10.60.0.10' }],
    });
    const b = await createPort(s, member.token, {
      networkId: net.id,
      deviceOwner: 'compute:nova',
      deviceId: serverB,
      fixedIps: [{ ipAddress: '10.60.0.11' }],
    });
    const host = s.config.compute.hostname;
    await bindServerPorts(s.stratus.runtime.db, serverA, host);
    await bindServerPorts(s.stratus.runtime.db, serverB, host);
    const driver = fakeDriver(s);
    // The default group's ingress-from-self rule names both members (a and b), once both are bound.
    const specA = await eventually(() => {
      const spec = driver.ports.get(rawId(a.port.id));
      const fromSelf = spec?.rules.find((r) => r.direction === 'ingress' && r.ethertype === 'IPv4');
      expect(fromSelf?.remoteIps).toEqual(['10.60.0.10/32', '10.60.0.11/32']);
      return spec!;
    });
    expect(specA).toMatchObject({
      mac: a.port.macAddress,
      portSecurityEnabled: true,
      fixedIps: [{ ip: '10.60.0.10', prefixLength: 24, ipVersion: 4 }],
    });
    // The port becomes ACTIVE once the driver has it.
    await eventually(async () => {
      const data = await s.ok(
        `query($id: ID!) { node(id: $id) { ... on Port { status } } }`,
        { id: a.port.id },
        member.token,
      );
      expect(data.node.status).toBe('ACTIVE');
    });
    // A new rule in the group reaches the bound ports.
    const group = await defaultGroup(member.token);
    await made(
      s,
      member.token,
      'createSecurityGroupRule',
      {
        securityGroupId: group.id,
        direction: 'INGRESS',
        protocol: 'tcp',
        portRangeMin: 22,
        portRangeMax: 22,
      },
      'securityGroupRule',
    );
    await eventually(() => {
      const rules = driver.ports.get(rawId(b.port.id))?.rules ?? [];
      expect(
        rules.some((r) => r.protocol === 6 && r.portRangeMin === 22 && r.remoteIps === null),
      ).toBe(true);
    });
    // A third member joining changes a's remote-group addresses.
    const serverC = randomUUID();
    const c = await createPort(s, member.token, {
      networkId: net.id,
      deviceOwner: 'compute:nova',
      deviceId: serverC,
      fixedIps: [{ ipAddress: '10.60.0.12' }],
    });
    expect(c.__typename).toBe('CreatePortSuccess');
    // It counts once bound: an unbound port is on no host, no member anyone filters for.
    await bindServerPorts(s.stratus.runtime.db, serverC, host);
    await eventually(() => {
      const rules = driver.ports.get(rawId(a.port.id))?.rules ?? [];
      const self = rules.find(
        (r) => r.direction === 'ingress' && r.ethertype === 'IPv4' && r.protocol === null,
      );
      expect(self?.remoteIps).toEqual(['10.60.0.10/32', '10.60.0.11/32', '10.60.0.12/32']);
    });
    // A group in use cannot be deleted.
    const web = await made(
      s,
      member.token,
      'createSecurityGroup',
      { name: 'in-use' },
      'securityGroup',
      'id',
    );
    await made(
      s,
      member.token,
      'updatePort',
      { id: c.port.id, securityGroupIds: [web.id] },
      'port',
    );
    const refused = await mutate(
      s,
      member.token,
      'deleteSecurityGroup',
      { id: web.id },
      'securityGroup',
      'id',
    );
    expect(refused.__typename).toBe('SecurityGroupInUseError');
    // Deleting a bound port unplugs it from its host.
    await made(s, member.token, 'deletePort', { id: a.port.id }, 'port');
    await eventually(() => expect(driver.ports.has(rawId(a.port.id))).toBe(false));
  });
});
