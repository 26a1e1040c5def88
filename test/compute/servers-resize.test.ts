import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ERROR_FIELDS,
  emptyDisk,
  getServer,
  rawId,
  serverAction,
  uploadImage,
  waitForOperation,
  waitForStatus,
} from '../support/compute';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import {
  act,
  activeServer,
  deleteAndWait,
  flavor,
  quotaInUse,
  setQuota,
  startComputeTestbed,
} from '../support/servers';

/**
 * Resize (confirm, revert, refusals) with its quota, rebuild, snapshot, and servers outliving
 * their image and flavor, on the fake driver.
 */

let s: TestStratus;
let seed: Seed;
let imageId: string;
let flavorId: string;
beforeAll(async () => {
  ({ s, seed, imageId, flavorId } = await startComputeTestbed());
});
afterAll(async () => {
  await s?.stop();
});

const ACTIONS = `query($id: ID!) { node(id: $id) { ... on Server {
  lastAction { action }
  actions { id action requestId message startTime finishTime user { id } events { event result finishTime } } } } }`;

async function actions(token: string, id: string): Promise<Json[]> {
  return (await s.ok(ACTIONS, { id }, token)).node.actions;
}

const FLAVOR_OF = `query($id: ID!) { node(id: $id) { ... on Server { status taskState
  flavor { name vcpus ramMib rootDiskGib flavor { id } } image { id } } } }`;

describe('resize, rebuild and snapshot', () => {
  let member: SeededUser;
  let small: string;
  let medium: string;
  let large: string;
  let tiny: string;
  beforeAll(async () => {
    member = await seed.member('member');
    small = await flavor(s, { vcpus: 1, ramMib: 128, rootDiskGib: 1 });
    medium = await flavor(s, { vcpus: 2, ramMib: 256, rootDiskGib: 1 });
    large = await flavor(s, { vcpus: 4, ramMib: 512, rootDiskGib: 2 });
    tiny = await flavor(s, { vcpus: 1, ramMib: 192, rootDiskGib: 1 });
  });

  const resize = (t: string, id: string, f: string) =>
    serverAction(s, t, 'resizeServer', { id, flavorId: f }, 'ResizeServerInput');

  it('resize to VERIFY_RESIZE, confirm: the new flavor and its quota stay', async () => {
    const t = member.token!;
    const id = await activeServer(s, t, { name: 'grow', imageId, flavorId: small });
    expect(await quotaInUse(s, member.projectId)).toMatchObject({ cores: 1, ram_mib: 128 });
    const started = await resize(t, id, medium);
    expect(started.__typename).toBe('ResizeServerSuccess');
    expect(started.started.server.status).toBe('RESIZE');
    await waitForOperation(s, t, started.started.operation.id);
    const verify = await waitForStatus(s, t, id, 'VERIFY_RESIZE');
    expect(verify.flavor).toMatchObject({ vcpus: 2, ramMib: 256 });
    expect(await quotaInUse(s, member.projectId)).toMatchObject({ cores: 2, ram_mib: 256 });
    // Nothing else while it waits for the answer.
    expect(await serverAction(s, t, 'stopServer', { id })).toMatchObject({
      __typename: 'ServerStateError',
      status: 'VERIFY_RESIZE',
    });
    await act(s, t, 'confirmServerResize', { id });
    await waitForStatus(s, t, id, 'ACTIVE');
    const after = (await s.ok(FLAVOR_OF, { id }, t)).node;
    expect(after.flavor).toEqual({
      name: expect.any(String),
      vcpus: 2,
      ramMib: 256,
      rootDiskGib: 1,
      flavor: { id: medium },
    });
    expect(await quotaInUse(s, member.projectId)).toMatchObject({
      instances: 1,
      cores: 2,
      ram_mib: 256,
    });
    const list = await s.ok(
      `query($f: ServerFilter) { servers(filter: $f) { totalCount } }`,
      { f: { flavorId: medium } },
      t,
    );
    expect(list.servers.totalCount).toBe(1);

    // Down in CPU and RAM (same disk), confirmed: quota shrinks once confirmed.
    await act(s, t, 'resizeServer', { id, flavorId: tiny }, 'ResizeServerInput');
    await waitForStatus(s, t, id, 'VERIFY_RESIZE');
    expect(await quotaInUse(s, member.projectId)).toMatchObject({ cores: 2, ram_mib: 256 });
    await act(s, t, 'confirmServerResize', { id });
    await waitForStatus(s, t, id, 'ACTIVE');
    expect(await quotaInUse(s, member.projectId)).toMatchObject({ cores: 1, ram_mib: 192 });
    await deleteAndWait(s, t, id);
    expect(await quotaInUse(s, member.projectId)).toMatchObject({
      instances: 0,
      cores: 0,
      ram_mib: 0,
    });
  });

  it('a resize the host fails rolls back: old flavor, running again, quota given back', async () => {
    const failing = await startTestStratus({
      compute: { ...s.config.compute, driverConfig: { failResize: true } },
    });
    try {
      const m = await new Seed(failing).member('member');
      const t = m.token!;
      const one = await flavor(failing, { vcpus: 1, ramMib: 128, rootDiskGib: 1 });
      const two = await flavor(failing, { vcpus: 2, ramMib: 256, rootDiskGib: 1 });
      const disk = await uploadImage(failing, t, { name: 'd', diskFormat: 'raw' }, emptyDisk());
      const id = await activeServer(failing, t, { name: 'stuck', imageId: disk, flavorId: one });
      const started = await serverAction(
        failing,
        t,
        'resizeServer',
        { id, flavorId: two },
        'ResizeServerInput',
      );
      const op = await waitForOperation(failing, t, started.started.operation.id);
      expect(op.status).toBe('FAILED');
      expect(op.error.code).toBe('HYPERVISOR_ERROR');
      const server = await waitForStatus(failing, t, id, 'ACTIVE');
      expect(server.flavor).toMatchObject({ vcpus: 1, ramMib: 128 });
      expect(server.powerState).toBe('running');
      expect(await quotaInUse(failing, m.projectId)).toMatchObject({ cores: 1, ram_mib: 128 });
    } finally {
      await failing.stop();
    }
  });

  it('revert: the old flavor and the old quota come back; a stopped server stays stopped', async () => {
    const t = member.token!;
    const id = await activeServer(s, t, { name: 'try', imageId, flavorId: medium });
    await act(s, t, 'stopServer', { id });
    await act(s, t, 'resizeServer', { id, flavorId: large }, 'ResizeServerInput');
    const verify = await waitForStatus(s, t, id, 'VERIFY_RESIZE');
    expect(verify.flavor).toMatchObject({ vcpus: 4, ramMib: 512, rootDiskGib: 2 });
    expect(verify.powerState).toBe('shutdown');
    expect(await quotaInUse(s, member.projectId)).toMatchObject({ cores: 4, ram_mib: 512 });
    await act(s, t, 'revertServerResize', { id });
    await waitForStatus(s, t, id, 'SHUTOFF');
    const after = (await s.ok(FLAVOR_OF, { id }, t)).node;
    expect(after.flavor).toMatchObject({
      vcpus: 2,
      ramMib: 256,
      rootDiskGib: 1,
      flavor: { id: medium },
    });
    expect(await quotaInUse(s, member.projectId)).toMatchObject({ cores: 2, ram_mib: 256 });
    await deleteAndWait(s, t, id);
  });

  it('refuses a resize over quota, to the same flavor or to a smaller disk, changing nothing', async () => {
    const t = member.token!;
    const id = await activeServer(s, t, { name: 'bounded', imageId, flavorId: large });
    await setQuota(s, member.projectId, { cores: 5 });
    expect(await resize(t, id, medium)).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.flavorId',
      message: expect.stringMatching(/smaller root disk/),
    });
    expect(await resize(t, id, large)).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.flavorId',
    });
    const huge = await flavor(s, { vcpus: 8, ramMib: 512, rootDiskGib: 2 });
    expect(await resize(t, id, huge)).toMatchObject({
      __typename: 'QuotaExceededError',
      resource: 'cores',
      requested: 4,
    });
    expect(await getServer(s, t, id)).toMatchObject({ status: 'ACTIVE', taskState: null });
    expect(await quotaInUse(s, member.projectId)).toMatchObject({ cores: 4, ram_mib: 512 });
    await setQuota(s, member.projectId, { cores: -1 });
    await deleteAndWait(s, t, id);
  });

  it('rebuild with another image changes the image', async () => {
    const t = member.token!;
    const id = await activeServer(s, t, { name: 'reborn', imageId, flavorId: small });
    const other = await uploadImage(s, t, { name: 'other', diskFormat: 'raw' }, emptyDisk());
    const kernel = await uploadImage(
      s,
      t,
      { name: 'k', diskFormat: 'aki', containerFormat: 'aki' },
      emptyDisk(),
    );
    const refused = await serverAction(
      s,
      t,
      'rebuildServer',
      { id, imageId: kernel },
      'RebuildServerInput',
    );
    expect(refused).toMatchObject({ __typename: 'InvalidInputError', field: 'input.imageId' });
    const started = await serverAction(
      s,
      t,
      'rebuildServer',
      { id, imageId: other },
      'RebuildServerInput',
    );
    expect(started.started.server.status).toBe('REBUILD');
    await waitForOperation(s, t, started.started.operation.id);
    const rebuilt = await waitForStatus(s, t, id, 'ACTIVE');
    expect(rebuilt.image).toEqual({ id: other });
    const filtered = await s.ok(
      `query($f: ServerFilter) { servers(filter: $f) { edges { node { id } } } }`,
      { f: { imageId: other } },
      t,
    );
    expect(filtered.servers.edges).toEqual([{ node: { id } }]);
    const names = (await actions(t, id)).map((a) => a.action);
    expect(names[0]).toBe('rebuild');
    await deleteAndWait(s, t, id);
  });

  // The fake driver's snapshot is an empty but valid qcow2, so it passes the upload's format check.
  it('createServerImage gives an active private qcow2 snapshot image', async () => {
    const t = member.token!;
    const id = await activeServer(s, t, { name: 'pictured', imageId, flavorId: small });
    const data = await s.ok(
      `mutation($input: CreateServerImageInput!) { createServerImage(input: $input) { ${ERROR_FIELDS}
        ... on CreateServerImageSuccess { started { server { status taskState } operation { id } image { id status } } } } }`,
      { input: { id, name: 'pictured-snap' } },
      t,
    );
    const started = data.createServerImage.started;
    expect(started.server.taskState).toBe('image_snapshot');
    expect(started.image.status).toBe('queued');
    const op = await waitForOperation(s, t, started.operation.id);
    const image = (
      await s.ok(
        `query($id: ID!) { node(id: $id) { ... on Image { name status diskFormat visibility properties failureReason owner { id } } } }`,
        { id: started.image.id },
        t,
      )
    ).node;
    expect({ op: op.status, error: op.error, failureReason: image.failureReason }).toEqual({
      op: 'SUCCEEDED',
      error: null,
      failureReason: null,
    });
    expect(image).toMatchObject({
      name: 'pictured-snap',
      status: 'active',
      diskFormat: 'qcow2',
      visibility: 'private',
      owner: { id: member.projectId },
      properties: { image_type: 'snapshot', instance_uuid: rawId(id) },
    });
    await waitForStatus(s, t, id, 'ACTIVE');
    await deleteAndWait(s, t, id);
  });
});

describe('a server outlives its image and flavor', () => {
  it('keeps its flavor values, still stops and starts, and its cached base image stays until it is deleted', async () => {
    const member = await seed.member('member');
    const t = member.token!;
    const f = await flavor(s, { vcpus: 2, ramMib: 160, rootDiskGib: 1 });
    const image = await uploadImage(s, t, { name: 'ephemeral', diskFormat: 'raw' }, emptyDisk(2));
    const id = await activeServer(s, t, { name: 'survivor', imageId: image, flavorId: f });
    const cached = path.join(s.config.compute.imageCacheDir, rawId(image));
    expect(fs.existsSync(cached)).toBe(true);

    const delImage = await s.ok(
      `mutation($id: ID!) { deleteImage(id: $id) { __typename ... on Error { message } } }`,
      { id: image },
      t,
    );
    expect(delImage.deleteImage.__typename).toBe('DeleteImageSuccess');
    const delFlavor = await s.ok(
      `mutation($id: ID!) { deleteFlavor(id: $id) { __typename ... on Error { message } } }`,
      { id: f },
      s.adminToken,
    );
    expect(delFlavor.deleteFlavor.__typename).toBe('DeleteFlavorSuccess');

    const after = (await s.ok(FLAVOR_OF, { id }, t)).node;
    expect(after).toMatchObject({
      status: 'ACTIVE',
      flavor: { vcpus: 2, ramMib: 160, rootDiskGib: 1, flavor: null },
      image: null,
    });
    await act(s, t, 'stopServer', { id });
    await waitForStatus(s, t, id, 'SHUTOFF');
    await act(s, t, 'startServer', { id });
    await waitForStatus(s, t, id, 'ACTIVE');
    await act(s, t, 'rebootServer', { id, hard: true }, 'RebootServerInput');
    expect(await quotaInUse(s, member.projectId)).toMatchObject({ cores: 2, ram_mib: 160 });

    // The prune keeps the file while the server lives, even though its image is gone.
    const agent = s.stratus.runtime.compute!;
    expect(await agent.imageCache.prune(s.stratus.runtime.db)).not.toContain(rawId(image));
    expect(fs.existsSync(cached)).toBe(true);
    // The public image the other servers use stays cached too: it is still active.
    expect(fs.existsSync(path.join(s.config.compute.imageCacheDir, rawId(imageId)))).toBe(true);

    await deleteAndWait(s, t, id);
    await agent.imageCache.prune(s.stratus.runtime.db);
    expect(fs.existsSync(cached)).toBe(false);
    expect(fs.existsSync(path.join(s.config.compute.imageCacheDir, rawId(imageId)))).toBe(true);
    expect(await quotaInUse(s, member.projectId)).toMatchObject({ cores: 0, ram_mib: 0 });
  });

  it('a server whose image is gone cannot be rebuilt from it, but can be from another', async () => {
    const member = await seed.member('member');
    const t = member.token!;
    const image = await uploadImage(s, t, { name: 'gone', diskFormat: 'raw' }, emptyDisk());
    const id = await activeServer(s, t, { name: 'orphan', imageId: image, flavorId });
    await s.ok(`mutation($id: ID!) { deleteImage(id: $id) { __typename } }`, { id: image }, t);
    const refused = await serverAction(
      s,
      t,
      'rebuildServer',
      { id, imageId: image },
      'RebuildServerInput',
    );
    expect(refused).toMatchObject({ __typename: 'InvalidInputError', field: 'input.imageId' });
    await act(s, t, 'rebuildServer', { id, imageId }, 'RebuildServerInput');
    expect((await waitForStatus(s, t, id, 'ACTIVE')).image).toEqual({ id: imageId });
    await deleteAndWait(s, t, id);
  });
});
