import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { createNetwork, createPort, createSubnet, made, mutate } from './networks-support';

/** Tenant isolation of every networks type: another project sees nothing and changes nothing. */

let s: TestStratus;
let owner: SeededUser;
let reader: SeededUser;
let stranger: SeededUser;
const ids: Record<string, string> = {};

beforeAll(async () => {
  s = await startTestStratus();
  const seed = new Seed(s);
  owner = await seed.member('member');
  reader = await seed.member('reader', owner.projectId);
  stranger = await seed.member('member');
  const external = await createNetwork(s, s.adminToken, { name: 'ext', external: true });
  await createSubnet(s, s.adminToken, {
    networkId: external.id,
    cidr: '198.51.100.0/24',
    enableDhcp: false,
  });
  ids.Network = (await createNetwork(s, owner.token, { name: 'private' })).id;
  ids.Subnet = (
    await createSubnet(s, owner.token, { networkId: ids.Network, cidr: '10.80.0.0/24' })
  ).id;
  ids.Port = (await createPort(s, owner.token, { networkId: ids.Network })).port.id;
  ids.SecurityGroup = (
    await made(s, owner.token, 'createSecurityGroup', { name: 'sg' }, 'securityGroup')
  ).id;
  ids.SecurityGroupRule = (
    await made(
      s,
      owner.token,
      'createSecurityGroupRule',
      {
        securityGroupId: ids.SecurityGroup,
        direction: 'INGRESS',
        protocol: 'tcp',
        portRangeMin: 22,
        portRangeMax: 22,
      },
      'securityGroupRule',
    )
  ).id;
  ids.Router = (
    await made(
      s,
      owner.token,
      'createRouter',
      { externalGatewayInfo: { networkId: external.id } },
      'router',
    )
  ).id;
  await made(
    s,
    owner.token,
    'addRouterInterface',
    { routerId: ids.Router, subnetId: ids.Subnet },
    'routerInterface',
    'router { id }',
  );
  ids.FloatingIp = (
    await made(
      s,
      owner.token,
      'createFloatingIp',
      { floatingNetworkId: external.id, portId: ids.Port },
      'floatingIp',
    )
  ).id;
});
afterAll(() => s?.stop());

const LISTS = ['networks', 'subnets', 'ports', 'securityGroups', 'routers', 'floatingIps'];
const listQuery = `{ ${LISTS.map((l) => `${l}(first: 100) { edges { node { id } } }`).join(' ')} }`;
const listed = (data: Record<string, { edges: { node: { id: string } }[] }>) =>
  new Set(LISTS.flatMap((l) => data[l].edges.map((e) => e.node.id)));

describe('tenant isolation', () => {
  it('another project reads none of them, by id or in lists', async () => {
    for (const [type, id] of Object.entries(ids)) {
      const data = await s.ok(`query($id: ID!) { node(id: $id) { id } }`, { id }, stranger.token);
      expect(data.node, `${type} visible to a stranger`).toBeNull();
      const own = await s.ok(`query($id: ID!) { node(id: $id) { id } }`, { id }, reader.token);
      expect(own.node?.id, `${type} visible to the project's reader`).toBe(id);
    }
    const theirs = listed(await s.ok(listQuery, {}, stranger.token));
    for (const id of Object.values(ids)) expect(theirs.has(id)).toBe(false);
    const mine = listed(await s.ok(listQuery, {}, reader.token));
    for (const [type, id] of Object.entries(ids)) {
      if (type !== 'SecurityGroupRule') expect(mine.has(id), type).toBe(true);
    }
    // Admins see them with allProjects.
    const all = await s.ok(
      `{ ports(first: 100, filter: { allProjects: true }) { edges { node { id } } } }`,
      {},
      s.adminToken,
    );
    expect(all.ports.edges.map((e: { node: { id: string } }) => e.node.id)).toContain(ids.Port);
  });

  it('another project changes none of them, and cannot use the private network', async () => {
    const attempts: Array<[string, Record<string, unknown>, string]> = [
      ['updateNetwork', { id: ids.Network, name: 'x' }, 'network'],
      ['deleteNetwork', { id: ids.Network }, 'network'],
      ['updateSubnet', { id: ids.Subnet, name: 'x' }, 'subnet'],
      ['deleteSubnet', { id: ids.Subnet }, 'subnet'],
      ['updatePort', { id: ids.Port, name: 'x' }, 'port'],
      ['deletePort', { id: ids.Port }, 'port'],
      ['updateSecurityGroup', { id: ids.SecurityGroup, name: 'x' }, 'securityGroup'],
      ['deleteSecurityGroup', { id: ids.SecurityGroup }, 'securityGroup'],
      ['deleteSecurityGroupRule', { id: ids.SecurityGroupRule }, 'securityGroupRule'],
      ['updateRouter', { id: ids.Router, name: 'x' }, 'router'],
      ['deleteRouter', { id: ids.Router }, 'router'],
      ['updateFloatingIp', { id: ids.FloatingIp, portId: null }, 'floatingIp'],
      ['deleteFloatingIp', { id: ids.FloatingIp }, 'floatingIp'],
    ];
    for (const [mutation, input, field] of attempts) {
      const payload = await mutate(s, stranger.token, mutation, input, field, 'id');
      expect(payload.__typename, mutation).toBe('NotFoundError');
    }
    const port = await createPort(s, stranger.token, { networkId: ids.Network });
    expect(port).toMatchObject({ __typename: 'InvalidInputError', field: 'input.networkId' });
    const rule = await mutate(
      s,
      stranger.token,
      'createSecurityGroupRule',
      { securityGroupId: ids.SecurityGroup, direction: 'INGRESS' },
      'securityGroupRule',
      'id',
    );
    expect(rule.__typename).toBe('NotFoundError');
    const subnet = await mutate(
      s,
      stranger.token,
      'createSubnet',
      { networkId: ids.Network, cidr: '10.81.0.0/24' },
      'subnet',
      'id',
    );
    expect(subnet).toMatchObject({ __typename: 'InvalidInputError', field: 'input.networkId' });
  });

  it('a reader reads but cannot write', async () => {
    const result = await s.gql(
      `mutation($input: CreateNetworkInput!) { createNetwork(input: $input) { __typename } }`,
      { input: { name: 'x' } },
      reader.token,
    );
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('a shared network is usable (ports) but not changeable by other projects', async () => {
    const shared = await createNetwork(s, s.adminToken, { name: 'shared', shared: true });
    await createSubnet(s, s.adminToken, { networkId: shared.id, cidr: '10.90.0.0/24' });
    const port = await createPort(s, stranger.token, { networkId: shared.id });
    expect(port.__typename).toBe('CreatePortSuccess');
    const rename = await mutate(
      s,
      stranger.token,
      'updateNetwork',
      { id: shared.id, name: 'mine' },
      'network',
      'id',
    );
    expect(rename.__typename).toBe('ForbiddenError');
    // The stranger's port on it stays the stranger's: the owner of the network does not list it.
    const { ports } = await s.ok(
      '{ ports(first: 100) { edges { node { id } } } }',
      {},
      owner.token,
    );
    expect(ports.edges.map((e: { node: { id: string } }) => e.node.id)).not.toContain(port.port.id);
  });

  it('subscriptions deliver only what the caller may see', async () => {
    const sub = s.subscribe(
      `subscription($id: ID!) { port(id: $id) { id name status } }`,
      { id: ids.Port },
      owner.token,
    );
    await sub.waitFor(1);
    await made(s, owner.token, 'updatePort', { id: ids.Port, name: 'watched' }, 'port');
    const values = await sub.waitFor(2);
    expect(values[1].data.port).toMatchObject({ id: ids.Port, name: 'watched' });
    sub.close();
    // The project's port stream sees its new port; another project's stream does not. Both
    // start after the latest event, so one registered late still gets it from the table.
    const { rows: last } = await s.stratus.runtime.pool.query('select max(id) as id from events');
    const after = String(last[0].id);
    const PORTS = 'subscription($after: String) { ports(after: $after) { id status } }';
    const mine = s.subscribe(PORTS, { after }, owner.token);
    const theirs = s.subscribe(PORTS, { after }, stranger.token);
    const created = await createPort(s, owner.token, { networkId: ids.Network });
    const seen = await mine.waitFor(1);
    expect(seen.map((v) => v.data.ports.id)).toContain(created.port.id);
    expect(theirs.values).toEqual([]);
    mine.close();
    theirs.close();
    const denied = s.subscribe(
      `subscription($id: ID!) { port(id: $id) { id } }`,
      { id: ids.Port },
      stranger.token,
    );
    const end = await denied.ended;
    expect(JSON.stringify(end.error ?? denied.values)).toContain('NOT_FOUND');
    denied.close();
  });
});
