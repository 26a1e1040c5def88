import fs from 'node:fs';
import path from 'node:path';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../resolvers/errors';
import { ResourceFailedError } from '../../resolvers/stacks/resources/cinder/props';
import { cinderVolume } from '../../resolvers/stacks/resources/cinder/volume';
import { cinderVolumeAttachment } from '../../resolvers/stacks/resources/cinder/volume-attachment';
import type { ResourceContext, ResourceState } from '../../resolvers/stacks/resources/plugin';
import { rawId } from '../support/compute';
import type { TestStratus } from '../support/harness';
import type { Seed, SeededUser } from '../support/seed';
import {
  activeServer,
  deleteAndWait,
  quotaInUse,
  sqlCount,
  startComputeTestbed,
} from '../support/servers';
import {
  availableSnapshot,
  backendFiles,
  getVolume,
  imageInfo,
  volumeFile,
} from '../volume/volumes-support';
import { createResource, deleteResource, pluginContext } from './plugin-support';

/**
 * OS::Cinder::Volume and OS::Cinder::VolumeAttachment driven against a real Stratus (fake
 * compute driver, the file volume driver's real qcow2 files), as the engine drives them.
 */

let s: TestStratus;
let seed: Seed;
let alice: SeededUser;
let token: string;
let imageId: string;
let flavorId: string;

beforeAll(async () => {
  ({ s, seed, imageId, flavorId } = await startComputeTestbed());
  alice = await seed.member('member');
  token = alice.token!;
});
afterAll(() => s?.stop());

const gid = (id: string) => encodeGlobalID('Volume', id);
const projectVolumes = () =>
  sqlCount(s, 'select count(*) from volumes where project_id = $1', [rawId(alice.projectId)]);

/** Runs `fn`, expecting an InvalidInputError on `field`; returns its message. */
async function invalid(fn: () => Promise<unknown>, field: string): Promise<string> {
  const error = await fn().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as InvalidInputError).field).toBe(field);
  expect((error as Error).message).toContain(field);
  return (error as Error).message;
}

async function until(check: () => Promise<{ done: boolean }>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check()).done) {
    if (Date.now() > deadline) throw new Error('never completed');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('OS::Cinder::Volume', () => {
  it('creates, reads attributes, renames and grows, then deletes leaving nothing', async () => {
    const ctx = await pluginContext(s, alice, 'data');
    const props = { size: 1, name: 'data-vol', description: 'd', metadata: { tier: 'gold' } };
    await cinderVolume.validate!(ctx, props);
    expect(cinderVolume.quota!(props)).toEqual([
      { resource: 'volumes', amount: 1 },
      { resource: 'gigabytes', amount: 1 },
    ]);
    const state = await createResource(cinderVolume, ctx, props);
    const id = state.physicalId!;
    expect(await getVolume(s, token, gid(id))).toMatchObject({
      name: 'data-vol',
      status: 'AVAILABLE',
      sizeGib: 1,
    });
    const file = volumeFile(s, gid(id));
    expect(imageInfo(file).virtualSize).toBe(1024 ** 3);

    expect(await cinderVolume.attribute(ctx, state, 'size')).toBe(1);
    expect(await cinderVolume.attribute(ctx, state, 'status')).toBe('available');
    expect(await cinderVolume.attribute(ctx, state, 'display_name')).toBe('data-vol');
    expect(await cinderVolume.attribute(ctx, state, 'bootable')).toBe(false);
    expect(await cinderVolume.attribute(ctx, state, 'attachments_list')).toEqual([]);
    expect(await cinderVolume.attribute(ctx, state, 'metadata_values')).toEqual({ tier: 'gold' });
    expect(JSON.parse(String(await cinderVolume.attribute(ctx, state, 'metadata')))).toEqual({
      tier: 'gold',
    });
    expect(await cinderVolume.attribute(ctx, state, 'show')).toMatchObject({
      id,
      size: 1,
      status: 'available',
      volume_type: '__DEFAULT__',
    });

    // Shrinking and retyping are refused by property, and change nothing.
    await invalid(
      () => cinderVolume.update!(ctx, state, { ...props, size: 0 }, ['size']),
      'resources.data.properties.size',
    );
    await invalid(
      () =>
        cinderVolume.update!(ctx, state, { ...props, volume_type: 'no-such-type' }, [
          'volume_type',
        ]),
      'resources.data.properties.volume_type',
    );

    const next = { ...props, name: 'renamed', size: 2 };
    const updated = await cinderVolume.update!(ctx, state, next, ['name', 'size']);
    expect(updated.kind).toBe('updated');
    const after: ResourceState = {
      ...state,
      properties: next,
      data: (updated.kind === 'updated' && updated.data) || state.data,
    };
    await until(() => cinderVolume.checkUpdateComplete!(ctx, after));
    expect(await getVolume(s, token, gid(id))).toMatchObject({
      name: 'renamed',
      sizeGib: 2,
      status: 'AVAILABLE',
    });
    expect(imageInfo(file).virtualSize).toBe(2 * 1024 ** 3);

    await deleteResource(cinderVolume, ctx, after);
    expect(await projectVolumes()).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
    const quota = await quotaInUse(s, alice.projectId);
    expect(quota.volumes).toBe(0);
    expect(quota.gigabytes).toBe(0);
    // A second delete (the engine retrying) is success.
    await deleteResource(cinderVolume, ctx, after);
  });

  it('fills a volume from an image named by name: bootable', async () => {
    const ctx = await pluginContext(s, alice, 'boot');
    const state = await createResource(cinderVolume, ctx, { size: 1, image: 'public-disk' });
    expect(await cinderVolume.attribute(ctx, state, 'bootable')).toBe(true);
    expect(await cinderVolume.attribute(ctx, state, 'display_name')).toBe(ctx.physicalName);
    await deleteResource(cinderVolume, ctx, state);
    expect(await projectVolumes()).toBe(0);
  });

  it('a delete while the volume is still creating (a rollback) waits, then deletes it', async () => {
    const ctx = await pluginContext(s, alice, 'early');
    const created = await cinderVolume.create(ctx, { size: 1 });
    const state: ResourceState = { physicalId: created.physicalId, properties: {}, data: {} };
    await deleteResource(cinderVolume, ctx, state);
    expect(await projectVolumes()).toBe(0);
  });

  it('refuses bad properties by path, writing nothing', async () => {
    const ctx = await pluginContext(s, alice, 'bad');
    const f = (p: string) => `resources.bad.properties.${p}`;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ size: 0 }, f('size')],
      [{ size: 70_000 }, f('size')],
      [{ size: 1, volume_type: 'gold-nope' }, f('volume_type')],
      [{ size: 1, image: 'no-such-image' }, f('image')],
      [{ size: 1, snapshot_id: crypto.randomUUID() }, f('snapshot_id')],
      [{ size: 1, source_volid: crypto.randomUUID() }, f('source_volid')],
      [{ size: 1, multiattach: true }, f('multiattach')],
      [{ size: 1, availability_zone: 'az-2' }, f('availability_zone')],
    ];
    for (const [props, field] of cases) {
      await invalid(() => cinderVolume.validate!(ctx, props), field);
      await invalid(() => cinderVolume.create(ctx, props), field);
    }
    // No size and no source: validate lets it pass (the source may be a resource the stack
    // makes, left out of validate); create refuses it.
    await cinderVolume.validate!(ctx, {});
    await invalid(() => cinderVolume.create(ctx, {}), f('size'));
    expect(await projectVolumes()).toBe(0);
    expect((await quotaInUse(s, alice.projectId)).volumes ?? 0).toBe(0);
  });

  it('names a volume type by name', async () => {
    const ctx = await pluginContext(s, alice, 'typed');
    const state = await createResource(cinderVolume, ctx, { size: 1, volume_type: '__default__' });
    expect(await cinderVolume.attribute(ctx, state, 'volume_type')).toBe('__DEFAULT__');
    await deleteResource(cinderVolume, ctx, state);
  });
  it('a backend failure fails the resource with the volume fault (create and extend)', async () => {
    const ctx = await pluginContext(s, alice, 'src');
    const source = await createResource(cinderVolume, ctx, { size: 1 });
    const snapId = rawId(await availableSnapshot(s, token, gid(source.physicalId!)));
    // The snapshot's file disappears behind Stratus's back: the create job fails.
    const snapDir = path.join(String(s.config.volume.driverConfig.root), 'snapshots');
    for (const f of fs.readdirSync(snapDir))
      if (f.startsWith(snapId)) fs.rmSync(path.join(snapDir, f));
    const fromSnap = await pluginContext(s, alice, 'copy');
    const created = await cinderVolume.create(fromSnap, { snapshot_id: snapId });
    const state: ResourceState = { physicalId: created.physicalId, properties: {}, data: {} };
    let failure: unknown = null;
    await until(() =>
      cinderVolume.checkCreateComplete!(fromSnap, state).catch((e: unknown) => {
        failure = e;
        return { done: true };
      }),
    );
    expect(failure).toBeInstanceOf(ResourceFailedError);
    expect((failure as Error).message).toMatch(/went to status error: .+/);
    await deleteResource(cinderVolume, fromSnap, state);

    // An extend whose file is gone: the update fails, the size stays.
    fs.rmSync(volumeFile(s, gid(source.physicalId!)));
    const grown = await cinderVolume.update!(ctx, source, { size: 3 }, ['size']);
    const growing: ResourceState = {
      ...source,
      properties: { size: 3 },
      data: (grown.kind === 'updated' && grown.data) || {},
    };
    failure = null;
    await until(() =>
      cinderVolume.checkUpdateComplete!(ctx, growing).catch((e: unknown) => {
        failure = e;
        return { done: true };
      }),
    );
    expect(failure).toBeInstanceOf(ResourceFailedError);
    expect((await getVolume(s, token, gid(source.physicalId!))).sizeGib).toBe(1);
    await s.ok(
      `mutation($input: VolumeSnapshotIdInput!) { deleteVolumeSnapshot(input: $input) { __typename } }`,
      { input: { id: encodeGlobalID('VolumeSnapshot', snapId) } },
      token,
    );
    await until(async () => ({
      done:
        (await sqlCount(s, 'select count(*) from volume_snapshots where id = $1', [snapId])) === 0,
    }));
    await deleteResource(cinderVolume, ctx, source);
    expect(await projectVolumes()).toBe(0);
  });
});

describe('OS::Cinder::VolumeAttachment', () => {
  it('attaches, moves to another volume on update (detach then attach), and detaches', async () => {
    const serverId = rawId(await activeServer(s, token, { name: 'att', imageId, flavorId }));
    const volCtx = await pluginContext(s, alice, 'v1');
    const v1 = await createResource(cinderVolume, volCtx, { size: 1 });
    const volCtx2 = await pluginContext(s, alice, 'v2');
    const v2 = await createResource(cinderVolume, volCtx2, { size: 1, name: 'second' });

    const ctx: ResourceContext = await pluginContext(s, alice, 'att');
    const props = { instance_uuid: serverId, volume_id: v1.physicalId, mountpoint: '/dev/vdb' };
    await cinderVolumeAttachment.validate!(ctx, props);
    const state = await createResource(cinderVolumeAttachment, ctx, props);
    expect(state.physicalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await getVolume(s, token, gid(v1.physicalId!))).toMatchObject({
      status: 'IN_USE',
      attachments: [{ status: 'ATTACHED' }],
    });
    expect(await cinderVolumeAttachment.attribute(ctx, state, 'show')).toMatchObject({
      volume_id: v1.physicalId,
      server_id: serverId,
    });
    expect(await cinderVolume.attribute(volCtx, v1, 'attachments_list')).toMatchObject([
      { server_id: serverId },
    ]);

    // The second volume by name, as Heat allows.
    const next = { ...props, volume_id: 'second' };
    const updated = await cinderVolumeAttachment.update!(ctx, state, next, ['volume_id']);
    const moved: ResourceState = {
      ...state,
      properties: next,
      data: (updated.kind === 'updated' && updated.data) || state.data,
    };
    await until(() => cinderVolumeAttachment.checkUpdateComplete!(ctx, moved));
    expect((await getVolume(s, token, gid(v1.physicalId!))).status).toBe('AVAILABLE');
    expect(await getVolume(s, token, gid(v2.physicalId!))).toMatchObject({
      status: 'IN_USE',
      attachments: [{ status: 'ATTACHED' }],
    });

    await deleteResource(cinderVolumeAttachment, ctx, moved);
    expect((await getVolume(s, token, gid(v2.physicalId!))).status).toBe('AVAILABLE');

    // A delete that comes while the attach still runs (a rollback) detaches once attached.
    const early = await cinderVolumeAttachment.create(ctx, props);
    await deleteResource(cinderVolumeAttachment, ctx, {
      physicalId: early.physicalId,
      properties: props,
      data: early.data ?? {},
    });
    expect((await getVolume(s, token, gid(v1.physicalId!))).status).toBe('AVAILABLE');
    expect(await sqlCount(s, 'select count(*) from volume_attachments', [])).toBe(0);
    await deleteResource(cinderVolumeAttachment, ctx, moved);

    await deleteResource(cinderVolume, volCtx, v1);
    await deleteResource(cinderVolume, volCtx2, v2);
    await deleteAndWait(s, token, encodeGlobalID('Server', serverId));
    expect(await projectVolumes()).toBe(0);
  });

  it("a detach the guest refuses fails the delete with the volume's fault; a retry detaches", async () => {
    const serverId = rawId(await activeServer(s, token, { name: 'stubborn', imageId, flavorId }));
    const volCtx = await pluginContext(s, alice, 'held');
    const vol = await createResource(cinderVolume, volCtx, { size: 1 });
    const ctx = await pluginContext(s, alice, 'att');
    const state = await createResource(cinderVolumeAttachment, ctx, {
      instance_uuid: serverId,
      volume_id: vol.physicalId,
    });
    // A test double: the fake driver's guest ignores the eject, so the detach times out.
    const options = (
      s.stratus.runtime.compute!.driver as unknown as { options: { guestIgnoresDetach?: boolean } }
    ).options;
    options.guestIgnoresDetach = true;
    try {
      const error = await deleteResource(cinderVolumeAttachment, ctx, state).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ResourceFailedError);
      expect((error as Error).message).toMatch(/in-use: .+/);
      expect((await getVolume(s, token, gid(vol.physicalId!))).status).toBe('IN_USE');
    } finally {
      options.guestIgnoresDetach = false;
    }
    await deleteResource(cinderVolumeAttachment, ctx, state);
    expect((await getVolume(s, token, gid(vol.physicalId!))).status).toBe('AVAILABLE');
    await deleteResource(cinderVolume, volCtx, vol);
    await deleteAndWait(s, token, encodeGlobalID('Server', serverId));
  });

  it('refuses an unknown server or volume by path', async () => {
    const ctx = await pluginContext(s, alice, 'att');
    await invalid(
      () =>
        cinderVolumeAttachment.create(ctx, {
          instance_uuid: crypto.randomUUID(),
          volume_id: crypto.randomUUID(),
        }),
      'resources.att.properties.instance_uuid',
    );
    // Both made by the same stack: left out of validate, nothing to check yet.
    await cinderVolumeAttachment.validate!(ctx, {});
    const serverId = rawId(await activeServer(s, token, { name: 'att2', imageId, flavorId }));
    await invalid(
      () => cinderVolumeAttachment.validate!(ctx, { instance_uuid: serverId, volume_id: 'nope' }),
      'resources.att.properties.volume_id',
    );
    expect(await sqlCount(s, 'select count(*) from volume_attachments', [])).toBe(0);
    await deleteAndWait(s, token, encodeGlobalID('Server', serverId));
    // Every volume file the tests made is gone with its volume.
    expect(backendFiles(s)).toEqual([]);
  });
});
