import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BASIC_ERROR_FIELDS,
  emptyDisk,
  rawId,
  uploadImage,
  waitForOperation,
  waitForStatus,
} from '../support/compute';
import type { Json, TestStratus } from '../support/harness';
import type { Seed } from '../support/seed';
import {
  act,
  activeServer,
  deleteAndWait,
  flavor,
  quotaInUse,
  setQuota,
  sqlCount,
  startComputeTestbed,
} from '../support/servers';
import {
  availableSnapshot,
  availableVolume,
  getVolume,
  volumeFile,
  volumeMutation,
} from './volumes-support';

const ERRORS = `${BASIC_ERROR_FIELDS}
  ... on VolumeStateError { resource action status expected }
  ... on QuotaExceededError { resource limit inUse requested }`;

/**
 * Boot from volume through createServer's block device mappings, on the fake compute driver
 * and the real file volume driver: a new volume from an image (deleted with the server), an
 * existing volume (kept, boots another server), and bad mappings that write nothing.
 */

let s: TestStratus;
let seed: Seed;
let imageId: string;
let flavorId: string;

beforeAll(async () => {
  ({ s, seed, imageId, flavorId } = await startComputeTestbed());
});
afterAll(() => s?.stop());

const globalId = (type: string, id = randomUUID()) =>
  Buffer.from(`${type}:${id}`).toString('base64');

async function createServer(token: string, input: Record<string, unknown>): Promise<Json> {
  const data = await s.ok(
    `mutation($input: CreateServerInput!) { createServer(input: $input) { ${ERRORS}
      ... on CreateServerSuccess { created { server { id status image { id } } servers { id } operation { id } operations { id } } } } }`,
    { input: { flavorId, ...input } },
    token,
  );
  return data.createServer;
}

/** Creates a server, waits for its build; returns its id and its volume attachments. */
async function bootedServer(token: string, input: Record<string, unknown>) {
  const payload = await createServer(token, input);
  if (!payload.created) throw new Error(JSON.stringify(payload));
  const serverId = payload.created.server.id;
  expect(payload.created.server.image).toBeNull();
  const op = await waitForOperation(s, token, payload.created.operation.id);
  expect(op.status, JSON.stringify(op)).toBe('SUCCEEDED');
  await waitForStatus(s, token, serverId, 'ACTIVE');
  const data = await s.ok(
    `query($id: ID!) { node(id: $id) { ... on Server { image { id }
      volumeAttachments { device deleteOnTermination volume { id status sizeGib bootable } } } } }`,
    { id: serverId },
    token,
  );
  return { serverId, server: data.node };
}

const fromImage = (extra: Record<string, unknown> = {}) => ({
  sourceType: 'IMAGE',
  uuid: imageId,
  bootIndex: 0,
  ...extra,
});

describe('boot from a new volume (source IMAGE)', () => {
  it('builds ACTIVE on a volume at /dev/vda; deleting the server deletes it and gives quota back', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const { serverId, server } = await bootedServer(t, {
      name: 'from-image',
      blockDeviceMappings: [fromImage({ volumeSize: 2, deleteOnTermination: true })],
    });
    expect(server.image).toBeNull();
    expect(server.volumeAttachments).toMatchObject([
      {
        device: '/dev/vda',
        deleteOnTermination: true,
        volume: { status: 'IN_USE', sizeGib: 2, bootable: true },
      },
    ]);
    const volumeId = server.volumeAttachments[0].volume.id;
    const driver = s.stratus.runtime.compute!.driver;
    const status = await driver.status(rawId(serverId));
    expect(status.powerState).toBe('running');
    expect(await quotaInUse(s, project)).toMatchObject({ instances: 1, volumes: 1, gigabytes: 2 });

    await deleteAndWait(s, t, serverId);
    await expect.poll(() => getVolume(s, t, volumeId), { timeout: 20_000 }).toBeNull();
    expect(await quotaInUse(s, project)).toMatchObject({ instances: 0, volumes: 0, gigabytes: 0 });
  });

  it('takes the image from input.imageId too, when it names the same image', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const { serverId, server } = await bootedServer(t, {
      name: 'same-image',
      imageId,
      blockDeviceMappings: [fromImage()],
    });
    // The volume's size defaults to the image's (1 GiB); not deleted with the server.
    expect(server.volumeAttachments).toMatchObject([
      { deleteOnTermination: false, volume: { sizeGib: 1 } },
    ]);
    const volumeId = server.volumeAttachments[0].volume.id;
    await deleteAndWait(s, t, serverId);
    expect(await getVolume(s, t, volumeId)).toMatchObject({ status: 'AVAILABLE', attachments: [] });
  });

  it('stops, starts and resizes (vCPUs and RAM) like any server, keeping its volume', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const { serverId: id, server } = await bootedServer(t, {
      name: 'lifecycle',
      blockDeviceMappings: [fromImage({ deleteOnTermination: true })],
    });
    const volumeId = server.volumeAttachments[0].volume.id;
    await act(s, t, 'stopServer', { id });
    await waitForStatus(s, t, id, 'SHUTOFF');
    await act(s, t, 'startServer', { id });
    await waitForStatus(s, t, id, 'ACTIVE');
    const bigger = await flavor(s, { vcpus: 2, ramMib: 256, rootDiskGib: 1 });
    await act(s, t, 'resizeServer', { id, flavorId: bigger }, 'ResizeServerInput');
    await waitForStatus(s, t, id, 'VERIFY_RESIZE');
    await act(s, t, 'confirmServerResize', { id });
    await waitForStatus(s, t, id, 'ACTIVE');
    expect(await quotaInUse(s, project)).toMatchObject({ cores: 2, volumes: 1 });
    expect(await getVolume(s, t, volumeId)).toMatchObject({
      status: 'IN_USE',
      attachments: [{ device: '/dev/vda' }],
    });
    await deleteAndWait(s, t, id);
    await expect.poll(() => getVolume(s, t, volumeId), { timeout: 20_000 }).toBeNull();
  });

  it('refuses to rebuild or snapshot a volume-backed server, at the API', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const { serverId } = await bootedServer(t, {
      name: 'no-rebuild',
      blockDeviceMappings: [fromImage({ deleteOnTermination: true })],
    });
    const data = await s.ok(
      `mutation($id: ID!, $imageId: ID!) {
        rebuildServer(input: { id: $id, imageId: $imageId }) { __typename ... on InvalidInputError { field message } }
        createServerImage(input: { id: $id, name: "snap" }) { __typename ... on InvalidInputError { field message } } }`,
      { id: serverId, imageId },
      t,
    );
    for (const payload of [data.rebuildServer, data.createServerImage]) {
      expect(payload).toMatchObject({ __typename: 'InvalidInputError', field: 'input.id' });
      expect(payload.message).toMatch(/volume-backed/);
    }
    expect(await sqlCount(s, "select count(*) from images where name = 'snap'", [])).toBe(0);
    await deleteAndWait(s, t, serverId);
  });
});

describe('boot from a volume snapshot (source SNAPSHOT)', () => {
  it('makes a volume of the snapshot for the server; deleted with it', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const source = await availableVolume(s, t, { imageId, name: 'source' });
    const snapshotId = await availableSnapshot(s, t, source);
    const { serverId, server } = await bootedServer(t, {
      name: 'from-snapshot',
      blockDeviceMappings: [
        { sourceType: 'SNAPSHOT', uuid: snapshotId, volumeSize: 2, deleteOnTermination: true },
      ],
    });
    expect(server.volumeAttachments).toMatchObject([
      { device: '/dev/vda', volume: { status: 'IN_USE', sizeGib: 2, bootable: true } },
    ]);
    expect(server.volumeAttachments[0].volume.id).not.toBe(source);
    await deleteAndWait(s, t, serverId);
    await expect
      .poll(() => quotaInUse(s, project), { timeout: 20_000 })
      .toMatchObject({ instances: 0, volumes: 1, gigabytes: 2 });
  });

  it('refuses a snapshot of a volume that is not bootable', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const blank = await availableVolume(s, t, { sizeGib: 1 });
    const snapshotId = await availableSnapshot(s, t, blank);
    const volumes = await sqlCount(s, 'select count(*) from volumes', []);
    const payload = await createServer(t, {
      name: 'no-boot',
      blockDeviceMappings: [{ sourceType: 'SNAPSHOT', uuid: snapshotId }],
    });
    expect(payload).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.blockDeviceMappings.0.uuid',
    });
    expect(await sqlCount(s, 'select count(*) from volumes', [])).toBe(volumes);
  });
});

describe('several servers and failures', () => {
  it('count 2 from an image: a volume each, both ACTIVE', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const payload = await createServer(t, {
      name: 'pair',
      count: 2,
      blockDeviceMappings: [fromImage({ deleteOnTermination: true })],
    });
    if (!payload.created) throw new Error(JSON.stringify(payload));
    const ids: string[] = payload.created.servers.map((x: Json) => x.id);
    expect(ids).toHaveLength(2);
    for (const op of payload.created.operations) {
      expect((await waitForOperation(s, t, op.id)).status).toBe('SUCCEEDED');
    }
    const volumeIds = new Set<string>();
    for (const id of ids) {
      await waitForStatus(s, t, id, 'ACTIVE');
      const data = await s.ok(
        `query($id: ID!) { node(id: $id) { ... on Server { volumeAttachments { device volume { id status } } } } }`,
        { id },
        t,
      );
      expect(data.node.volumeAttachments).toMatchObject([
        { device: '/dev/vda', volume: { status: 'IN_USE' } },
      ]);
      volumeIds.add(data.node.volumeAttachments[0].volume.id);
    }
    expect(volumeIds.size).toBe(2);
    expect(await quotaInUse(s, project)).toMatchObject({ instances: 2, volumes: 2, gigabytes: 2 });
    for (const id of ids) await deleteAndWait(s, t, id);
    await expect
      .poll(() => quotaInUse(s, project), { timeout: 20_000 })
      .toMatchObject({ instances: 0, volumes: 0, gigabytes: 0 });
  });

  it('a server deleted while it builds takes its delete-on-termination volume with it', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const payload = await createServer(t, {
      name: 'short-lived',
      blockDeviceMappings: [fromImage({ deleteOnTermination: true })],
    });
    if (!payload.created) throw new Error(JSON.stringify(payload));
    const serverId = payload.created.server.id;
    // Whether the build claimed the volume first or not, the volume goes with the server.
    await deleteAndWait(s, t, serverId);
    await waitForOperation(s, t, payload.created.operation.id);
    await expect
      .poll(() => quotaInUse(s, project), { timeout: 30_000 })
      .toMatchObject({ instances: 0, volumes: 0, gigabytes: 0 });
    expect(
      await sqlCount(s, 'select count(*) from volumes where project_id = $1', [rawId(project)]),
    ).toBe(0);
  });

  it.each([true, false])(
    'a boot volume that fails to be made fails the build with VOLUME_FAILED (deleteOnTermination %s)',
    async (deleteOnTermination) => {
      const project = await seed.project();
      const t = (await seed.member('member', project)).token!;
      const broken = await uploadImage(s, t, { name: 'broken', diskFormat: 'raw' }, emptyDisk());
      // Its data disappears behind Stratus's back: the volume's create job cannot copy it.
      await s.stratus.runtime.pool.query('update images set storage_key = null where id = $1', [
        rawId(broken),
      ]);
      const payload = await createServer(t, {
        name: 'doomed',
        blockDeviceMappings: [fromImage({ uuid: broken, deleteOnTermination })],
      });
      if (!payload.created) throw new Error(JSON.stringify(payload));
      const op = await waitForOperation(s, t, payload.created.operation.id);
      expect(op).toMatchObject({ status: 'FAILED', error: { code: 'VOLUME_FAILED' } });
      const serverId = payload.created.server.id;
      await waitForStatus(s, t, serverId, 'ERROR');
      const volumes = () =>
        sqlCount(s, 'select count(*) from volumes where project_id = $1', [rawId(project)]);
      if (deleteOnTermination) {
        // Nova's build cleanup: the volume made for the server goes, and its quota with it.
        await expect.poll(volumes, { timeout: 20_000 }).toBe(0);
        expect(await quotaInUse(s, project)).toMatchObject({ volumes: 0, gigabytes: 0 });
      } else {
        expect(await volumes()).toBe(1);
      }
      await deleteAndWait(s, t, serverId);
      expect(await quotaInUse(s, project)).toMatchObject({ instances: 0 });
    },
  );
});

describe('boot from an existing volume (source VOLUME)', () => {
  it('keeps the volume after delete (deleteOnTermination false); it boots a second server', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const volumeId = await availableVolume(s, t, { imageId, name: 'boot' });
    expect(await getVolume(s, t, volumeId)).toMatchObject({ bootable: true, status: 'AVAILABLE' });
    const mapping = { sourceType: 'VOLUME', uuid: volumeId, deleteOnTermination: false };

    const first = await bootedServer(t, { name: 'first', blockDeviceMappings: [mapping] });
    expect(first.server.volumeAttachments).toMatchObject([
      {
        device: '/dev/vda',
        deleteOnTermination: false,
        volume: { id: volumeId, status: 'IN_USE' },
      },
    ]);
    expect(await quotaInUse(s, project)).toMatchObject({ volumes: 1, gigabytes: 1 });
    await deleteAndWait(s, t, first.serverId);
    expect(await getVolume(s, t, volumeId)).toMatchObject({ status: 'AVAILABLE', attachments: [] });

    const second = await bootedServer(t, { name: 'second', blockDeviceMappings: [mapping] });
    expect(second.server.volumeAttachments).toMatchObject([
      { device: '/dev/vda', volume: { id: volumeId, status: 'IN_USE' } },
    ]);
    expect(volumeFile(s, volumeId)).toContain(rawId(volumeId));
    await deleteAndWait(s, t, second.serverId);
    expect(await getVolume(s, t, volumeId)).toMatchObject({ status: 'AVAILABLE' });
    expect(await quotaInUse(s, project)).toMatchObject({ instances: 0, volumes: 1, gigabytes: 1 });
  });
});

describe('one volume, two servers at once', () => {
  it('the second createServer gets a VolumeStateError (the first build holds the volume)', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const volumeId = await availableVolume(s, t, { imageId, name: 'contested' });
    const mapping = { sourceType: 'VOLUME', uuid: volumeId };
    const first = await createServer(t, { name: 'first', blockDeviceMappings: [mapping] });
    const second = await createServer(t, { name: 'second', blockDeviceMappings: [mapping] });
    expect(first.__typename).toBe('CreateServerSuccess');
    expect(second).toMatchObject({ __typename: 'VolumeStateError', expected: ['available'] });
    await waitForStatus(s, t, first.created.server.id, 'ACTIVE');
    await deleteAndWait(s, t, first.created.server.id);
    expect(await getVolume(s, t, volumeId)).toMatchObject({ status: 'AVAILABLE' });
  });
});

describe('a volume promised to a build', () => {
  it('cannot be attached elsewhere until the build is over', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const volumeId = await availableVolume(s, t, { imageId, name: 'promised' });
    const other = await activeServer(s, t, { name: 'other', imageId, flavorId });
    // A build that has not claimed its volume yet, as createServer leaves it (made directly:
    // a real one claims it within milliseconds on the fake driver).
    const { rows } = await s.stratus.runtime.pool.query(
      `insert into operations (kind, project_id, stages, input)
       values ('server.build', $1, '[]'::jsonb, $2::jsonb) returning id`,
      [rawId(project), JSON.stringify({ bootVolume: { volumeId: rawId(volumeId) } })],
    );
    const attach = () =>
      volumeMutation(s, t, 'attachVolume', 'AttachVolumeInput', {
        volumeId,
        serverId: other,
      });
    expect(await attach()).toMatchObject({ __typename: 'VolumeStateError', status: 'attaching' });
    expect(await getVolume(s, t, volumeId)).toMatchObject({ status: 'AVAILABLE', attachments: [] });
    await s.stratus.runtime.pool.query(`update operations set status = 'FAILED' where id = $1`, [
      rows[0].id,
    ]);
    expect((await attach()).__typename).toBe('AttachVolumeSuccess');
    await deleteAndWait(s, t, other);
  });
});

describe('bad block device mappings', () => {
  let project: string;
  let token: string;
  let otherVolume: string;
  let inUseVolume: string;
  let inUseServer: string;
  let bigImage: string;

  beforeAll(async () => {
    project = await seed.project();
    token = (await seed.member('member', project)).token!;
    const other = (await seed.member('member')).token!;
    otherVolume = await availableVolume(s, other, { imageId, name: 'not-yours' });
    const booted = await bootedServer(token, {
      name: 'holder',
      blockDeviceMappings: [fromImage({ deleteOnTermination: true })],
    });
    inUseServer = booted.serverId;
    inUseVolume = booted.server.volumeAttachments[0].volume.id;
    bigImage = await uploadImage(
      s,
      token,
      { name: 'needs-3-gib', diskFormat: 'raw', minDiskGib: 3 },
      emptyDisk(),
    );
  });
  afterAll(() => deleteAndWait(s, token, inUseServer));

  /** What a refused createServer must leave as it was. */
  const written = async () => ({
    servers: await sqlCount(s, 'select count(*) from servers', []),
    volumes: await sqlCount(s, 'select count(*) from volumes', []),
    operations: await sqlCount(s, 'select count(*) from operations', []),
    jobs: await sqlCount(s, 'select count(*) from graphile_worker.jobs', []),
    quota: await quotaInUse(s, project),
  });

  const cases: Array<[string, () => Record<string, unknown>, Record<string, unknown>]> = [
    [
      'an unknown image',
      () => ({ blockDeviceMappings: [fromImage({ uuid: globalId('Image') })] }),
      { __typename: 'InvalidInputError', field: 'input.blockDeviceMappings.0.uuid' },
    ],
    [
      'an unknown volume',
      () => ({ blockDeviceMappings: [{ sourceType: 'VOLUME', uuid: globalId('Volume') }] }),
      { __typename: 'InvalidInputError', field: 'input.blockDeviceMappings.0.uuid' },
    ],
    [
      "another project's volume",
      () => ({ blockDeviceMappings: [{ sourceType: 'VOLUME', uuid: otherVolume }] }),
      { __typename: 'InvalidInputError', field: 'input.blockDeviceMappings.0.uuid' },
    ],
    [
      'a volume in use',
      () => ({ blockDeviceMappings: [{ sourceType: 'VOLUME', uuid: inUseVolume }] }),
      { __typename: 'VolumeStateError', status: 'in-use', expected: ['available'] },
    ],
    [
      'two mappings',
      () => ({ blockDeviceMappings: [fromImage(), fromImage({ bootIndex: 1 })] }),
      { __typename: 'InvalidInputError', field: 'input.blockDeviceMappings.1' },
    ],
    [
      'bootIndex 1',
      () => ({ blockDeviceMappings: [fromImage({ bootIndex: 1 })] }),
      { __typename: 'InvalidInputError', field: 'input.blockDeviceMappings.0.bootIndex' },
    ],
    [
      'a local destination',
      () => ({ blockDeviceMappings: [fromImage({ destinationType: 'LOCAL' })] }),
      { __typename: 'InvalidInputError', field: 'input.blockDeviceMappings.0.destinationType' },
    ],
    [
      'an unknown snapshot',
      () => ({
        blockDeviceMappings: [{ sourceType: 'SNAPSHOT', uuid: globalId('VolumeSnapshot') }],
      }),
      { __typename: 'InvalidInputError', field: 'input.blockDeviceMappings.0.uuid' },
    ],
    [
      'a blank source',
      () => ({ blockDeviceMappings: [{ sourceType: 'BLANK', volumeSize: 1 }] }),
      { __typename: 'InvalidInputError', field: 'input.blockDeviceMappings.0.sourceType' },
    ],
    [
      'a volume smaller than the image',
      () => ({ blockDeviceMappings: [fromImage({ uuid: bigImage, volumeSize: 2 })] }),
      { __typename: 'InvalidInputError', field: 'input.blockDeviceMappings.0.volumeSize' },
    ],
    [
      'an image id of the wrong kind',
      () => ({ blockDeviceMappings: [fromImage({ uuid: otherVolume })] }),
      { __typename: 'InvalidInputError', field: 'input.blockDeviceMappings.0.uuid' },
    ],
    [
      'input.imageId naming another image',
      () => ({ imageId: bigImage, blockDeviceMappings: [fromImage()] }),
      { __typename: 'InvalidInputError', field: 'input.imageId' },
    ],
    [
      'count 2 from one volume',
      () => ({ count: 2, blockDeviceMappings: [{ sourceType: 'VOLUME', uuid: otherVolume }] }),
      { __typename: 'InvalidInputError', field: 'input.count' },
    ],
    [
      'neither an image nor a mapping',
      () => ({}),
      { __typename: 'InvalidInputError', field: 'input.imageId' },
    ],
  ];

  it.each(cases)('refuses %s, writing nothing', async (_name, input, expected) => {
    const before = await written();
    const payload = await createServer(token, { name: 'bad', ...input() });
    expect(payload).toMatchObject(expected);
    expect(await written()).toEqual(before);
  });

  it('refuses a volume beyond the gigabytes quota, writing nothing (instances quota included)', async () => {
    const q = await seed.project();
    const t = (await seed.member('member', q)).token!;
    await setQuota(s, q, { gigabytes: 3 });
    const before = await quotaInUse(s, q);
    const counts = {
      servers: await sqlCount(s, 'select count(*) from servers', []),
      volumes: await sqlCount(s, 'select count(*) from volumes', []),
    };
    const payload = await createServer(t, {
      name: 'too-big',
      count: 2,
      blockDeviceMappings: [fromImage({ volumeSize: 2 })],
    });
    expect(payload).toMatchObject({ __typename: 'QuotaExceededError', resource: 'gigabytes' });
    expect(await quotaInUse(s, q)).toEqual(before);
    expect({
      servers: await sqlCount(s, 'select count(*) from servers', []),
      volumes: await sqlCount(s, 'select count(*) from volumes', []),
    }).toEqual(counts);
  });
});
