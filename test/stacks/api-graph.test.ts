import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFlavor, rawId } from '../support/compute';
import type { Json, TestStratus } from '../support/harness';
import type { SeededUser } from '../support/seed';
import { sqlCount, startComputeTestbed, uniq } from '../support/servers';
import { createStack, settled, stackMutation, waitForStack } from './api-support';

/**
 * Stacks in the graph, on the fake compute and network drivers: a stack's resources lead to
 * their real nodes (Server, Network, Subnet), those nodes lead back to the stack, and the
 * preview of a create lists what the create then makes, with its quota.
 */

let s: TestStratus;
let member: SeededUser;
let other: SeededUser;
let projectId: string;
const flavor = uniq('graph-flavor');

const TEMPLATE = `heat_template_version: 2018-08-31
parameters:
  flavor: {type: string}
  image: {type: string, default: public-disk}
resources:
  net:
    type: OS::Neutron::Net
    properties: {name: graph-net}
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: 10.88.0.0/24}
  server:
    type: OS::Nova::Server
    depends_on: subnet
    properties:
      flavor: {get_param: flavor}
      image: {get_param: image}
      networks: [{network: {get_resource: net}}]
outputs:
  server_id:
    value: {get_resource: server}
`;

beforeAll(async () => {
  const bed = await startComputeTestbed();
  s = bed.s;
  member = await bed.seed.member('member');
  other = await bed.seed.member('member');
  projectId = rawId(member.projectId);
  await createFlavor(s, { name: flavor, vcpus: 2, ramMib: 256, rootDiskGib: 1 });
}, 120_000);
afterAll(() => s?.stop());

const GRAPH = `query($id: ID!) { stack(id: $id) { id status statusReason outputs { key value }
  resources { edges { node { name type status physicalResourceId physicalResourceType
    physicalResource {
      __typename id
      ... on Server { name status stack { id } }
      ... on Network { name stack { id } }
      ... on Subnet { cidr }
    } } } } } }`;

describe('stack resources as graph edges', () => {
  let stackId: string;

  it('previewStack lists the three creates and their quota, writing nothing', async () => {
    const before = await sqlCount(s, 'select count(*) from stacks', []);
    const preview = await stackMutation(
      s,
      member.token,
      'previewStack',
      'PreviewStackInput',
      { name: 'graph', template: TEMPLATE, parameters: { flavor } },
      '... on PreviewStackSuccess { plan { resources { name type action } quota { resource amount project { id } } errors { path message } } }',
    );
    expect(preview.__typename).toBe('PreviewStackSuccess');
    const plan = preview.plan;
    expect(plan.errors).toEqual([]);
    expect(plan.resources.map((r: Json) => [r.name, r.action]).sort()).toEqual([
      ['net', 'CREATE'],
      ['server', 'CREATE'],
      ['subnet', 'CREATE'],
    ]);
    const quota = Object.fromEntries(plan.quota.map((q: Json) => [q.resource, q.amount]));
    expect(quota).toMatchObject({ instances: 1, cores: 2 });
    expect(plan.quota[0].project.id).toBe(member.projectId);
    expect(await sqlCount(s, 'select count(*) from stacks', [])).toBe(before);
  });

  it('a preview with an unknown flavor reports it by path', async () => {
    const preview = await stackMutation(
      s,
      member.token,
      'previewStack',
      'PreviewStackInput',
      { name: 'graph', template: TEMPLATE, parameters: { flavor: 'no-such-flavor' } },
      '... on PreviewStackSuccess { plan { errors { path message } } }',
    );
    expect(preview.__typename).toBe('PreviewStackSuccess');
    expect(preview.plan.errors).toEqual([
      {
        path: 'resources.server.properties.flavor',
        message: expect.stringContaining('no-such-flavor'),
      },
    ]);
  });

  it('creates; each resource leads to its node, and the nodes lead back to the stack', async () => {
    const created = await createStack(s, member.token, {
      name: 'graph',
      template: TEMPLATE,
      parameters: { flavor },
    });
    expect(created.__typename).toBe('CreateStackSuccess');
    stackId = created.stack.id;
    const done = await waitForStack(
      s,
      member.token!,
      stackId,
      settled,
      'status statusReason',
      90_000,
    );
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'CREATE_COMPLETE' });

    const { stack } = await s.ok(GRAPH, { id: stackId }, member.token);
    const byName = Object.fromEntries(
      stack.resources.edges.map((e: Json) => [e.node.name, e.node]),
    );
    expect(byName.server.physicalResource).toMatchObject({
      __typename: 'Server',
      stack: { id: stackId },
    });
    expect(rawId(byName.server.physicalResource.id)).toBe(byName.server.physicalResourceId);
    expect(byName.server.physicalResourceType).toBe('Server');
    expect(byName.net.physicalResource).toMatchObject({
      __typename: 'Network',
      name: 'graph-net',
      stack: { id: stackId },
    });
    expect(byName.subnet.physicalResource).toMatchObject({
      __typename: 'Subnet',
      cidr: '10.88.0.0/24',
    });
    expect(stack.outputs).toEqual([{ key: 'server_id', value: byName.server.physicalResourceId }]);

    // The reverse edge from a list of servers (one batched lookup for the page).
    const { servers } = await s.ok(
      '{ servers { edges { node { id stack { id name status } } } } }',
      {},
      member.token,
    );
    expect(servers.edges.map((e: Json) => e.node.stack)).toEqual([
      { id: stackId, name: 'graph', status: 'CREATE_COMPLETE' },
    ]);
  });

  it("another project sees neither the stack nor the server's stack edge", async () => {
    const { stack } = await s.ok(GRAPH, { id: stackId }, other.token);
    expect(stack).toBeNull();
    const { servers } = await s.ok('{ servers { totalCount } }', {}, other.token);
    expect(servers.totalCount).toBe(0);
  });

  it('delete removes the server, subnet and network, and the stack rows', {
    timeout: 120_000,
  }, async () => {
    const result = await stackMutation(s, member.token, 'deleteStack', 'DeleteStackInput', {
      id: stackId,
    });
    expect(result.__typename).toBe('DeleteStackSuccess');
    const gone = await waitForStack(
      s,
      member.token!,
      stackId,
      (st) => st === null || st.status === 'DELETE_FAILED',
      'status statusReason',
      100_000,
    );
    expect(gone).toBeNull();
    expect(
      await sqlCount(
        s,
        "select count(*) from servers where project_id = $1 and vm_state <> 'deleted'",
        [projectId],
      ),
    ).toBe(0);
    expect(
      await sqlCount(s, 'select count(*) from networks where project_id = $1', [projectId]),
    ).toBe(0);
    expect(
      await sqlCount(s, 'select count(*) from subnets where project_id = $1', [projectId]),
    ).toBe(0);
    expect(await sqlCount(s, 'select count(*) from stack_resources', [])).toBe(0);
  });
});
