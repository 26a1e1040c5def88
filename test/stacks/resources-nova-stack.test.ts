import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetwork, createSubnet } from '../network/networks-support';
import { createFlavor, emptyDisk, rawId, uploadImage } from '../support/compute';
import type { Json, TestStratus } from '../support/harness';
import type { SeededUser } from '../support/seed';
import { sqlCount, startComputeTestbed, uniq } from '../support/servers';
import { createStack, settled, stackCounts, stackMutation, waitForStack } from './api-support';

/**
 * The nova types through the whole stack path (createStack, updateStack, deleteStack on the
 * real server and engine, fake compute and network drivers): a keypair, a server group and a
 * server on a network with user data come up and give their outputs; the flavor resizes and
 * the image rebuilds the same server in place, image_update_policy REPLACE makes a new one;
 * the delete leaves no server, port, keypair or group; a bad flavor name is refused at its
 * property path with nothing created.
 */

let s: TestStratus;
let member: SeededUser;
const small = uniq('small');
const medium = uniq('medium');
const otherImage = uniq('disk-b');
let netName: string;

beforeAll(async () => {
  const bed = await startComputeTestbed();
  s = bed.s;
  member = await bed.seed.member('member');
  await createFlavor(s, { name: small, vcpus: 1, ramMib: 128, rootDiskGib: 1 });
  await createFlavor(s, { name: medium, vcpus: 2, ramMib: 256, rootDiskGib: 1 });
  await uploadImage(
    s,
    s.adminToken,
    { name: otherImage, diskFormat: 'raw', visibility: 'public' },
    emptyDisk(),
  );
  netName = uniq('net');
  const net = await createNetwork(s, member.token, { name: netName });
  await createSubnet(s, member.token, { networkId: net.id, cidr: '10.79.0.0/24' });
}, 120_000);
afterAll(() => s?.stop());

const template = `heat_template_version: 2018-08-31
parameters:
  flavor: {type: string}
  image: {type: string, default: public-disk}
  image_policy: {type: string, default: REBUILD}
  net: {type: string}
resources:
  key:
    type: OS::Nova::KeyPair
    properties: {name: {list_join: ['-', [{get_param: 'OS::stack_name'}, key]]}, save_private_key: true}
  boot_script:
    type: OS::Heat::SoftwareConfig
    properties:
      group: ungrouped
      config: |
        #!/bin/sh
        echo made by a stack
  group:
    type: OS::Nova::ServerGroup
    # soft: one fake host, and a REPLACE makes the new server before the old one goes.
    properties: {policies: [soft-anti-affinity]}
  server:
    type: OS::Nova::Server
    properties:
      flavor: {get_param: flavor}
      image: {get_param: image}
      image_update_policy: {get_param: image_policy}
      key_name: {get_resource: key}
      networks: [{network: {get_param: net}}]
      user_data_format: SOFTWARE_CONFIG
      user_data: {get_resource: boot_script}
      metadata: {tier: web}
      scheduler_hints: {group: {get_resource: group}}
outputs:
  ip: {value: {get_attr: [server, first_address]}}
  private_key: {value: {get_attr: [key, private_key]}}
  flavor: {value: {get_attr: [server, show, flavor, original_name]}}
  members: {value: {get_attr: [group, show, members]}}
`;

const VIEW = `id status statusReason outputs { key value error }
  resources { edges { node { name status physicalResourceId } } }`;

const outputsOf = (stack: Json) =>
  Object.fromEntries(stack.outputs.map((o: Json) => [o.key, o.value]));
const physicalIds = (stack: Json) =>
  Object.fromEntries(
    stack.resources.edges.map((e: Json) => [e.node.name, e.node.physicalResourceId]),
  );

async function rows() {
  const project = rawId(member.projectId);
  return {
    servers: await sqlCount(
      s,
      "select count(*) from servers where project_id = $1 and vm_state <> 'deleted'",
      [project],
    ),
    ports: await sqlCount(
      s,
      "select count(*) from ports where project_id = $1 and device_owner not like 'network:%'",
      [project],
    ),
    keypairs: await sqlCount(s, 'select count(*) from keypairs where user_id = $1', [
      rawId(member.userId),
    ]),
    groups: await sqlCount(s, 'select count(*) from server_groups where project_id = $1', [
      project,
    ]),
  };
}

async function update(id: string, parameters: Record<string, unknown>): Promise<Json> {
  const updated = await stackMutation(s, member.token, 'updateStack', 'UpdateStackInput', {
    id,
    template,
    parameters,
  });
  expect(updated.__typename, JSON.stringify(updated)).toBe('UpdateStackSuccess');
  const after = await waitForStack(s, member.token!, id, settled, VIEW, 90_000);
  expect(after!.status, after!.statusReason).toBe('UPDATE_COMPLETE');
  return after!;
}

describe('a nova stack', () => {
  it('creates, resizes and rebuilds in place, replaces under REPLACE, deletes leaving nothing', async () => {
    const params = { flavor: small, net: netName };
    const created = await createStack(s, member.token, {
      name: 'web',
      template,
      parameters: params,
    });
    expect(created.__typename, JSON.stringify(created)).toBe('CreateStackSuccess');
    const id = created.stack.id;
    const done = await waitForStack(s, member.token!, id, settled, VIEW, 90_000);
    expect(done!.status, done!.statusReason).toBe('CREATE_COMPLETE');
    const out = outputsOf(done!);
    const ids = physicalIds(done!);
    expect(out.ip).toMatch(/^10\.79\.0\.\d+$/);
    expect(out.private_key).toMatch(/BEGIN OPENSSH PRIVATE KEY/);
    expect(out.flavor).toBe(small);
    expect(out.members).toEqual([ids.server]);
    const [server] = (
      await s.stratus.runtime.pool.query(
        'select name, key_name, user_data, metadata, server_group_id from servers where id = $1',
        [ids.server],
      )
    ).rows;
    expect(server).toEqual({
      name: expect.stringMatching(/^web-server-/),
      key_name: 'web-key',
      user_data: '#!/bin/sh\necho made by a stack\n',
      metadata: { tier: 'web' },
      server_group_id: ids.group,
    });

    // Resize (confirmed) and rebuild: the same server.
    const resized = await update(id, { ...params, flavor: medium, image: otherImage });
    expect(physicalIds(resized)).toEqual(ids);
    expect(outputsOf(resized).flavor).toBe(medium);
    const { rows: image } = await s.stratus.runtime.pool.query(
      'select i.name from servers s join images i on i.id = s.image_id where s.id = $1',
      [ids.server],
    );
    expect(image).toEqual([{ name: otherImage }]);

    // image_update_policy REPLACE: a new server; the old one is deleted.
    const replaced = await update(id, {
      ...params,
      flavor: medium,
      image: 'public-disk',
      image_policy: 'REPLACE',
    });
    const newIds = physicalIds(replaced);
    expect(newIds.server).not.toBe(ids.server);
    expect(newIds.key).toBe(ids.key);
    expect(
      (
        await s.stratus.runtime.pool.query('select vm_state from servers where id = $1', [
          ids.server,
        ])
      ).rows,
    ).toEqual([{ vm_state: 'deleted' }]);
    expect(await rows()).toEqual({ servers: 1, ports: 1, keypairs: 1, groups: 1 });

    const deleted = await stackMutation(s, member.token, 'deleteStack', 'DeleteStackInput', { id });
    expect(deleted.__typename, JSON.stringify(deleted)).toBe('DeleteStackSuccess');
    await waitForStack(s, member.token!, id, (st) => st === null, 'id status', 90_000);
    expect(await rows()).toEqual({ servers: 0, ports: 0, keypairs: 0, groups: 0 });
  });

  it('refuses an unknown flavor name at its property path, creating nothing', async () => {
    const before = { rows: await rows(), stacks: await stackCounts(s) };
    const refused = await createStack(s, member.token, {
      name: 'bad-flavor',
      template,
      parameters: { flavor: 'no-such-flavor', net: netName },
    });
    expect(refused).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'resources.server.properties.flavor',
    });
    expect({ rows: await rows(), stacks: await stackCounts(s) }).toEqual(before);
  });
});

describe('a glance + nova stack', () => {
  it('imports an image from a Stratus image URL and boots a server from it; delete removes both', async () => {
    const { rows: source } = await s.stratus.runtime.pool.query(
      "select id from images where name = 'public-disk'",
    );
    const created = await createStack(s, member.token, {
      name: 'imaged',
      template: `heat_template_version: 2018-08-31
resources:
  image:
    type: OS::Glance::WebImage
    properties:
      disk_format: raw
      container_format: bare
      location: ${s.url}/v2/images/${source[0].id}/file
  server:
    type: OS::Nova::Server
    properties: {flavor: ${small}, image: {get_resource: image}}
outputs:
  image: {value: {get_attr: [image, show, status]}}
`,
    });
    expect(created.__typename, JSON.stringify(created)).toBe('CreateStackSuccess');
    const id = created.stack.id;
    const done = await waitForStack(s, member.token!, id, settled, VIEW, 90_000);
    expect(done!.status, done!.statusReason).toBe('CREATE_COMPLETE');
    const ids = physicalIds(done!);
    expect(outputsOf(done!).image).toBe('active');
    const { rows: server } = await s.stratus.runtime.pool.query(
      'select image_id, vm_state from servers where id = $1',
      [ids.server],
    );
    expect(server).toEqual([{ image_id: ids.image, vm_state: 'active' }]);

    const deleted = await stackMutation(s, member.token, 'deleteStack', 'DeleteStackInput', { id });
    expect(deleted.__typename, JSON.stringify(deleted)).toBe('DeleteStackSuccess');
    await waitForStack(s, member.token!, id, (st) => st === null, 'id status', 90_000);
    const { rows: image } = await s.stratus.runtime.pool.query(
      'select status from images where id = $1',
      [ids.image],
    );
    expect(image).toEqual([{ status: 'deleted' }]);
    expect(await rows()).toEqual({ servers: 0, ports: 0, keypairs: 0, groups: 0 });
  });
});
