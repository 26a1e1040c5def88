import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withImplicitDependencies } from '../../resolvers/stacks/engine/implicit-deps';
import { parseTemplate } from '../../resolvers/stacks/template/index';
import { createNetwork, createSubnet } from '../network/networks-support';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { createStack, settled, stackMutation, waitForStack } from './api-support';

/**
 * Heat's implicit dependencies: templates written for OpenStack leave out the depends_on that
 * Heat adds itself (a port waits for its network's subnets, a floating IP for the router
 * interface that makes its port reachable). Without them a port can come up with no address.
 */

const TEMPLATE = `heat_template_version: 2018-08-31
parameters:
  public: {type: string, default: implicit-public}
resources:
  net: {type: OS::Neutron::Net}
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: 10.92.0.0/24}
  other_subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: 10.93.0.0/24}
  router:
    type: OS::Neutron::Router
    properties: {external_gateway_info: {network: {get_param: public}}}
  iface:
    type: OS::Neutron::RouterInterface
    properties: {router: {get_resource: router}, subnet: {get_resource: subnet}}
  port:
    type: OS::Neutron::Port
    properties: {network: {get_resource: net}}
  fip:
    type: OS::Neutron::FloatingIP
    properties: {floating_network: {get_param: public}, port_id: {get_resource: port}}
  server:
    type: OS::Nova::Server
    properties:
      image: cirros
      flavor: m1.tiny
      networks: [{network: {get_resource: net}}]
outputs:
  fixed: {value: {get_attr: [port, fixed_ips, 0, ip_address]}}
  floating: {value: {get_attr: [fip, floating_ip_address]}}
`;

describe('implicit dependencies, as Heat adds them', () => {
  it('makes ports and servers wait for the subnets of their network, floating IPs for the interface and gateway', async () => {
    const template = withImplicitDependencies(await parseTemplate(TEMPLATE));
    expect(template.resources.port.requires).toEqual(['net', 'other_subnet', 'subnet']);
    expect(template.resources.server.requires).toEqual(['net', 'other_subnet', 'subnet']);
    expect(template.resources.fip.requires).toEqual(['iface', 'port', 'router']);
    // The graph follows: the port is created after both subnets.
    const order = template.graph.order;
    expect(order.indexOf('port')).toBeGreaterThan(order.indexOf('other_subnet'));
    expect(order.indexOf('fip')).toBeGreaterThan(order.indexOf('iface'));
  });

  it('adds nothing that would close a cycle, and leaves other templates as they are', async () => {
    // The subnet (oddly) needs the port: the port cannot also wait for the subnet.
    const cyclic = withImplicitDependencies(
      await parseTemplate(`heat_template_version: 2018-08-31
resources:
  net: {type: OS::Neutron::Net}
  port: {type: OS::Neutron::Port, properties: {network: {get_resource: net}}}
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: 10.94.0.0/24, name: {get_attr: [port, name]}}
`),
    );
    expect(cyclic.resources.port.requires).toEqual(['net']);
    const plain = await parseTemplate(`heat_template_version: 2018-08-31
resources:
  a: {type: OS::Heat::Value, properties: {value: 1}}
`);
    expect(withImplicitDependencies(plain)).toBe(plain);
  });
});

describe('implicit dependencies through a stack', () => {
  let s: TestStratus;
  let member: SeededUser;

  beforeAll(async () => {
    s = await startTestStratus();
    member = await new Seed(s).member('member');
    const external = await createNetwork(s, s.adminToken, {
      name: 'implicit-public',
      external: true,
    });
    await createSubnet(s, s.adminToken, {
      networkId: external.id,
      cidr: '198.51.100.0/24',
      enableDhcp: false,
    });
  }, 120_000);
  afterAll(() => s?.stop());

  it('gives a port with no fixed_ips and no depends_on an address on its network, and a floating IP', async () => {
    // One subnet (the port could take its address on either of two), no server.
    const text = TEMPLATE.replace(/ {2}server:[\s\S]*?(?=outputs:)/, '').replace(
      / {2}other_subnet:[\s\S]*?(?= {2}router:)/,
      '',
    );
    const created = await createStack(s, member.token, { name: 'implicit', template: text });
    expect(created.__typename, JSON.stringify(created)).toBe('CreateStackSuccess');
    const id = created.stack.id;
    const done = await waitForStack(
      s,
      member.token!,
      id,
      settled,
      'id status statusReason outputs { key value error } resources { edges { node { name status statusReason } } }',
      90_000,
    );
    expect(done!.status, JSON.stringify(done)).toBe('CREATE_COMPLETE');
    const outputs = Object.fromEntries(done!.outputs.map((o: Json) => [o.key, o.value]));
    expect(outputs.fixed).toMatch(/^10\.92\.0\./);
    expect(outputs.floating).toMatch(/^198\.51\.100\./);
    await stackMutation(s, member.token, 'deleteStack', 'DeleteStackInput', { id });
    await waitForStack(s, member.token!, id, (st) => st === null, 'id status', 90_000);
  }, 200_000);
});
