import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../resolvers/errors';
import { flavorPlugin } from '../../resolvers/stacks/resources/nova/flavor';
import { keypairPlugin } from '../../resolvers/stacks/resources/nova/keypair';
import { serverPlugin } from '../../resolvers/stacks/resources/nova/server';
import { serverGroupPlugin } from '../../resolvers/stacks/resources/nova/server-group';
import type {
  Progress,
  ResourceContext,
  ResourcePlugin,
  ResourceState,
} from '../../resolvers/stacks/resources/plugin';
import { resourceTypeSchema } from '../../resolvers/stacks/resources/registry';
import { parseTemplate } from '../../resolvers/stacks/template/index';
import { createNetwork, createSubnet, made } from '../network/networks-support';
import { createFlavor, emptyDisk, rawId, uploadImage } from '../support/compute';
import type { TestStratus } from '../support/harness';
import type { SeededUser } from '../support/seed';
import { sqlCount, startComputeTestbed, uniq } from '../support/servers';
import { createResource, deleteResource, pluginContext } from './plugin-support';

/**
 * The nova resource types driven as the engine drives them, against a real Stratus (fake
 * compute and network drivers): create -> attributes -> update -> delete, checked in the
 * database; bad properties are typed errors at the property path that create nothing.
 */

let s: TestStratus;
let member: SeededUser;
let admin: SeededUser;
let projectId: string;
const names = {
  small: uniq('small'),
  medium: uniq('medium'),
  image: uniq('disk-a'),
  other: uniq('disk-b'),
};
let networkName: string;
let networkId: string;
let subnetId: string;

async function sql<T = Record<string, unknown>>(
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  return (await s.stratus.runtime.pool.query(text, values)).rows as T[];
}

/** The field and message of a refused call, failing the test if it was not an InvalidInputError. */
async function refusal(run: Promise<unknown>): Promise<InvalidInputError> {
  const error = await run.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidInputError);
  return error as InvalidInputError;
}

async function until(check: () => Promise<Progress>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await check();
    if (p.done) return;
    if (Date.now() > deadline) throw new Error(`never done: ${p.reason}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** update, then checkUpdateComplete until done, with the data the engine would store. */
async function updateResource(
  plugin: ResourcePlugin,
  ctx: ResourceContext,
  state: ResourceState,
  props: Record<string, unknown>,
  changed: string[],
): Promise<'updated' | 'replace'> {
  const result = await plugin.update!(ctx, state, props, changed);
  if (result.kind === 'replace') return 'replace';
  if (result.data) state.data = result.data;
  state.properties = props;
  if (plugin.checkUpdateComplete) await until(() => plugin.checkUpdateComplete!(ctx, state));
  return 'updated';
}

const serverRows = () =>
  sqlCount(s, "select count(*) from servers where project_id = $1 and vm_state <> 'deleted'", [
    projectId,
  ]);
const portRows = () =>
  sqlCount(
    s,
    "select count(*) from ports where project_id = $1 and device_owner not like 'network:%'",
    [projectId],
  );

beforeAll(async () => {
  const bed = await startComputeTestbed();
  s = bed.s;
  member = await bed.seed.member('member');
  admin = await bed.seed.member('admin');
  projectId = rawId(member.projectId);
  await createFlavor(s, { name: names.small, vcpus: 1, ramMib: 128, rootDiskGib: 1 });
  await createFlavor(s, { name: names.medium, vcpus: 2, ramMib: 256, rootDiskGib: 1 });
  for (const name of [names.image, names.other]) {
    await uploadImage(
      s,
      s.adminToken,
      { name, diskFormat: 'raw', visibility: 'public' },
      emptyDisk(),
    );
  }
  networkName = uniq('net');
  const net = await createNetwork(s, member.token, { name: networkName });
  networkId = rawId(net.id);
  const subnet = await createSubnet(s, member.token, { networkId: net.id, cidr: '10.77.0.0/24' });
  subnetId = rawId(subnet.id);
}, 120_000);
afterAll(() => s?.stop());

describe('OS::Nova::KeyPair', () => {
  it('generates a key (private key kept with save_private_key), imports one, deletes both', async () => {
    const ctx = await pluginContext(s, member, 'key');
    const name = uniq('key');
    const generated = await createResource(keypairPlugin, ctx, { name, save_private_key: true });
    expect(await keypairPlugin.attribute(ctx, generated, 'public_key')).toMatch(/^ssh-ed25519 /);
    expect(await keypairPlugin.attribute(ctx, generated, 'private_key')).toMatch(
      /BEGIN OPENSSH PRIVATE KEY/,
    );
    expect(await keypairPlugin.attribute(ctx, generated, 'show')).toMatchObject({
      name,
      type: 'ssh',
    });
    const publicKey = (await keypairPlugin.attribute(ctx, generated, 'public_key')) as string;

    const ctx2 = await pluginContext(s, member, 'imported');
    const imported = await createResource(keypairPlugin, ctx2, {
      name: uniq('imp'),
      public_key: publicKey,
    });
    expect(await keypairPlugin.attribute(ctx2, imported, 'private_key')).toBe('');
    expect(await keypairPlugin.attribute(ctx2, imported, 'public_key')).toBe(publicKey);

    const bad = await refusal(
      keypairPlugin.create(ctx2, { name: uniq('bad'), public_key: 'ssh-rsa not-a-key' }),
    );
    expect(bad.field).toBe('resources.imported.properties.public_key');

    await deleteResource(keypairPlugin, ctx, generated);
    await deleteResource(keypairPlugin, ctx2, imported);
    await deleteResource(keypairPlugin, ctx2, imported); // already gone: still success
    expect(
      await sqlCount(s, 'select count(*) from keypairs where user_id = $1', [rawId(member.userId)]),
    ).toBe(0);
  });
});

describe('OS::Nova::Server', () => {
  it('builds on a network with a keypair, user data and metadata; resizes, rebuilds, renames in place; REPLACE asks for a new one; delete frees everything', async () => {
    const keyCtx = await pluginContext(s, member, 'key');
    const keyName = uniq('srv-key');
    const key = await createResource(keypairPlugin, keyCtx, { name: keyName });
    const ctx = await pluginContext(s, member, 'server');
    const props = {
      flavor: names.small,
      image: names.image,
      key_name: keyName,
      networks: [{ network: networkName }],
      user_data: '#!/bin/sh\necho hello from the stack\n',
      user_data_format: 'RAW',
      metadata: { role: 'web', weight: 3 },
    };
    await serverPlugin.validate!(ctx, props);
    expect(serverPlugin.quota!(props)).toEqual([
      { resource: 'instances', amount: 1 },
      { resource: 'cores', amount: 1 },
      { resource: 'ram_mib', amount: 128 },
      { resource: 'ports', amount: 1 },
    ]);
    const state = await createResource(serverPlugin, ctx, props);
    const id = state.physicalId!;
    const [row] = await sql<Record<string, unknown>>('select * from servers where id = $1', [id]);
    expect(row).toMatchObject({
      name: ctx.physicalName,
      vm_state: 'active',
      key_name: keyName,
      user_data: props.user_data,
      metadata: { role: 'web', weight: '3' },
    });

    const first = (await serverPlugin.attribute(ctx, state, 'first_address')) as string;
    expect(first).toMatch(/^10\.77\.0\.\d+$/);
    expect(await serverPlugin.attribute(ctx, state, 'networks')).toEqual({
      [networkName]: [first],
      [networkId]: [first],
    });
    expect(await serverPlugin.attribute(ctx, state, 'addresses')).toEqual({
      [networkName]: [
        expect.objectContaining({ addr: first, version: 4, 'OS-EXT-IPS:type': 'fixed' }),
      ],
    });
    expect(await serverPlugin.attribute(ctx, state, 'name')).toBe(ctx.physicalName);
    expect(await serverPlugin.attribute(ctx, state, 'instance_name')).toBe(id);
    expect(await serverPlugin.attribute(ctx, state, 'show')).toMatchObject({
      id,
      status: 'ACTIVE',
      key_name: keyName,
      flavor: { original_name: names.small, vcpus: 1, ram: 128 },
    });

    // In place: name and metadata.
    const renamed = { ...props, name: 'web-1', metadata: { role: 'db' } };
    expect(await updateResource(serverPlugin, ctx, state, renamed, ['name', 'metadata'])).toBe(
      'updated',
    );
    expect((await sql('select name, metadata from servers where id = $1', [id]))[0]).toEqual({
      name: 'web-1',
      metadata: { role: 'db' },
    });

    // flavor under RESIZE: resized and confirmed, same server.
    const bigger = { ...renamed, flavor: names.medium };
    expect(await updateResource(serverPlugin, ctx, state, bigger, ['flavor'])).toBe('updated');
    const [resized] = await sql<{ vm_state: string; flavor: { name: string; vcpus: number } }>(
      'select vm_state, flavor from servers where id = $1',
      [id],
    );
    expect(resized.vm_state).toBe('active');
    expect(resized.flavor).toMatchObject({ name: names.medium, vcpus: 2 });

    // image under REBUILD: same server, new image.
    const otherImage = rawId(
      (
        await s.ok(
          `{ images(filter: { name: "${names.other}" }) { edges { node { id } } } }`,
          {},
          member.token,
        )
      ).images.edges[0].node.id,
    );
    const rebuilt = { ...bigger, image: names.other };
    expect(await updateResource(serverPlugin, ctx, state, rebuilt, ['image'])).toBe('updated');
    expect((await sql('select image_id, vm_state from servers where id = $1', [id]))[0]).toEqual({
      image_id: otherImage,
      vm_state: 'active',
    });

    // image under REPLACE, flavor under REPLACE, user_data (default REPLACE): a new server.
    const before = await sql('select * from servers where id = $1', [id]);
    expect(
      await updateResource(
        serverPlugin,
        ctx,
        state,
        { ...rebuilt, image: names.image, image_update_policy: 'REPLACE' },
        ['image', 'image_update_policy'],
      ),
    ).toBe('replace');
    expect(
      await updateResource(
        serverPlugin,
        ctx,
        state,
        { ...rebuilt, flavor: names.small, flavor_update_policy: 'REPLACE' },
        ['flavor', 'flavor_update_policy'],
      ),
    ).toBe('replace');
    expect(
      await updateResource(serverPlugin, ctx, state, { ...rebuilt, user_data: 'x' }, ['user_data']),
    ).toBe('replace');
    expect(await sql('select * from servers where id = $1', [id])).toEqual(before);
    // What a preview asks without calling update.
    expect(serverPlugin.updateReplaces!(state, { ...rebuilt, user_data: 'x' }, ['user_data'])).toBe(
      true,
    );
    expect(
      serverPlugin.updateReplaces!(state, { ...rebuilt, flavor: names.small }, ['flavor']),
    ).toBe(false);

    await deleteResource(serverPlugin, ctx, state);
    expect((await sql('select vm_state from servers where id = $1', [id]))[0]).toEqual({
      vm_state: 'deleted',
    });
    expect(await portRows()).toBe(0);
    expect(await serverRows()).toBe(0);
    await deleteResource(serverPlugin, ctx, state); // already gone: success
    await deleteResource(keypairPlugin, keyCtx, key);
  });

  it('a subnet or security groups make an internal port, deleted with the server', async () => {
    const group = await made(
      s,
      member.token,
      'createSecurityGroup',
      { name: uniq('sg') },
      'securityGroup',
      'id name',
    );
    const ctx = await pluginContext(s, member, 'web');
    const state = await createResource(serverPlugin, ctx, {
      flavor: names.small,
      image: names.image,
      security_groups: [group.name],
      networks: [{ subnet: subnetId, fixed_ip: '10.77.0.50' }],
    });
    const ports = await sql<{ id: string; device_id: string; created_for_server: boolean }>(
      "select id, device_id, created_for_server from ports where project_id = $1 and device_owner not like 'network:%'",
      [projectId],
    );
    expect(ports).toEqual([
      {
        id: (state.data.internalPorts as string[])[0],
        device_id: state.physicalId,
        created_for_server: false,
      },
    ]);
    expect(await serverPlugin.attribute(ctx, state, 'first_address')).toBe('10.77.0.50');
    const groups = await sql(
      'select security_group_id from port_security_groups where port_id = $1',
      [ports[0].id],
    );
    expect(groups).toEqual([{ security_group_id: rawId(group.id) }]);
    await deleteResource(serverPlugin, ctx, state);
    expect(await portRows()).toBe(0);
    expect(await serverRows()).toBe(0);
  });

  it('bad flavor, image, network, key or policy: a typed error at the property path, nothing created', async () => {
    const ctx = await pluginContext(s, member, 'srv');
    const good = { flavor: names.small, image: names.image, networks: [{ network: networkName }] };
    const quotaBefore = await sql(
      'select resource, in_use from quota_usage where project_id = $1 order by resource',
      [projectId],
    );
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...good, flavor: 'no-such-flavor' }, 'resources.srv.properties.flavor'],
      [{ ...good, image: 'no-such-image' }, 'resources.srv.properties.image'],
      [
        { ...good, networks: [{ network: 'no-such-net' }] },
        'resources.srv.properties.networks.0.network',
      ],
      [
        { ...good, networks: [{ network: networkName, fixed_ip: '10.99.0.5' }] },
        'resources.srv.properties.networks.0.fixed_ip',
      ],
      [{ ...good, key_name: 'no-such-key' }, 'resources.srv.properties.key_name'],
      [
        { ...good, security_groups: ['no-such-group'] },
        'resources.srv.properties.security_groups.0',
      ],
      [
        { ...good, flavor_update_policy: 'SOMETIMES' },
        'resources.srv.properties.flavor_update_policy',
      ],
      [
        { ...good, networks: [{ network: networkName, port_extra_properties: {} }] },
        'resources.srv.properties.networks.0.port_extra_properties',
      ],
    ];
    for (const [props, field] of cases) {
      const created = await refusal(serverPlugin.create(ctx, props));
      expect(created.field, JSON.stringify(props)).toBe(field);
      expect(created.message).toContain(field);
      if (!field.endsWith('fixed_ip')) {
        // validate (preview) tells the same, without writing; fixed IPs are checked by IPAM only.
        expect((await refusal(serverPlugin.validate!(ctx, props))).field).toBe(field);
      }
    }
    expect(await serverRows()).toBe(0);
    expect(await portRows()).toBe(0);
    expect(
      await sql(
        'select resource, in_use from quota_usage where project_id = $1 order by resource',
        [projectId],
      ),
    ).toEqual(quotaBefore);
  });
});

describe('OS::Nova::Flavor and OS::Nova::ServerGroup', () => {
  it('flavor: admin creates it, tenants grow in place, a size change replaces, delete removes it', async () => {
    const ctx = await pluginContext(s, admin, 'flavor');
    const props = {
      ram: 256,
      vcpus: 2,
      disk: 1,
      is_public: false,
      extra_specs: { 'hw:cpu_policy': 'shared' },
    };
    const state = await createResource(flavorPlugin, ctx, props);
    expect(await flavorPlugin.attribute(ctx, state, 'is_public')).toBe(false);
    expect(await flavorPlugin.attribute(ctx, state, 'extra_specs')).toEqual({
      'hw:cpu_policy': 'shared',
    });
    expect(await flavorPlugin.attribute(ctx, state, 'show')).toMatchObject({
      name: ctx.physicalName,
      ram: 256,
      vcpus: 2,
      disk: 1,
      tenants: [],
    });
    const withTenant = { ...props, tenants: [projectId] };
    expect(await updateResource(flavorPlugin, ctx, state, withTenant, ['tenants'])).toBe('updated');
    expect(
      await sqlCount(s, 'select count(*) from flavor_access where flavor_id = $1', [
        state.physicalId,
      ]),
    ).toBe(1);
    expect(
      await updateResource(flavorPlugin, ctx, state, { ...withTenant, ram: 512 }, ['ram']),
    ).toBe('replace');

    const memberCtx = await pluginContext(s, member, 'flavor');
    const forbidden = await flavorPlugin.create(memberCtx, props).then(
      () => null,
      (e: Error) => e,
    );
    expect(forbidden?.name).toBe('ForbiddenError');
    const badRam = await refusal(flavorPlugin.create(ctx, { ...props, ram: 1 }));
    expect(badRam.field).toBe('resources.flavor.properties.ram');

    await deleteResource(flavorPlugin, ctx, state);
    await deleteResource(flavorPlugin, ctx, state);
    expect(
      await sqlCount(s, 'select count(*) from flavors where id = $1', [state.physicalId]),
    ).toBe(0);
  });

  it('server group: one policy, show lists members, delete removes it', async () => {
    const ctx = await pluginContext(s, member, 'group');
    const state = await createResource(serverGroupPlugin, ctx, { policies: ['affinity'] });
    expect(await serverGroupPlugin.attribute(ctx, state, 'show')).toMatchObject({
      name: ctx.physicalName,
      policies: ['affinity'],
      members: [],
    });
    const serverCtx = await pluginContext(s, member, 'member');
    const server = await createResource(serverPlugin, serverCtx, {
      flavor: names.small,
      image: names.image,
      scheduler_hints: { group: state.physicalId },
    });
    expect(await serverGroupPlugin.attribute(ctx, state, 'show')).toMatchObject({
      members: [server.physicalId],
    });
    await deleteResource(serverPlugin, serverCtx, server);
    expect((await refusal(serverGroupPlugin.create(ctx, { policies: ['sometimes'] }))).field).toBe(
      'resources.group.properties.policies.0',
    );
    expect(
      (await refusal(serverGroupPlugin.create(ctx, { policies: ['affinity', 'anti-affinity'] })))
        .field,
    ).toBe('resources.group.properties.policies');
    await deleteResource(serverGroupPlugin, ctx, state);
    expect(
      await sqlCount(s, 'select count(*) from server_groups where project_id = $1', [projectId]),
    ).toBe(0);
  });
});

describe('the nova and glance types in a template', () => {
  const TEMPLATE = (props: string, attr = 'first_address') => `heat_template_version: 2018-08-31
resources:
  key:
    type: OS::Nova::KeyPair
    properties: { name: k }
  image:
    type: OS::Glance::WebImage
    properties: { disk_format: raw, container_format: bare }
  server:
    type: OS::Nova::Server
    properties:
      flavor: f
      image: { get_resource: image }
      key_name: { get_resource: key }
${props}
outputs:
  ip: { value: { get_attr: [server, ${attr}] } }
`;

  it("parses against the registry's schemas: Heat's names pass, others are refused at their path", async () => {
    const ok = await parseTemplate(
      TEMPLATE(
        '      networks: [{ network: n, fixed_ip: 10.0.0.5 }]\n      user_data_format: RAW\n      flavor_update_policy: RESIZE',
      ),
      { resourceTypes: resourceTypeSchema },
    );
    expect(ok.graph.levels).toEqual([['image', 'key'], ['server']]);
    await expect(
      parseTemplate(TEMPLATE('      flavour: x'), { resourceTypes: resourceTypeSchema }),
    ).rejects.toMatchObject({ path: 'resources.server.properties.flavour' });
    await expect(
      parseTemplate(TEMPLATE('', 'console_urls'), { resourceTypes: resourceTypeSchema }),
    ).rejects.toThrow(/console_urls/);
  });

  it('validate checks only what is known before other resources exist (image and key from the stack)', async () => {
    const ctx = await pluginContext(s, member, 'server');
    // image and key_name name other resources: the engine leaves them out of validate.
    await serverPlugin.validate!(ctx, {
      flavor: names.small,
      networks: [{ network: networkName }],
    });
    expect(
      (await refusal(serverPlugin.validate!(ctx, { flavor: 'nope', networks: [] }))).field,
    ).toBe('resources.server.properties.flavor');
    await keypairPlugin.validate!(ctx, {});
  });
});
