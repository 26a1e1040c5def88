import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyDisk, uploadImage, waitForOperation } from '../support/compute';
import type { TestStratus } from '../support/harness';
import type { Seed, SeededUser } from '../support/seed';
import { quotaInUse, setQuota, sqlCount, startComputeTestbed, uniq } from '../support/servers';
import {
  availableSnapshot,
  availableVolume,
  backendFiles,
  createVolume,
  getVolume,
  hasPattern,
  imageInfo,
  volumeAct,
  volumeFile,
  volumeMutation,
  writePattern,
} from './volumes-support';

/**
 * The volumes API end to end: a real Stratus, real PostgreSQL and the real `file` driver
 * (qemu-img) in a temporary folder. Contents are checked with qemu-img and qemu-io.
 */

const GIB = 1024 ** 3;
let s: TestStratus;
let seed: Seed;
let alice: SeededUser;
let token: string;

beforeAll(async () => {
  ({ s, seed } = await startComputeTestbed());
  alice = await seed.member('member');
  token = alice.token!;
});
afterAll(() => s?.stop());

const counts = async () => ({
  volumes: await sqlCount(s, 'select count(*) from volumes', []),
  snapshots: await sqlCount(s, 'select count(*) from volume_snapshots', []),
  operations: await sqlCount(s, 'select count(*) from operations', []),
  files: backendFiles(s).length,
});

describe('volume lifecycle', () => {
  it('creates a blank volume: creating, then available, a qcow2 file of that size', async () => {
    const payload = await createVolume(s, token, { name: 'blank', sizeGib: 1, description: 'd' });
    expect(payload.__typename).toBe('CreateVolumeSuccess');
    expect(payload.started.volume).toMatchObject({
      name: 'blank',
      status: 'CREATING',
      sizeGib: 1,
      bootable: false,
      volumeType: { name: '__DEFAULT__' },
    });
    const operation = await waitForOperation(s, token, payload.started.operation.id);
    expect(operation).toMatchObject({ status: 'SUCCEEDED', stages: [{ status: 'DONE' }] });
    const id = payload.started.volume.id;
    expect(await getVolume(s, token, id)).toMatchObject({ status: 'AVAILABLE', fault: null });
    expect(imageInfo(volumeFile(s, id))).toEqual({ virtualSize: GIB, format: 'qcow2' });
  });

  it('extends an available volume, and refuses a size not larger, writing nothing', async () => {
    const id = await availableVolume(s, token, { sizeGib: 1 });
    const { operation } = await volumeAct(s, token, 'extendVolume', 'ExtendVolumeInput', {
      id,
      newSizeGib: 2,
    });
    expect(operation).toMatchObject({ status: 'SUCCEEDED' });
    expect(await getVolume(s, token, id)).toMatchObject({ status: 'AVAILABLE', sizeGib: 2 });
    expect(imageInfo(volumeFile(s, id)).virtualSize).toBe(2 * GIB);

    const before = await counts();
    for (const newSizeGib of [2, 1]) {
      const refused = await volumeMutation(s, token, 'extendVolume', 'ExtendVolumeInput', {
        id,
        newSizeGib,
      });
      expect(refused).toMatchObject({
        __typename: 'InvalidInputError',
        field: 'input.newSizeGib',
      });
    }
    expect(await counts()).toEqual(before);
    expect(await getVolume(s, token, id)).toMatchObject({ status: 'AVAILABLE', sizeGib: 2 });
  });

  it('snapshots a volume and makes a new volume holding the same data', async () => {
    const id = await availableVolume(s, token, { sizeGib: 1, name: 'source' });
    writePattern(volumeFile(s, id), 0x5a, '0', '64k');
    const snapId = await availableSnapshot(s, token, id);
    // The source changes after the snapshot; the copy keeps what was there.
    writePattern(volumeFile(s, id), 0x11, '0', '64k');
    const copy = await availableVolume(s, token, { snapshotId: snapId, name: 'copy' });
    const v = await getVolume(s, token, copy);
    expect(v).toMatchObject({ sizeGib: 1, status: 'AVAILABLE', bootable: false });
    expect(hasPattern(volumeFile(s, copy), 0x5a, '0', '64k')).toBe(true);
    expect(hasPattern(volumeFile(s, id), 0x11, '0', '64k')).toBe(true);
    // A copy smaller than the snapshot is refused on its field.
    const small = await createVolume(s, token, { snapshotId: snapId, sizeGib: 0 });
    expect(small).toMatchObject({ __typename: 'InvalidInputError', field: 'input.sizeGib' });
  });

  it('creates a bootable volume from an image with its bytes', async () => {
    const imageId = await uploadImage(
      s,
      token,
      { name: 'patterned', diskFormat: 'raw' },
      Buffer.alloc(1024 * 1024, 0x7e),
    );
    const id = await availableVolume(s, token, { imageId });
    const v = await getVolume(s, token, id);
    expect(v).toMatchObject({ sizeGib: 1, bootable: true, status: 'AVAILABLE' });
    expect(hasPattern(volumeFile(s, id), 0x7e, '0', '1M')).toBe(true);
    expect(imageInfo(volumeFile(s, id)).virtualSize).toBe(GIB);
  });

  it('refuses to delete a volume with snapshots; cascade deletes them all and frees quota', async () => {
    const project = await seed.project();
    const bob = await seed.member('member', project);
    const id = await availableVolume(s, bob.token!, { sizeGib: 2 });
    await availableSnapshot(s, bob.token!, id);
    await availableSnapshot(s, bob.token!, id);
    expect(await quotaInUse(s, project)).toMatchObject({
      volumes: 1,
      snapshots: 2,
      gigabytes: 6,
      volumes___DEFAULT__: 1,
      gigabytes___DEFAULT__: 6,
    });
    const before = await counts();
    const refused = await volumeMutation(s, bob.token!, 'deleteVolume', 'DeleteVolumeInput', {
      id,
    });
    expect(refused).toMatchObject({ __typename: 'VolumeHasSnapshotsError', snapshotCount: 2 });
    expect(await counts()).toEqual(before);

    const { operation } = await volumeAct(s, bob.token!, 'deleteVolume', 'DeleteVolumeInput', {
      id,
      cascade: true,
    });
    expect(operation.status).toBe('SUCCEEDED');
    expect(await getVolume(s, bob.token!, id)).toBeNull();
    const after = await counts();
    expect(after.volumes).toBe(before.volumes - 1);
    expect(after.snapshots).toBe(before.snapshots - 2);
    expect(after.files).toBe(before.files - 5); // the volume, two snapshots and a sidecar each
    expect(await quotaInUse(s, project)).toMatchObject({
      volumes: 0,
      snapshots: 0,
      gigabytes: 0,
      gigabytes___DEFAULT__: 0,
    });
  });

  it('deletes a snapshot, then the volume without cascade', async () => {
    const id = await availableVolume(s, token, { sizeGib: 1 });
    const snapId = await availableSnapshot(s, token, id);
    const del = await s.ok(
      `mutation($input: VolumeSnapshotIdInput!) { deleteVolumeSnapshot(input: $input) { __typename
        ... on DeleteVolumeSnapshotSuccess { started { snapshot { status } operation { id } } } } }`,
      { input: { id: snapId } },
      token,
    );
    expect(del.deleteVolumeSnapshot.started.snapshot.status).toBe('DELETING');
    await expect
      .poll(async () => (await getVolume(s, token, id)).snapshots.length, { timeout: 20_000 })
      .toBe(0);
    const { operation } = await volumeAct(s, token, 'deleteVolume', 'DeleteVolumeInput', { id });
    expect(operation.status).toBe('SUCCEEDED');
    expect(fs.existsSync(volumeFile(s, id))).toBe(false);
  });

  it('updates name, description and bootable', async () => {
    const id = await availableVolume(s, token, { sizeGib: 1 });
    const data = await s.ok(
      `mutation($input: UpdateVolumeInput!) { updateVolume(input: $input) { __typename
        ... on UpdateVolumeSuccess { volume { name description bootable } } } }`,
      { input: { id, name: 'renamed', description: 'desc', bootable: true } },
      token,
    );
    expect(data.updateVolume.volume).toEqual({
      name: 'renamed',
      description: 'desc',
      bootable: true,
    });
  });
});

describe('bad input: a typed error naming the field, nothing written', () => {
  it.each([
    [{}, 'input.sizeGib'],
    [{ sizeGib: 0 }, 'input.sizeGib'],
    [{ sizeGib: 70_000 }, 'input.sizeGib'],
    [{ sizeGib: 1, name: 'x'.repeat(300) }, 'input.name'],
  ])('createVolume %j → %s', async (input, field) => {
    const before = await counts();
    const payload = await createVolume(s, token, input);
    expect(payload).toMatchObject({ __typename: 'InvalidInputError', field });
    expect(await counts()).toEqual(before);
  });

  it('an image and a snapshot at once, an unknown image, a non-disk image', async () => {
    const before = await counts();
    const kernel = await uploadImage(
      s,
      token,
      { name: 'k', diskFormat: 'aki', containerFormat: 'aki' },
      emptyDisk(),
    );
    const both = await createVolume(s, token, {
      imageId: kernel,
      snapshotId: Buffer.from('VolumeSnapshot:00000000-0000-4000-8000-000000000000').toString(
        'base64',
      ),
    });
    expect(both).toMatchObject({ __typename: 'InvalidInputError', field: 'input.snapshotId' });
    const aki = await createVolume(s, token, { imageId: kernel });
    expect(aki).toMatchObject({ __typename: 'InvalidInputError', field: 'input.imageId' });
    const missing = await createVolume(s, token, {
      imageId: Buffer.from('Image:00000000-0000-4000-8000-000000000000').toString('base64'),
    });
    expect(missing).toMatchObject({ __typename: 'InvalidInputError', field: 'input.imageId' });
    const after = await counts();
    expect({ ...after, operations: 0 }).toEqual({ ...before, operations: 0 });
  });
});

describe('quotas', () => {
  it('volumes and gigabytes: over the limit is QuotaExceededError, nothing written', async () => {
    const project = await seed.project();
    const bob = await seed.member('member', project);
    await setQuota(s, project, { volumes: 1, gigabytes: 3 });
    await availableVolume(s, bob.token!, { sizeGib: 2 });
    const before = await counts();
    const overCount = await createVolume(s, bob.token!, { sizeGib: 1 });
    expect(overCount).toMatchObject({ __typename: 'QuotaExceededError', resource: 'volumes' });
    await setQuota(s, project, { volumes: 5 });
    const overSize = await createVolume(s, bob.token!, { sizeGib: 2 });
    expect(overSize).toMatchObject({
      __typename: 'QuotaExceededError',
      resource: 'gigabytes',
      limit: 3,
      inUse: 2,
      requested: 2,
    });
    expect(await counts()).toEqual(before);
    expect(await quotaInUse(s, project)).toMatchObject({ volumes: 1, gigabytes: 2 });
  });

  it('per volume type: volumes_<type>, gigabytes_<type>, snapshots_<type>', async () => {
    const name = uniq('gold').replace('-', '_');
    const created = await s.ok(
      `mutation($input: CreateVolumeTypeInput!) { createVolumeType(input: $input) { __typename
        ... on CreateVolumeTypeSuccess { volumeType { id name backendName } } ... on Error { message } } }`,
      { input: { name, extraSpecs: { volume_backend_name: 'file' } } },
      s.adminToken,
    );
    const typeId = created.createVolumeType.volumeType.id;
    expect(created.createVolumeType.volumeType.backendName).toBe('file');
    const project = await seed.project();
    const bob = await seed.member('member', project);
    await setQuota(s, project, { [`gigabytes_${name}`]: 3, [`snapshots_${name}`]: 0 });
    const id = await availableVolume(s, bob.token!, { sizeGib: 2, volumeTypeId: typeId });
    expect((await getVolume(s, bob.token!, id)).volumeType.name).toBe(name);
    const over = await createVolume(s, bob.token!, { sizeGib: 2, volumeTypeId: typeId });
    expect(over).toMatchObject({
      __typename: 'QuotaExceededError',
      resource: `gigabytes_${name}`,
    });
    // The default type is not limited by gold's quota.
    await availableVolume(s, bob.token!, { sizeGib: 2 });
    await setQuota(s, project, { [`gigabytes_${name}`]: 10 });
    const snap = await s.ok(
      `mutation($input: CreateVolumeSnapshotInput!) { createVolumeSnapshot(input: $input) { __typename
        ... on QuotaExceededError { resource } } }`,
      { input: { volumeId: id } },
      bob.token!,
    );
    expect(snap.createVolumeSnapshot).toEqual({
      __typename: 'QuotaExceededError',
      resource: `snapshots_${name}`,
    });
    expect(await quotaInUse(s, project)).toMatchObject({
      volumes: 2,
      gigabytes: 4,
      [`volumes_${name}`]: 1,
      [`gigabytes_${name}`]: 2,
    });
    // A type in use keeps its name; an unused one can be deleted.
    const rename = await s.ok(
      `mutation($input: UpdateVolumeTypeInput!) { updateVolumeType(input: $input) { __typename } }`,
      { input: { id: typeId, name: `${name}x` } },
      s.adminToken,
    );
    expect(rename.updateVolumeType.__typename).toBe('ConflictError');
  });

  it('a type naming a backend no process runs is refused on volumeTypeId', async () => {
    const created = await s.ok(
      `mutation($input: CreateVolumeTypeInput!) { createVolumeType(input: $input) {
        ... on CreateVolumeTypeSuccess { volumeType { id } } } }`,
      { input: { name: uniq('nowhere'), extraSpecs: { volume_backend_name: 'ceph' } } },
      s.adminToken,
    );
    const payload = await createVolume(s, token, {
      sizeGib: 1,
      volumeTypeId: created.createVolumeType.volumeType.id,
    });
    expect(payload).toMatchObject({ __typename: 'InvalidInputError', field: 'input.volumeTypeId' });
  });
});

describe('tenant isolation', () => {
  it("another project's member sees nothing and changes nothing", async () => {
    const id = await availableVolume(s, token, { sizeGib: 1, name: 'private' });
    const snapId = await availableSnapshot(s, token, id);
    const eve = await seed.member('member');
    const t = eve.token!;
    expect(await getVolume(s, t, id)).toBeNull();
    const lists = await s.ok(
      `query($v: ID!, $sn: ID!) { volumes { totalCount } volumeSnapshots { totalCount }
        v: node(id: $v) { id } sn: node(id: $sn) { id } }`,
      { v: id, sn: snapId },
      t,
    );
    expect(lists).toEqual({
      volumes: { totalCount: 0 },
      volumeSnapshots: { totalCount: 0 },
      v: null,
      sn: null,
    });
    for (const [mutation, inputType, input] of [
      ['deleteVolume', 'DeleteVolumeInput', { id }],
      ['extendVolume', 'ExtendVolumeInput', { id, newSizeGib: 5 }],
      ['updateVolume', 'UpdateVolumeInput', { id, name: 'mine' }],
    ] as const) {
      const data = await s.ok(
        `mutation($input: ${inputType}!) { ${mutation}(input: $input) { __typename ... on NotFoundError { resource } } }`,
        { input },
        t,
      );
      expect(data[mutation], mutation).toEqual({ __typename: 'NotFoundError', resource: 'volume' });
    }
    const fromSnap = await createVolume(s, t, { snapshotId: snapId });
    expect(fromSnap).toMatchObject({ __typename: 'InvalidInputError', field: 'input.snapshotId' });
    const snapDel = await s.ok(
      `mutation($input: VolumeSnapshotIdInput!) { deleteVolumeSnapshot(input: $input) { __typename } }`,
      { input: { id: snapId } },
      t,
    );
    expect(snapDel.deleteVolumeSnapshot.__typename).toBe('NotFoundError');
    // The admin sees it with allProjects; a reader of the owner's project sees it too.
    const all = await s.ok(
      `{ volumes(filter: { allProjects: true }, first: 100) { edges { node { id } } } }`,
      {},
      s.adminToken,
    );
    expect(all.volumes.edges.map((e: { node: { id: string } }) => e.node.id)).toContain(id);
    const reader = await seed.member('reader', alice.projectId);
    expect(await getVolume(s, reader.token!, id)).toMatchObject({ name: 'private' });
    const readerDelete = await s.gql(
      `mutation($input: DeleteVolumeInput!) { deleteVolume(input: $input) { __typename } }`,
      { input: { id } },
      reader.token,
    );
    expect(readerDelete.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('volume types', () => {
  it('a private type is for admins only: members neither list nor use it', async () => {
    const name = uniq('private').replace('-', '_');
    const created = await s.ok(
      `mutation($input: CreateVolumeTypeInput!) { createVolumeType(input: $input) {
        ... on CreateVolumeTypeSuccess { volumeType { id } } } }`,
      { input: { name, isPublic: false } },
      s.adminToken,
    );
    const typeId = created.createVolumeType.volumeType.id;
    const listed = await s.ok(
      `{ volumeTypes(first: 100) { edges { node { id name } } } }`,
      {},
      token,
    );
    const names = listed.volumeTypes.edges.map((e: { node: { name: string } }) => e.node.name);
    expect(names).toContain('__DEFAULT__');
    expect(names).not.toContain(name);
    const refused = await createVolume(s, token, { sizeGib: 1, volumeTypeId: typeId });
    expect(refused).toMatchObject({ __typename: 'InvalidInputError', field: 'input.volumeTypeId' });
    // Backend details are for admins.
    const specs = await s.gql(`{ volumeTypes { edges { node { name extraSpecs } } } }`, {}, token);
    expect(specs.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    // Deleting: the default type stays; an unused type goes.
    const del = await s.ok(
      `mutation($input: VolumeTypeIdInput!) { deleteVolumeType(input: $input) { __typename } }`,
      { input: { id: typeId } },
      s.adminToken,
    );
    expect(del.deleteVolumeType.__typename).toBe('DeleteVolumeTypeSuccess');
    const defaultId = listed.volumeTypes.edges.find(
      (e: { node: { name: string } }) => e.node.name === '__DEFAULT__',
    ).node.id;
    const keep = await s.ok(
      `mutation($input: VolumeTypeIdInput!) { deleteVolumeType(input: $input) { __typename } }`,
      { input: { id: defaultId } },
      s.adminToken,
    );
    expect(keep.deleteVolumeType.__typename).toBe('ConflictError');
  });

  it('volumeSnapshot(id) answers its owner only', async () => {
    const id = await availableVolume(s, token, { sizeGib: 1 });
    const snapId = await availableSnapshot(s, token, id);
    const q = `query($id: ID!) { volumeSnapshot(id: $id) { status sizeGib volume { id } } }`;
    expect((await s.ok(q, { id: snapId }, token)).volumeSnapshot).toEqual({
      status: 'AVAILABLE',
      sizeGib: 1,
      volume: { id },
    });
    const eve = await seed.member('member');
    expect((await s.ok(q, { id: snapId }, eve.token!)).volumeSnapshot).toBeNull();
  });
});

describe('subscriptions', () => {
  it('volumes: each project sees its own volumes only', async () => {
    const eve = await seed.member('member');
    const query = `subscription { volumes { id name status } }`;
    const mine = s.subscribe(query, {}, token);
    const theirs = s.subscribe(query, {}, eve.token!);
    // Both streams are open once each has delivered one of its own project's volumes.
    await availableVolume(s, eve.token!, { sizeGib: 1, name: 'eve-warmup' });
    await availableVolume(s, token, { sizeGib: 1, name: 'alice-warmup' });
    await mine.waitFor(1);
    await theirs.waitFor(1);
    const id = await availableVolume(s, token, { sizeGib: 1, name: 'alice-secret' });
    await availableVolume(s, eve.token!, { sizeGib: 1, name: 'eve-own' });
    await expect
      .poll(() =>
        theirs.values.some(
          (v) => v.data.volumes.name === 'eve-own' && v.data.volumes.status === 'AVAILABLE',
        ),
      )
      .toBe(true);
    const eveNames = new Set(theirs.values.map((v) => v.data.volumes.name));
    expect(eveNames).toEqual(new Set(['eve-warmup', 'eve-own']));
    await expect
      .poll(() =>
        mine.values.some((v) => v.data.volumes.id === id && v.data.volumes.status === 'AVAILABLE'),
      )
      .toBe(true);
    mine.close();
    theirs.close();
  });
});

describe('catalog', () => {
  it('reports the file volume driver', async () => {
    const data = await s.ok(
      `{ catalog { drivers { kind implementation healthy } } }`,
      {},
      s.adminToken,
    );
    expect(data.catalog.drivers).toContainEqual({
      kind: 'volume',
      implementation: 'file',
      healthy: true,
    });
  });
});
