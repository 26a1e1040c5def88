import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetwork, createSubnet } from '../network/networks-support';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { createStack, settled, stackCounts, stackMutation, waitForStack } from './api-support';
import { networkRows } from './resources-neutron-support';

/**
 * The neutron types through the whole stack path: createStack/updateStack/deleteStack on the
 * real server and engine (fake network driver). A net, subnet, router with an external
 * gateway, interface, security group, port and floating IP come up in dependency order, change
 * in place, and go in reverse, leaving no networks rows; bad properties are refused by path.
 */

let s: TestStratus;
let member: SeededUser;

beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
  const external = await createNetwork(s, s.adminToken, { name: 'e2e-public', external: true });
  await createSubnet(s, s.adminToken, {
    networkId: external.id,
    cidr: '198.51.100.0/24',
    enableDhcp: false,
  });
}, 120_000);
afterAll(() => s?.stop());

const template = (o: {
  portName: string;
  dns: string;
  sshFrom: string;
}) => `heat_template_version: 2018-08-31
parameters:
  public: {type: string, default: e2e-public}
resources:
  net: {type: OS::Neutron::Net, properties: {name: e2e-net}}
  subnet:
    type: OS::Neutron::Subnet
    properties:
      network: {get_resource: net}
      cidr: 10.90.0.0/24
      dns_nameservers: [${o.dns}]
  router:
    type: OS::Neutron::Router
    properties: {external_gateway_info: {network: {get_param: public}}}
  iface:
    type: OS::Neutron::RouterInterface
    properties: {router: {get_resource: router}, subnet: {get_resource: subnet}}
  sg:
    type: OS::Neutron::SecurityGroup
    properties:
      rules:
        - {protocol: tcp, port_range_min: 22, port_range_max: 22, remote_ip_prefix: ${o.sshFrom}}
  port:
    type: OS::Neutron::Port
    properties:
      name: ${o.portName}
      network: {get_resource: net}
      fixed_ips: [{subnet: {get_resource: subnet}, ip_address: 10.90.0.50}]
      security_groups: [{get_resource: sg}]
  fip:
    type: OS::Neutron::FloatingIP
    depends_on: iface
    properties: {floating_network: {get_param: public}, port_id: {get_resource: port}}
outputs:
  address: {value: {get_attr: [fip, floating_ip_address]}}
  fixed: {value: {get_attr: [port, fixed_ips, 0, ip_address]}}
  mtu: {value: {get_attr: [net, mtu]}}
  gateway: {value: {get_attr: [router, external_gateway_info, network_id]}}
`;

const VIEW = `id status statusReason outputs { key value error }
  resources { edges { node { name status physicalResourceId } } }`;

async function view(id: string): Promise<Json> {
  return (await s.ok(`query($id: ID!) { stack(id: $id) { ${VIEW} } }`, { id }, member.token)).stack;
}

const physicalIds = (stack: Json) =>
  Object.fromEntries(
    stack.resources.edges.map((e: Json) => [e.node.name, e.node.physicalResourceId]),
  );

const groupsLeftOut = ({
  security_groups,
  security_group_rules,
  ...rest
}: Record<string, number>) => {
  void security_groups;
  void security_group_rules;
  return rest;
};

describe('a neutron stack', () => {
  it('creates the chain, updates it in place and deletes it leaving nothing', async () => {
    const before = groupsLeftOut(await networkRows(s));
    const created = await createStack(s, member.token, {
      name: 'e2e-neutron',
      template: template({ portName: 'web-port', dns: '10.90.0.2', sshFrom: '10.0.0.0/8' }),
    });
    expect(created.__typename, JSON.stringify(created)).toBe('CreateStackSuccess');
    const id = created.stack.id;
    const done = await waitForStack(s, member.token!, id, settled, VIEW, 90_000);
    expect(done!.status, done!.statusReason).toBe('CREATE_COMPLETE');
    const outputs = Object.fromEntries(done!.outputs.map((o: Json) => [o.key, o.value]));
    expect(outputs.address).toMatch(/^198\.51\.100\./);
    expect(outputs.fixed).toBe('10.90.0.50');
    expect(outputs.mtu).toBe(1500);
    expect(typeof outputs.gateway).toBe('string');
    const ids = physicalIds(done!);
    expect(ids.iface).toBe(`${ids.router}:subnet_id=${ids.subnet}`);

    // Through the API: the port carries the group, the floating IP points at the port.
    const { floatingIps } = await s.ok(
      '{ floatingIps { edges { node { floatingIpAddress fixedIpAddress status } } } }',
      {},
      member.token,
    );
    expect(floatingIps.edges.map((e: Json) => e.node)).toEqual([
      { floatingIpAddress: outputs.address, fixedIpAddress: '10.90.0.50', status: 'ACTIVE' },
    ]);

    // In place: port name, subnet name servers, the group's rule set; the ids stay.
    const updated = await stackMutation(s, member.token, 'updateStack', 'UpdateStackInput', {
      id,
      template: template({ portName: 'web-port-2', dns: '10.90.0.3', sshFrom: '192.168.0.0/16' }),
    });
    expect(updated.__typename, JSON.stringify(updated)).toBe('UpdateStackSuccess');
    const after = await waitForStack(s, member.token!, id, settled, VIEW, 90_000);
    expect(after!.status, after!.statusReason).toBe('UPDATE_COMPLETE');
    expect(physicalIds(after!)).toEqual(ids);
    const { ports } = await s.ok(
      '{ ports(filter: { name: "web-port" }) { edges { node { name securityGroups { rules { direction remoteIpPrefix } } } } } }',
      {},
      member.token,
    );
    const port = ports.edges.map((e: Json) => e.node).find((p: Json) => p.name === 'web-port-2');
    expect(port.securityGroups[0].rules).toContainEqual({
      direction: 'INGRESS',
      remoteIpPrefix: '192.168.0.0/16',
    });
    expect(port.securityGroups[0].rules).not.toContainEqual({
      direction: 'INGRESS',
      remoteIpPrefix: '10.0.0.0/8',
    });
    const { subnets } = await s.ok(
      '{ subnets { edges { node { id dnsNameservers } } } }',
      {},
      member.token,
    );
    expect(subnets.edges.map((e: Json) => e.node.dnsNameservers)).toContainEqual(['10.90.0.3']);

    const deleted = await stackMutation(s, member.token, 'deleteStack', 'DeleteStackInput', { id });
    expect(deleted.__typename, JSON.stringify(deleted)).toBe('DeleteStackSuccess');
    await waitForStack(s, member.token!, id, (st) => st === null, 'id status', 90_000).catch(
      async (e) => {
        throw new Error(`${e}: ${JSON.stringify(await view(id).catch(() => null))}`);
      },
    );
    expect(groupsLeftOut(await networkRows(s))).toEqual(before);
  });

  it('previews the chain: every create and the neutron quota it takes, writing nothing', async () => {
    const before = { rows: await networkRows(s), stacks: await stackCounts(s) };
    const PLAN =
      '... on PreviewStackSuccess { plan { resources { name action } quota { resource amount } errors { path message } } }';
    const text = template({ portName: 'p', dns: '10.90.0.2', sshFrom: '10.0.0.0/8' });
    const ok = await stackMutation(
      s,
      member.token,
      'previewStack',
      'PreviewStackInput',
      { name: 'e2e-preview', template: text },
      PLAN,
    );
    expect(ok.__typename, JSON.stringify(ok)).toBe('PreviewStackSuccess');
    expect(ok.plan.errors).toEqual([]);
    expect(ok.plan.resources.map((r: Json) => r.action)).toEqual(Array(7).fill('CREATE'));
    const quota = Object.fromEntries(ok.plan.quota.map((q: Json) => [q.resource, q.amount]));
    expect(quota).toMatchObject({
      networks: 1,
      subnets: 1,
      ports: 1,
      routers: 1,
      floating_ips: 1,
      security_groups: 1,
      security_group_rules: 1,
    });
    const bad = await stackMutation(
      s,
      member.token,
      'previewStack',
      'PreviewStackInput',
      { name: 'e2e-preview', template: text.replace('cidr: 10.90.0.0/24', 'cidr: 10.90.0.0/24x') },
      PLAN,
    );
    const problems = bad.__typename === 'PreviewStackSuccess' ? bad.plan.errors : [bad];
    expect(JSON.stringify(problems)).toContain('resources.subnet.properties.cidr');
    expect({ rows: await networkRows(s), stacks: await stackCounts(s) }).toEqual(before);
  });

  it('refuses a bad CIDR and an unknown network by property path, creating nothing', async () => {
    const before = { rows: await networkRows(s), stacks: await stackCounts(s) };
    const bad = template({ portName: 'p', dns: '10.90.0.2', sshFrom: '10.0.0.0/8' });
    const cidr = await createStack(s, member.token, {
      name: 'e2e-bad-cidr',
      template: bad.replace('cidr: 10.90.0.0/24', 'cidr: 10.90.0.0/33'),
    });
    expect(cidr).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'resources.subnet.properties.cidr',
    });
    const net = await createStack(s, member.token, {
      name: 'e2e-bad-net',
      template: bad,
      parameters: { public: 'no-such-network' },
    });
    expect(net).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'resources.router.properties.external_gateway_info.network',
    });
    expect({ rows: await networkRows(s), stacks: await stackCounts(s) }).toEqual(before);
  });
  it('keeps an explicit gateway_ip: null through the engine: the subnet has no gateway', async () => {
    const created = await createStack(s, member.token, {
      name: 'e2e-no-gateway',
      template: `heat_template_version: 2018-08-31
resources:
  net: {type: OS::Neutron::Net}
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: 10.91.0.0/24, gateway_ip: null}
outputs:
  gateway: {value: {get_attr: [subnet, gateway_ip]}}
`,
    });
    expect(created.__typename, JSON.stringify(created)).toBe('CreateStackSuccess');
    const id = created.stack.id;
    const done = await waitForStack(s, member.token!, id, settled, VIEW, 90_000);
    expect(done!.status, done!.statusReason).toBe('CREATE_COMPLETE');
    const subnetId = physicalIds(done!).subnet;
    const { subnets } = await s.ok(
      '{ subnets { edges { node { cidr gatewayIp } } } }',
      {},
      member.token,
    );
    expect(subnets.edges.map((e: Json) => e.node)).toContainEqual({
      cidr: '10.91.0.0/24',
      gatewayIp: null,
    });
    expect(done!.outputs.find((o: Json) => o.key === 'gateway').value).toBeNull();
    expect(subnetId).toBeTruthy();
    await stackMutation(s, member.token, 'deleteStack', 'DeleteStackInput', { id });
    await waitForStack(s, member.token!, id, (st) => st === null, 'id status', 90_000);
  });
});
