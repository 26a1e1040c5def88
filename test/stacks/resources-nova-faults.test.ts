import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverPlugin } from '../../resolvers/stacks/resources/nova/server';
import { ServerFailedError } from '../../resolvers/stacks/resources/nova/server-show';
import { loadConfig } from '../../server/config';
import { createNetwork, createSubnet, made } from '../network/networks-support';
import { createFlavor, emptyDisk, rawId, uploadImage } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { sqlCount, uniq } from '../support/servers';
import { createResource, deleteResource, pluginContext } from './plugin-support';

/**
 * OS::Nova::Server where the domain does more, or fails: a build that ends in ERROR and a
 * resize that fails (injected into the fake compute driver) fail the resource with the
 * server's fault; a floating IP is associated once ACTIVE; a volume-backed server from
 * block_device_mapping_v2 (real qemu-img volumes) and its volume are deleted together.
 */

let s: TestStratus;
let member: SeededUser;
let projectId: string;
const small = uniq('small');
const medium = uniq('medium');
const image = uniq('disk');
const imageDirs: string[] = [];

async function sql(text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  return (await s.stratus.runtime.pool.query(text, values)).rows;
}

/** A Stratus whose fake compute driver fails as told (the knobs apply to every server). */
async function stratusFailing(driverConfig: Record<string, boolean>): Promise<TestStratus> {
  const imageCacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-image-cache-'));
  imageDirs.push(imageCacheDir);
  const started = await startTestStratus({
    compute: {
      ...loadConfig({}).compute,
      driver: 'fake',
      driverConfig,
      imageCacheDir,
      shutdownTimeoutMs: 5_000,
    },
  });
  await createFlavor(started, { name: small, vcpus: 1, ramMib: 128, rootDiskGib: 1 });
  await createFlavor(started, { name: medium, vcpus: 2, ramMib: 256, rootDiskGib: 1 });
  await uploadImage(
    started,
    started.adminToken,
    { name: image, diskFormat: 'raw', visibility: 'public' },
    emptyDisk(),
  );
  return started;
}

beforeAll(async () => {
  s = await stratusFailing({ failResize: true });
  member = await new Seed(s).member('member');
  projectId = rawId(member.projectId);
}, 120_000);
afterAll(async () => {
  await s?.stop();
  for (const dir of imageDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('OS::Nova::Server failures', () => {
  it('a build ending in ERROR fails the resource with the fault; delete still cleans up', async () => {
    const failing = await stratusFailing({ failSpawn: true });
    try {
      const owner = await new Seed(failing).member('member');
      const ctx = await pluginContext(failing, owner, 'doomed');
      const error = await createResource(serverPlugin, ctx, { flavor: small, image }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ServerFailedError);
      expect((error as Error).message).toMatch(
        /went to ERROR while building: Build of the server failed \(code 500\)/,
      );
      const { rows } = await failing.stratus.runtime.pool.query(
        "select id from servers where project_id = $1 and vm_state = 'error'",
        [rawId(owner.projectId)],
      );
      expect(rows).toHaveLength(1);
      await deleteResource(serverPlugin, ctx, { physicalId: rows[0].id, properties: {}, data: {} });
      expect(
        await sqlCount(
          failing,
          "select count(*) from servers where project_id = $1 and vm_state <> 'deleted'",
          [rawId(owner.projectId)],
        ),
      ).toBe(0);
    } finally {
      await failing.stop();
    }
  });

  it('a failed resize fails the update; the server keeps its flavor', async () => {
    const ctx = await pluginContext(s, member, 'resized');
    const props = { flavor: small, image };
    const state = await createResource(serverPlugin, ctx, props);
    const result = await serverPlugin.update!(ctx, state, { ...props, flavor: medium }, ['flavor']);
    expect(result.kind).toBe('updated');
    if (result.kind === 'updated' && result.data) state.data = result.data;
    const deadline = Date.now() + 60_000;
    let failure: unknown = null;
    while (!failure && Date.now() < deadline) {
      failure = await serverPlugin.checkUpdateComplete!(ctx, state).then(
        () => null,
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(failure).toBeInstanceOf(ServerFailedError);
    const [row] = await sql('select vm_state, flavor from servers where id = $1', [
      state.physicalId,
    ]);
    expect(row.flavor).toMatchObject({ name: small });
    await deleteResource(serverPlugin, ctx, state);
  });
});

describe('OS::Nova::Server resize then rebuild', () => {
  it('a rebuild failing after the confirmed resize fails the update once, not in a loop', async () => {
    const failing = await stratusFailing({ failRebuild: true });
    try {
      const owner = await new Seed(failing).member('member');
      const ctx = await pluginContext(failing, owner, 'both');
      const props = { flavor: small, image };
      const state = await createResource(serverPlugin, ctx, props);
      const other = await uploadImage(
        failing,
        failing.adminToken,
        { name: uniq('other'), diskFormat: 'raw', visibility: 'public' },
        emptyDisk(),
      );
      const result = await serverPlugin.update!(
        ctx,
        state,
        { flavor: medium, image: rawId(other) },
        ['flavor', 'image'],
      );
      if (result.kind === 'updated' && result.data) state.data = result.data;
      const deadline = Date.now() + 60_000;
      let failure: unknown = null;
      while (!failure && Date.now() < deadline) {
        failure = await serverPlugin.checkUpdateComplete!(ctx, state).then(
          () => null,
          (e: unknown) => e,
        );
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(failure).toBeInstanceOf(ServerFailedError);
      expect((failure as Error).message).toMatch(/was not rebuilt from image/);
      const { rows } = await failing.stratus.runtime.pool.query(
        "select action from instance_actions where server_id = $1 and action = 'rebuild'",
        [state.physicalId],
      );
      expect(rows).toHaveLength(1);
      const { rows: server } = await failing.stratus.runtime.pool.query(
        'select flavor from servers where id = $1',
        [state.physicalId],
      );
      expect(server[0].flavor).toMatchObject({ name: medium });
      await deleteResource(serverPlugin, ctx, state);
    } finally {
      await failing.stop();
    }
  });
});

describe('OS::Nova::Server networking and volumes', () => {
  it('associates a floating IP with the port of its networks entry once ACTIVE', async () => {
    const external = await createNetwork(s, s.adminToken, { name: uniq('public'), external: true });
    await createSubnet(s, s.adminToken, {
      networkId: external.id,
      cidr: '203.0.113.0/24',
      enableDhcp: false,
    });
    const net = await createNetwork(s, member.token, { name: uniq('net') });
    const subnet = await createSubnet(s, member.token, { networkId: net.id, cidr: '10.78.0.0/24' });
    const router = await made(
      s,
      member.token,
      'createRouter',
      { name: 'r', externalGatewayInfo: { networkId: external.id } },
      'router',
    );
    await made(
      s,
      member.token,
      'addRouterInterface',
      { routerId: router.id, subnetId: subnet.id },
      'routerInterface',
      'port { id }',
    );
    const fip = await made(
      s,
      member.token,
      'createFloatingIp',
      { floatingNetworkId: external.id },
      'floatingIp',
      'id floatingIpAddress',
    );

    const ctx = await pluginContext(s, member, 'web');
    const state = await createResource(serverPlugin, ctx, {
      flavor: small,
      image,
      networks: [{ network: rawId(net.id), floating_ip: rawId(fip.id) }],
    });
    const [port] = await sql('select id from ports where device_id = $1', [state.physicalId]);
    expect(
      (await sql('select port_id from floating_ips where id = $1', [rawId(fip.id)]))[0],
    ).toEqual({
      port_id: port.id,
    });
    const addresses = (await serverPlugin.attribute(ctx, state, 'addresses')) as Record<
      string,
      Array<Record<string, unknown>>
    >;
    expect(Object.values(addresses)[0].map((a) => a['OS-EXT-IPS:type'])).toEqual([
      'fixed',
      'floating',
    ]);
    expect(Object.values(addresses)[0][1].addr).toBe(fip.floatingIpAddress);

    await deleteResource(serverPlugin, ctx, state);
    // The address stays the project's, free again (as Nova + Neutron leave it).
    expect(
      (await sql('select port_id from floating_ips where id = $1', [rawId(fip.id)]))[0],
    ).toEqual({
      port_id: null,
    });
  });

  it('boots from a volume made from an image; delete_on_termination deletes it with the server', async () => {
    const ctx = await pluginContext(s, member, 'vm');
    const state = await createResource(
      serverPlugin,
      ctx,
      {
        flavor: small,
        block_device_mapping_v2: [
          { image, volume_size: 1, boot_index: 0, delete_on_termination: true },
        ],
      },
      120_000,
    );
    const [row] = await sql('select image_id, vm_state from servers where id = $1', [
      state.physicalId,
    ]);
    expect(row).toEqual({ image_id: null, vm_state: 'active' });
    const volumes = await sql('select id, status from volumes where project_id = $1', [projectId]);
    expect(volumes).toEqual([{ id: expect.any(String), status: 'in-use' }]);
    expect(
      (await serverPlugin.attribute(ctx, state, 'show')) as Record<string, unknown>,
    ).toMatchObject({ image: '', status: 'ACTIVE' });

    const bad = await serverPlugin
      .create(ctx, {
        flavor: small,
        block_device_mapping_v2: [{ volume_id: 'no-such-volume' }],
      })
      .then(
        () => null,
        (e: { field?: string }) => e.field,
      );
    expect(bad).toBe('resources.vm.properties.block_device_mapping_v2.0.volume_id');
    const badV1 = await serverPlugin
      .create(ctx, {
        flavor: small,
        block_device_mapping: [{ device_name: 'vda', volume_id: 'no-such-volume' }],
      })
      .then(
        () => null,
        (e: { field?: string }) => e.field,
      );
    expect(badV1).toBe('resources.vm.properties.block_device_mapping.0.volume_id');

    await deleteResource(serverPlugin, ctx, state, 120_000);
    await expect
      .poll(
        async () => sqlCount(s, 'select count(*) from volumes where project_id = $1', [projectId]),
        { timeout: 60_000 },
      )
      .toBe(0);
  });
});
