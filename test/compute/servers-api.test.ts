import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createServer,
  emptyDisk,
  getServer,
  serverAction,
  uploadImage,
  waitForOperation,
  waitForStatus,
} from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import {
  act,
  activeServer,
  deleteAndWait,
  eventually,
  flavor,
  projectRows,
  quickServerMutation,
  quotaInUse,
  serverNames,
  setQuota,
  sqlCount,
  startComputeTestbed,
} from '../support/servers';

/**
 * The servers API through GraphQL on the fake driver: quota under concurrency, input checks,
 * the state machine's refusals and locks. Lists and updateServer: servers-lists.test.ts.
 */

let s: TestStratus;
let seed: Seed;
/** A public raw image and a 1 vCPU / 128 MiB / 1 GiB flavor everyone may use. */
let imageId: string;
let flavorId: string;
beforeAll(async () => {
  ({ s, seed, imageId, flavorId } = await startComputeTestbed());
});
afterAll(async () => {
  await s?.stop();
});

const listNames = (token: string, filter: Record<string, unknown> = {}, first?: number) =>
  serverNames(s, token, filter, first);

describe('quota', () => {
  it('creates and deletes racing in one project all succeed (quota rows locked in one order)', async () => {
    const member = await seed.member('member');
    const t = member.token!;
    await setQuota(s, member.projectId, { instances: -1 });
    const first = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        activeServer(s, t, { name: `old-${i}`, imageId, flavorId }),
      ),
    );
    // Each delete releases quota while each create reserves it, in the same project at once.
    const [created] = await Promise.all([
      Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          activeServer(s, t, { name: `new-${i}`, imageId, flavorId }),
        ),
      ),
      Promise.all(first.map((id) => deleteAndWait(s, t, id))),
    ]);
    expect(created).toHaveLength(6);
    expect(await quotaInUse(s, member.projectId)).toMatchObject({
      instances: 6,
      cores: 6,
      ram_mib: 768,
    });
  });

  it('20 concurrent creates with an instances quota of 5 give exactly 5 servers and 15 typed errors', async () => {
    const member = await seed.member('member');
    const big = await flavor(s, { vcpus: 2, ramMib: 256, rootDiskGib: 1 });
    await setQuota(s, member.projectId, { instances: 5 });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        createServer(s, member.token!, { name: `race-${i}`, imageId, flavorId: big }),
      ),
    );
    const created = results.filter((r) => r.__typename === 'CreateServerSuccess');
    const refused = results.filter((r) => r.__typename !== 'CreateServerSuccess');
    expect(created).toHaveLength(5);
    expect(refused).toHaveLength(15);
    for (const r of refused) {
      expect(r).toMatchObject({
        __typename: 'QuotaExceededError',
        code: 'QUOTA_EXCEEDED',
        resource: 'instances',
        limit: 5,
        requested: 1,
      });
      expect(r.inUse).toBeGreaterThanOrEqual(5);
    }
    for (const c of created) {
      expect((await waitForOperation(s, member.token!, c.created.operation.id)).status).toBe(
        'SUCCEEDED',
      );
    }
    // Nothing of the refused ones is left behind: rows, operations, instance actions, usage.
    expect(await projectRows(s, member.projectId)).toEqual({
      servers: 5,
      operations: 5,
      actions: 5,
    });
    const quota = await quotaInUse(s, member.projectId);
    expect(quota).toMatchObject({ instances: 5, cores: 10, ram_mib: 1280 });
    expect(await listNames(member.token!)).toHaveLength(5);

    // Delete releases instances, cores and RAM.
    const first = created[0].created.server.id;
    await deleteAndWait(s, member.token!, first);
    expect(await quotaInUse(s, member.projectId)).toMatchObject({
      instances: 4,
      cores: 8,
      ram_mib: 1024,
    });
    // count is all or none: 2 more do not fit.
    const two = await createServer(s, member.token!, {
      name: 'pair',
      imageId,
      flavorId: big,
      count: 2,
    });
    expect(two).toMatchObject({ __typename: 'QuotaExceededError', resource: 'instances' });
    expect(await projectRows(s, member.projectId)).toMatchObject({ servers: 5, operations: 6 });
    // cores are a quota of their own.
    await setQuota(s, member.projectId, { instances: 10, cores: 9 });
    const cores = await createServer(s, member.token!, { name: 'cpu', imageId, flavorId: big });
    expect(cores).toMatchObject({
      __typename: 'QuotaExceededError',
      resource: 'cores',
      limit: 9,
      inUse: 8,
      requested: 2,
    });
    expect(await quotaInUse(s, member.projectId)).toMatchObject({ instances: 4, cores: 8 });
  });

  it('ram_mib is reserved for every server of a count and released on delete', async () => {
    const member = await seed.member('member');
    const f = await flavor(s, { vcpus: 1, ramMib: 300, rootDiskGib: 1 });
    await setQuota(s, member.projectId, { ram_mib: 700 });
    const three = await createServer(s, member.token!, {
      name: 'ram',
      imageId,
      flavorId: f,
      count: 3,
    });
    expect(three).toMatchObject({
      __typename: 'QuotaExceededError',
      resource: 'ram_mib',
      requested: 900,
    });
    const two = await createServer(s, member.token!, {
      name: 'ram',
      imageId,
      flavorId: f,
      count: 2,
    });
    expect(two.__typename).toBe('CreateServerSuccess');
    expect(two.created.servers.map((x: { name: string }) => x.name)).toEqual(['ram-1', 'ram-2']);
    expect(await quotaInUse(s, member.projectId)).toMatchObject({
      instances: 2,
      cores: 2,
      ram_mib: 600,
    });
    for (const server of two.created.servers) {
      await waitForStatus(s, member.token!, server.id, 'ACTIVE');
      await deleteAndWait(s, member.token!, server.id);
    }
    expect(await quotaInUse(s, member.projectId)).toMatchObject({
      instances: 0,
      cores: 0,
      ram_mib: 0,
    });
  });
});

describe('bad input', () => {
  let member: SeededUser;
  let queuedImage: string;
  let bigQcow2: string;
  let hungryImage: string;
  let kernelImage: string;
  beforeAll(async () => {
    member = await seed.member('member');
    const token = member.token!;
    const queued = await s.ok(
      `mutation($input: CreateImageInput!) { createImage(input: $input) { ... on CreateImageSuccess { image { id status } } } }`,
      { input: { name: 'queued', diskFormat: 'raw', containerFormat: 'bare' } },
      token,
    );
    queuedImage = queued.createImage.image.id;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-qcow2-'));
    const file = path.join(dir, 'x.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '2G']);
    bigQcow2 = await uploadImage(
      s,
      token,
      { name: 'big', diskFormat: 'qcow2' },
      fs.readFileSync(file),
    );
    fs.rmSync(dir, { recursive: true, force: true });
    hungryImage = await uploadImage(s, token, { name: 'hungry', diskFormat: 'raw' }, emptyDisk());
    const updated = await s.ok(
      `mutation($input: UpdateImageInput!) { updateImage(input: $input) { __typename ... on UpdateImageSuccess { image { minRamMib } } } }`,
      { input: { id: hungryImage, minRamMib: 1024 } },
      token,
    );
    expect(updated.updateImage.image.minRamMib).toBe(1024);
    kernelImage = await uploadImage(
      s,
      token,
      { name: 'kernel', diskFormat: 'aki', containerFormat: 'aki' },
      emptyDisk(),
    );
  });

  it('checks the qcow2 test image really is bigger than the flavor', async () => {
    const data = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Image { status diskFormat virtualSizeBytes } } }`,
      { id: bigQcow2 },
      member.token,
    );
    expect(data.node).toMatchObject({
      status: 'active',
      diskFormat: 'qcow2',
      virtualSizeBytes: 2 * 1024 ** 3,
    });
  });

  const cases: Array<[string, () => Record<string, unknown>, string, RegExp]> = [
    [
      'an unknown image',
      () => ({ imageId: encodeGlobalID('Image', randomUUID()) }),
      'input.imageId',
      /no image/,
    ],
    ['a queued image', () => ({ imageId: queuedImage }), 'input.imageId', /not active/],
    [
      'an image bigger than the flavor disk',
      () => ({ imageId: bigQcow2 }),
      'input.imageId',
      /disk/,
    ],
    [
      'an image whose min_ram the flavor lacks',
      () => ({ imageId: hungryImage }),
      'input.imageId',
      /min_ram/,
    ],
    ['an aki image as root disk', () => ({ imageId: kernelImage }), 'input.imageId', /aki/],
    [
      'an unknown flavor',
      () => ({ flavorId: encodeGlobalID('Flavor', randomUUID()) }),
      'input.flavorId',
      /flavor/i,
    ],
    [
      'an unknown keypair',
      () => ({ keypairId: encodeGlobalID('Keypair', randomUUID()) }),
      'input.keypairId',
      /keypair/i,
    ],
    ['user data over 64 KiB', () => ({ userData: 'x'.repeat(65_537) }), 'input.userData', /65536/],
    [
      'metadata with 129 items',
      () => ({
        metadata: Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v'])),
      }),
      'input.metadata',
      /128/,
    ],
    [
      'a metadata value over 255 characters',
      () => ({ metadata: { k: 'v'.repeat(256) } }),
      'input.metadata.k',
      /255/,
    ],
    ['count 0', () => ({ count: 0 }), 'input.count', /at least 1/],
    ['count 101', () => ({ count: 101 }), 'input.count', /at most 100/],
    ['a tag with a slash', () => ({ tags: ['a/b'] }), 'input.tags.0', /\//],
    ['an empty name', () => ({ name: '' }), 'input.name', /./],
  ];

  it.each(cases)('refuses %s, naming %s', async (_label, extra, field, message) => {
    const res = await createServer(s, member.token!, {
      name: 'bad',
      imageId,
      flavorId,
      ...extra(),
    });
    expect(res).toMatchObject({ __typename: 'InvalidInputError', code: 'BAD_USER_INPUT', field });
    expect(res.message).toMatch(message);
  });

  it('left no rows, operations, actions or quota behind', async () => {
    expect(await projectRows(s, member.projectId)).toEqual({
      servers: 0,
      operations: 0,
      actions: 0,
    });
    expect(await quotaInUse(s, member.projectId)).toMatchObject({
      instances: 0,
      cores: 0,
      ram_mib: 0,
    });
    expect(await listNames(member.token!)).toEqual([]);
  });

  it('user data of exactly 64 KiB is accepted', async () => {
    const res = await createServer(s, member.token!, {
      name: 'full-user-data',
      imageId,
      flavorId,
      userData: 'x'.repeat(65_536),
    });
    expect(res.__typename).toBe('CreateServerSuccess');
    await waitForStatus(s, member.token!, res.created.server.id, 'ACTIVE');
    await deleteAndWait(s, member.token!, res.created.server.id);
  });
});

describe('actions the state does not allow', () => {
  let member: SeededUser;
  let id: string;
  let bigger: string;
  beforeAll(async () => {
    member = await seed.member('member');
    bigger = await flavor(s, { vcpus: 2, ramMib: 256, rootDiskGib: 1 });
    id = await activeServer(s, member.token!, { name: 'stateful', imageId, flavorId });
  });

  const actionCount = async () =>
    (
      await s.ok(
        `query($id: ID!) { node(id: $id) { ... on Server { actions { action } } } }`,
        { id },
        member.token,
      )
    ).node.actions.length;

  it('start, unpause and resume of an ACTIVE server are ServerStateErrors with the status', async () => {
    const before = await actionCount();
    for (const [mutation, action] of [
      ['startServer', 'start'],
      ['unpauseServer', 'unpause'],
      ['resumeServer', 'resume'],
      ['confirmServerResize', 'confirmResize'],
    ]) {
      const res = await serverAction(s, member.token!, mutation, { id });
      expect(res, mutation).toMatchObject({
        __typename: 'ServerStateError',
        code: 'CONFLICT',
        action,
        status: 'ACTIVE',
        taskState: null,
      });
    }
    expect(await getServer(s, member.token!, id)).toMatchObject({
      status: 'ACTIVE',
      taskState: null,
    });
    expect(await actionCount()).toBe(before);
  });

  it('resize of a PAUSED server is refused; after unpause it is ACTIVE again', async () => {
    await act(s, member.token!, 'pauseServer', { id });
    await waitForStatus(s, member.token!, id, 'PAUSED');
    const resize = await serverAction(
      s,
      member.token!,
      'resizeServer',
      { id, flavorId: bigger },
      'ResizeServerInput',
    );
    expect(resize).toMatchObject({
      __typename: 'ServerStateError',
      action: 'resize',
      status: 'PAUSED',
    });
    const pause = await serverAction(s, member.token!, 'pauseServer', { id });
    expect(pause).toMatchObject({ __typename: 'ServerStateError', status: 'PAUSED' });
    const soft = await serverAction(s, member.token!, 'rebootServer', { id }, 'RebootServerInput');
    expect(soft).toMatchObject({ __typename: 'ServerStateError', action: 'reboot' });
    expect(await quotaInUse(s, member.projectId)).toMatchObject({ cores: 1, ram_mib: 128 });
    await act(s, member.token!, 'unpauseServer', { id });
    await waitForStatus(s, member.token!, id, 'ACTIVE');
  });

  it('an action while another runs is refused with the task', async () => {
    const stop = await serverAction(s, member.token!, 'stopServer', { id });
    expect(stop.__typename).toBe('StopServerSuccess');
    const again = await serverAction(
      s,
      member.token!,
      'rebootServer',
      { id, hard: true },
      'RebootServerInput',
    );
    // The stop may already be over on the fake driver; either way the reboot must not race it.
    if (again.__typename === 'ServerStateError') {
      expect(again.taskState === 'powering-off' || again.status === 'SHUTOFF').toBe(true);
    } else {
      await waitForOperation(s, member.token!, again.started.operation.id);
    }
    await waitForOperation(s, member.token!, stop.started.operation.id);
    const server = await eventually(
      () => getServer(s, member.token!, id),
      (v) => expect(v.taskState).toBeNull(),
    );
    expect(['SHUTOFF', 'ACTIVE']).toContain(server.status);
    if (server.status === 'SHUTOFF') await act(s, member.token!, 'startServer', { id });
    await waitForStatus(s, member.token!, id, 'ACTIVE');
  });

  it('an unknown server id is a NotFoundError', async () => {
    const res = await serverAction(s, member.token!, 'stopServer', {
      id: encodeGlobalID('Server', randomUUID()),
    });
    expect(res).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });
});

describe('locks', () => {
  let member: SeededUser;
  let id: string;
  beforeAll(async () => {
    member = await seed.member('member');
    id = await activeServer(s, member.token!, { name: 'lockable', imageId, flavorId });
  });

  it('an admin lock stops a member, not an admin; only an admin lifts it', async () => {
    const locked = await quickServerMutation(s, s.adminToken, 'lockServer', {
      id,
      reason: 'maintenance',
    });
    expect(locked.server).toMatchObject({ locked: true, lockedReason: 'maintenance' });
    const token = member.token!;
    expect(await serverAction(s, token, 'stopServer', { id })).toMatchObject({
      __typename: 'ServerLockedError',
      code: 'CONFLICT',
      message: expect.stringContaining('maintenance'),
    });
    expect(await serverAction(s, token, 'deleteServer', { id })).toMatchObject({
      __typename: 'ServerLockedError',
    });
    expect(await quickServerMutation(s, token, 'updateServer', { id, name: 'x' })).toMatchObject({
      __typename: 'ServerLockedError',
    });
    expect(await quickServerMutation(s, token, 'unlockServer', { id })).toMatchObject({
      __typename: 'ServerLockedError',
    });
    // Locking it again must not turn the admin's lock into the owner's (which the owner may lift).
    const relock = await quickServerMutation(s, token, 'lockServer', { id, reason: 'mine' });
    expect(relock.__typename).not.toBe('LockServerSuccess');
    expect(await quickServerMutation(s, token, 'unlockServer', { id })).toMatchObject({
      __typename: 'ServerLockedError',
    });
    expect((await getServer(s, token, id)).locked).toBe(true);

    // An admin acts on the locked server.
    await act(s, s.adminToken, 'stopServer', { id });
    await waitForStatus(s, token, id, 'SHUTOFF');
    await act(s, s.adminToken, 'startServer', { id });
    await waitForStatus(s, token, id, 'ACTIVE');
    const unlocked = await quickServerMutation(s, s.adminToken, 'unlockServer', { id });
    expect(unlocked.server).toMatchObject({ locked: false, lockedReason: null });
    await act(s, token, 'stopServer', { id });
    await waitForStatus(s, token, id, 'SHUTOFF');
  });

  it("the owner's own lock stops their actions too, and the owner may lift it", async () => {
    const token = member.token!;
    const locked = await quickServerMutation(s, token, 'lockServer', { id, reason: 'careful' });
    expect(locked.server.locked).toBe(true);
    expect(await serverAction(s, token, 'startServer', { id })).toMatchObject({
      __typename: 'ServerLockedError',
    });
    const unlocked = await quickServerMutation(s, token, 'unlockServer', { id });
    expect(unlocked.server.locked).toBe(false);
    await act(s, token, 'startServer', { id });
    const actions = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Server { actions { action message finishTime } } } }`,
      { id },
      token,
    );
    const names = actions.node.actions.map((a: { action: string }) => a.action);
    expect(names.filter((n: string) => n === 'lock')).toHaveLength(2);
    expect(names.filter((n: string) => n === 'unlock')).toHaveLength(2);
  });
});

describe('a Stratus without compute', () => {
  it('answers server mutations with FeatureDisabledError naming why, and the catalog says so', async () => {
    const apiOnly = await startTestStratus({
      compute: { ...s.config.compute, driver: 'none' },
    });
    try {
      const member = await new Seed(apiOnly).member('member');
      const disk = await uploadImage(
        apiOnly,
        member.token!,
        { name: 'd', diskFormat: 'raw' },
        emptyDisk(),
      );
      const f = await flavor(apiOnly, { vcpus: 1, ramMib: 128, rootDiskGib: 1 });
      const result = await createServer(apiOnly, member.token!, {
        name: 'x',
        imageId: disk,
        flavorId: f,
      });
      expect(result).toMatchObject({
        __typename: 'FeatureDisabledError',
        code: 'FEATURE_DISABLED',
      });
      expect(result.message).toContain('STRATUS_COMPUTE_DRIVER is none');
      expect(await sqlCount(apiOnly, 'select count(*) from servers', [])).toBe(0);
      const catalog = await apiOnly.ok(
        `{ catalog { drivers { kind implementation healthy } } }`,
        {},
        member.token,
      );
      expect(catalog.catalog.drivers).toContainEqual({
        kind: 'compute',
        implementation: null,
        healthy: false,
      });
    } finally {
      await apiOnly.stop();
    }
  });
});
