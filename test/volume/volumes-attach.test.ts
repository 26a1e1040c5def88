import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeComputeOptions } from '../../drivers/compute/fake';
import { claimBootVolume } from '../../resolvers/volumes/boot';
import { rawId, waitForOperation, waitForStatus } from '../support/compute';
import type { TestStratus } from '../support/harness';
import type { Seed, SeededUser } from '../support/seed';
import {
  act,
  activeServer,
  deleteAndWait,
  quotaInUse,
  sqlCount,
  startComputeTestbed,
} from '../support/servers';
import {
  availableVolume,
  getVolume,
  volumeAct,
  volumeFile,
  volumeMutation,
} from './volumes-support';

/**
 * Attach, detach and online extend through the API on the fake compute driver (its hot-plug
 * is simulated; the volumes are real qcow2 files from the file driver): the status machine,
 * the attachments on both sides, the events of the volume subscription, the detach timeout,
 * and what deleting a server does to its volumes.
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

/** The fake driver's knobs, changed in place (a test double: the guest stops answering ejects). */
const fakeOptions = () =>
  (s.stratus.runtime.compute!.driver as unknown as { options: FakeComputeOptions }).options;

const server = (name: string, t = token) => activeServer(s, t, { name, imageId, flavorId });

const attach = (
  volumeId: string,
  serverId: string,
  extra: Record<string, unknown> = {},
  t = token,
) => volumeMutation(s, t, 'attachVolume', 'AttachVolumeInput', { volumeId, serverId, ...extra });
const detach = (volumeId: string, serverId: string, t = token) =>
  volumeMutation(s, t, 'detachVolume', 'DetachVolumeInput', { volumeId, serverId });

const counts = async () => ({
  attachments: await sqlCount(s, 'select count(*) from volume_attachments', []),
  operations: await sqlCount(s, 'select count(*) from operations', []),
});

async function attached(volumeId: string, serverId: string): Promise<void> {
  const started = await attach(volumeId, serverId);
  if (!started.started) throw new Error(JSON.stringify(started));
  const op = await waitForOperation(s, token, started.started.operation.id);
  expect(op.status, JSON.stringify(op)).toBe('SUCCEEDED');
}

describe('attach, extend online, detach', () => {
  it('goes available → attaching → in-use → extending → in-use → detaching → available, with events', async () => {
    const serverId = await server('attach-1');
    const volumeId = await availableVolume(s, token, { sizeGib: 1, name: 'data' });
    const sub = s.subscribe(
      `subscription($id: ID!) { volume(id: $id) { status sizeGib attachments { device } } }`,
      { id: volumeId },
      token,
    );
    await sub.waitFor(1);

    const started = await attach(volumeId, serverId);
    expect(started.started.volume.status).toBe('ATTACHING');
    expect(started.started.volume.attachments).toEqual([
      expect.objectContaining({ status: 'ATTACHING', device: null, server: { id: serverId } }),
    ]);
    const op = await waitForOperation(s, token, started.started.operation.id);
    expect(op).toMatchObject({
      status: 'SUCCEEDED',
      stages: [
        { name: 'connecting', status: 'DONE' },
        { name: 'hot-plugging', status: 'DONE' },
      ],
    });
    expect(await getVolume(s, token, volumeId)).toMatchObject({
      status: 'IN_USE',
      attachments: [{ device: '/dev/vdb', status: 'ATTACHED', server: { id: serverId } }],
    });
    const fromServer = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Server { volumeAttachments { device volume { id } } } } }`,
      { id: serverId },
      token,
    );
    expect(fromServer.node.volumeAttachments).toEqual([
      { device: '/dev/vdb', volume: { id: volumeId } },
    ]);

    const extended = await volumeAct(s, token, 'extendVolume', 'ExtendVolumeInput', {
      id: volumeId,
      newSizeGib: 3,
    });
    expect(extended.operation).toMatchObject({
      status: 'SUCCEEDED',
      stages: [{ name: 'extending-backend' }, { name: 'resizing-guest-device' }],
    });
    expect(await getVolume(s, token, volumeId)).toMatchObject({ status: 'IN_USE', sizeGib: 3 });

    const detached = await volumeAct(s, token, 'detachVolume', 'DetachVolumeInput', {
      volumeId,
      serverId,
    });
    expect(detached.operation.status).toBe('SUCCEEDED');
    expect(await getVolume(s, token, volumeId)).toMatchObject({
      status: 'AVAILABLE',
      attachments: [],
      fault: null,
    });

    const updates = (await sub.waitFor(7)).map((v) => v.data.volume);
    sub.close();
    expect(updates.map((v) => [v.status, v.sizeGib])).toEqual([
      ['AVAILABLE', 1],
      ['ATTACHING', 1],
      ['IN_USE', 1],
      ['EXTENDING', 1],
      ['IN_USE', 3],
      ['DETACHING', 3],
      ['AVAILABLE', 3],
    ]);
  });
});

describe('bad input: a typed error, nothing written', () => {
  it('attaching a volume that is in use (to another server, or again)', async () => {
    const a = await server('busy-a');
    const b = await server('busy-b');
    const volumeId = await availableVolume(s, token, { sizeGib: 1 });
    await attached(volumeId, a);
    const before = await counts();
    for (const target of [b, a]) {
      const refused = await attach(volumeId, target);
      expect(refused).toMatchObject({
        __typename: 'VolumeStateError',
        resource: 'volume',
        status: 'in-use',
        expected: ['available'],
      });
    }
    expect(await counts()).toEqual(before);
    // Deleting or snapshotting an attached volume is refused too.
    const del = await volumeMutation(s, token, 'deleteVolume', 'DeleteVolumeInput', {
      id: volumeId,
    });
    expect(del).toMatchObject({ __typename: 'VolumeStateError', status: 'in-use' });
    expect(await counts()).toEqual(before);
  });

  it('attaching a volume of another project: not found for a member, refused for an admin', async () => {
    const volumeId = await availableVolume(s, token, { sizeGib: 1 });
    const bob = await seed.member('member');
    const bobServer = await server('bob-server', bob.token!);
    const before = await counts();
    const asBob = await attach(volumeId, bobServer, {}, bob.token!);
    expect(asBob).toMatchObject({ __typename: 'NotFoundError', resource: 'volume' });
    // ...and Alice cannot reach Bob's server.
    const asAlice = await attach(volumeId, bobServer);
    expect(asAlice).toMatchObject({ __typename: 'NotFoundError', resource: 'server' });
    const asAdmin = await attach(volumeId, bobServer, {}, s.adminToken);
    expect(asAdmin).toMatchObject({ __typename: 'InvalidInputError', field: 'input.volumeId' });
    expect(await counts()).toEqual(before);
    expect(await getVolume(s, token, volumeId)).toMatchObject({ status: 'AVAILABLE' });
  });

  it('detaching from a stopped server, attaching to one', async () => {
    const serverId = await server('stopped');
    const volumeId = await availableVolume(s, token, { sizeGib: 1 });
    const spare = await availableVolume(s, token, { sizeGib: 1 });
    await attached(volumeId, serverId);
    await act(s, token, 'stopServer', { id: serverId });
    await waitForStatus(s, token, serverId, 'SHUTOFF');
    const before = await counts();
    const refused = await detach(volumeId, serverId);
    expect(refused).toMatchObject({
      __typename: 'ServerStateError',
      action: 'detachVolume',
      status: 'SHUTOFF',
    });
    const refusedAttach = await attach(spare, serverId);
    expect(refusedAttach).toMatchObject({ __typename: 'ServerStateError', status: 'SHUTOFF' });
    expect(await counts()).toEqual(before);
    expect(await getVolume(s, token, volumeId)).toMatchObject({ status: 'IN_USE' });
    expect(await getVolume(s, token, spare)).toMatchObject({ status: 'AVAILABLE' });
    // Nor is an attached volume extended while its server is off.
    const ext = await volumeMutation(s, token, 'extendVolume', 'ExtendVolumeInput', {
      id: volumeId,
      newSizeGib: 2,
    });
    expect(ext).toMatchObject({ __typename: 'ServerStateError', status: 'SHUTOFF' });
  });

  it('detaching a volume that is not attached to that server', async () => {
    const a = await server('not-attached');
    const volumeId = await availableVolume(s, token, { sizeGib: 1 });
    const refused = await detach(volumeId, a);
    expect(refused).toMatchObject({ __typename: 'InvalidInputError', field: 'input.serverId' });
  });
});

describe('detach timeout', () => {
  it('a guest that never releases the device: in-use again with a fault, DETACH_TIMEOUT; a retry works', async () => {
    const serverId = await server('stubborn');
    const volumeId = await availableVolume(s, token, { sizeGib: 1 });
    await attached(volumeId, serverId);
    fakeOptions().guestIgnoresDetach = true;
    try {
      const started = await detach(volumeId, serverId);
      expect(started.started.volume.status).toBe('DETACHING');
      const op = await waitForOperation(s, token, started.started.operation.id);
      expect(op).toMatchObject({ status: 'FAILED', error: { code: 'DETACH_TIMEOUT' } });
      expect(await getVolume(s, token, volumeId)).toMatchObject({
        status: 'IN_USE',
        fault: { code: 'DETACH_TIMEOUT' },
        attachments: [{ status: 'ATTACHED', server: { id: serverId } }],
      });
    } finally {
      fakeOptions().guestIgnoresDetach = false;
    }
    const retried = await volumeAct(s, token, 'detachVolume', 'DetachVolumeInput', {
      volumeId,
      serverId,
    });
    expect(retried.operation.status).toBe('SUCCEEDED');
    expect(await getVolume(s, token, volumeId)).toMatchObject({
      status: 'AVAILABLE',
      fault: null,
      attachments: [],
    });
  });
});

describe('deleting a server', () => {
  it('detaches its volumes and deletes the delete-on-termination ones', async () => {
    const project = await seed.project();
    const bob = await seed.member('member', project);
    const t = bob.token!;
    const serverId = await server('doomed', t);
    const keep = await availableVolume(s, t, { sizeGib: 1, name: 'keep' });
    const drop = await availableVolume(s, t, { sizeGib: 2, name: 'drop' });
    for (const [volumeId, deleteOnTermination] of [
      [keep, false],
      [drop, true],
    ] as const) {
      const started = await attach(volumeId, serverId, { deleteOnTermination }, t);
      const op = await waitForOperation(s, t, started.started.operation.id);
      expect(op.status).toBe('SUCCEEDED');
    }
    expect(await quotaInUse(s, project)).toMatchObject({ volumes: 2, gigabytes: 3 });
    await deleteAndWait(s, t, serverId);
    expect(await getVolume(s, t, keep)).toMatchObject({ status: 'AVAILABLE', attachments: [] });
    await expect.poll(() => getVolume(s, t, drop), { timeout: 20_000 }).toBeNull();
    expect(await quotaInUse(s, project)).toMatchObject({ volumes: 1, gigabytes: 1 });
  });
});

describe('boot volume records (for boot from volume)', () => {
  it('claimBootVolume makes the volume the root disk: in-use on /dev/vda, not detachable, deleted with the server', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const serverId = await server('booted', t);
    const volumeId = await availableVolume(s, t, { sizeGib: 1 });
    const spec = await claimBootVolume(s.stratus.runtime, rawId(volumeId), rawId(serverId), true);
    expect(spec).toMatchObject({ volumeId: rawId(volumeId), driver: 'qcow2' });
    expect(spec.path).toBe(volumeFile(s, volumeId));
    expect(await getVolume(s, t, volumeId)).toMatchObject({
      status: 'IN_USE',
      attachments: [{ device: '/dev/vda', deleteOnTermination: true, server: { id: serverId } }],
    });
    const refused = await detach(volumeId, serverId, t);
    expect(refused).toMatchObject({ __typename: 'InvalidInputError', field: 'input.volumeId' });
    await deleteAndWait(s, t, serverId);
    await expect.poll(() => getVolume(s, t, volumeId), { timeout: 20_000 }).toBeNull();
    expect(await quotaInUse(s, project)).toMatchObject({ volumes: 0, gigabytes: 0 });
  });
});
