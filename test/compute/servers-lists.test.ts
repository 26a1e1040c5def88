import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyDisk, getServer, uploadImage, waitForStatus } from '../support/compute';
import type { TestStratus } from '../support/harness';
import type { Seed, SeededUser } from '../support/seed';
import {
  act,
  activeServer,
  deleteAndWait,
  flavor,
  quickServerMutation,
  SERVER_LIST,
  serverNames,
  startComputeTestbed,
} from '../support/servers';

/**
 * Server lists (filters, admin scopes, totalCount, pages, changedSince) and updateServer with
 * its events on the `servers` subscription, on the fake driver.
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

describe('lists', () => {
  let member: SeededUser;
  let other: SeededUser;
  let image2: string;
  let flavor2: string;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    member = await seed.member('member');
    other = await seed.member('member');
    const token = member.token!;
    image2 = await uploadImage(s, token, { name: 'second', diskFormat: 'raw' }, emptyDisk());
    flavor2 = await flavor(s, { vcpus: 2, ramMib: 192, rootDiskGib: 1 });
    ids.alpha = await activeServer(s, token, {
      name: 'alpha-web',
      imageId,
      flavorId,
      tags: ['web', 'prod'],
    });
    ids.beta = await activeServer(s, token, {
      name: 'beta-db',
      imageId,
      flavorId,
      tags: ['db', 'prod'],
    });
    ids.gamma = await activeServer(s, token, {
      name: 'gamma-WEB',
      imageId: image2,
      flavorId: flavor2,
      tags: ['web'],
    });
    await act(s, token, 'stopServer', { id: ids.gamma });
    await waitForStatus(s, token, ids.gamma, 'SHUTOFF');
    ids.delta = await activeServer(s, other.token!, { name: 'delta-other', imageId, flavorId });
  });

  it('filters by status, name, image, flavor and tags', async () => {
    const t = member.token!;
    expect(await listNames(t)).toEqual(['alpha-web', 'beta-db', 'gamma-WEB']);
    expect(await listNames(t, { status: 'ACTIVE' })).toEqual(['alpha-web', 'beta-db']);
    expect(await listNames(t, { status: 'SHUTOFF' })).toEqual(['gamma-WEB']);
    expect(await listNames(t, { status: 'ERROR' })).toEqual([]);
    expect(await listNames(t, { name: 'web' })).toEqual(['alpha-web', 'gamma-WEB']);
    expect(await listNames(t, { name: 'A-D' })).toEqual(['beta-db']);
    expect(await listNames(t, { name: '%' })).toEqual([]);
    expect(await listNames(t, { imageId: image2 })).toEqual(['gamma-WEB']);
    expect(await listNames(t, { imageId })).toEqual(['alpha-web', 'beta-db']);
    expect(await listNames(t, { flavorId: flavor2 })).toEqual(['gamma-WEB']);
    expect(await listNames(t, { tags: ['prod'] })).toEqual(['alpha-web', 'beta-db']);
    expect(await listNames(t, { tags: ['web', 'prod'] })).toEqual(['alpha-web']);
    expect(await listNames(t, { tags: ['web', 'db'] })).toEqual([]);
    expect(await listNames(t, { status: 'ACTIVE', tags: ['web'] })).toEqual(['alpha-web']);
  });

  it('counts and pages newest first', async () => {
    const t = member.token!;
    const page1 = await s.ok(SERVER_LIST, { first: 2 }, t);
    expect(page1.servers.totalCount).toBe(3);
    expect(page1.servers.pageInfo.hasNextPage).toBe(true);
    const page2 = await s.ok(SERVER_LIST, { first: 2, after: page1.servers.pageInfo.endCursor }, t);
    expect(page2.servers.totalCount).toBe(3);
    expect(page2.servers.pageInfo.hasNextPage).toBe(false);
    const order = [...page1.servers.edges, ...page2.servers.edges].map(
      (e: { node: { name: string } }) => e.node.name,
    );
    expect(order).toEqual(['gamma-WEB', 'beta-db', 'alpha-web']);
    const filtered = await s.ok(SERVER_LIST, { filter: { tags: ['web'] }, first: 1 }, t);
    expect(filtered.servers.totalCount).toBe(2);
    expect(filtered.servers.edges).toHaveLength(1);
  });

  it('admins list one project or every project; members only ever their own', async () => {
    const all = await listNames(s.adminToken, { allProjects: true });
    expect(all).toEqual(
      expect.arrayContaining(['alpha-web', 'beta-db', 'gamma-WEB', 'delta-other']),
    );
    expect(await listNames(s.adminToken, { projectId: other.projectId })).toEqual(['delta-other']);
    expect(
      await listNames(s.adminToken, { projectId: member.projectId, status: 'SHUTOFF' }),
    ).toEqual(['gamma-WEB']);
    // Without a filter an admin sees the admin project's servers, none of these.
    expect(await listNames(s.adminToken)).not.toContain('alpha-web');
    expect(await listNames(member.token!, { allProjects: true })).toEqual([
      'alpha-web',
      'beta-db',
      'gamma-WEB',
    ]);
    expect(await listNames(member.token!, { projectId: other.projectId })).toEqual([
      'alpha-web',
      'beta-db',
      'gamma-WEB',
    ]);
    expect(await listNames(other.token!, { allProjects: true })).toEqual(['delta-other']);
    const res = await s.ok(SERVER_LIST, { filter: { allProjects: true } }, s.adminToken);
    expect(res.servers.totalCount).toBeGreaterThanOrEqual(4);
  });

  it('changedSince lists what changed after the instant, deleted servers included', async () => {
    const t = member.token!;
    await new Promise((r) => setTimeout(r, 20));
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    expect(await listNames(t, { changedSince: since })).toEqual([]);
    const renamed = await quickServerMutation(s, t, 'updateServer', {
      id: ids.beta,
      name: 'beta-db',
    });
    expect(renamed.__typename).toBe('UpdateServerSuccess');
    expect(await listNames(t, { changedSince: since })).toEqual(['beta-db']);
    await deleteAndWait(s, t, ids.gamma);
    expect(await listNames(t, { changedSince: since })).toEqual(['beta-db', 'gamma-WEB']);
    expect(await listNames(t)).toEqual(['alpha-web', 'beta-db']);
    expect(await listNames(t, { status: 'DELETED' })).toEqual(['gamma-WEB']);
    expect(await listNames(t, { includeDeleted: true })).toEqual([
      'alpha-web',
      'beta-db',
      'gamma-WEB',
    ]);
    // A deleted server stays readable by id, as in Nova.
    expect(await getServer(s, t, ids.gamma)).toMatchObject({ status: 'DELETED' });
  });
});

describe('updateServer', () => {
  it('renames, replaces metadata and tags, each an event on the servers subscription', async () => {
    const member = await seed.member('member');
    const t = member.token!;
    const id = await activeServer(s, t, {
      name: 'before',
      imageId,
      flavorId,
      metadata: { a: '1' },
      tags: ['x'],
    });
    const sub = s.subscribe(`subscription { servers { id name metadata tags status } }`, {}, t);
    // Changes flow once the subscription is live: touch the server until the first arrives.
    for (let i = 0; sub.values.length === 0 && i < 50; i++) {
      await quickServerMutation(s, t, 'updateServer', { id, name: `priming-${i}` });
      await new Promise((r) => setTimeout(r, 100));
    }
    const primed = sub.values.length;
    expect(primed).toBeGreaterThan(0);

    const renamed = await quickServerMutation(s, t, 'updateServer', { id, name: 'after' });
    expect(renamed.server).toMatchObject({ name: 'after', metadata: { a: '1' }, tags: ['x'] });
    const meta = await quickServerMutation(s, t, 'updateServer', {
      id,
      metadata: { role: 'web', tier: 'front' },
    });
    expect(meta.server).toMatchObject({ name: 'after', metadata: { role: 'web', tier: 'front' } });
    const tags = await quickServerMutation(s, t, 'updateServer', { id, tags: ['b', 'a', 'b'] });
    expect(tags.server.tags).toEqual(['b', 'a']);
    const bad = await quickServerMutation(s, t, 'updateServer', { id, tags: ['x,y'] });
    expect(bad).toMatchObject({ __typename: 'InvalidInputError', field: 'input.tags.0' });
    const badName = await quickServerMutation(s, t, 'updateServer', { id, name: '' });
    expect(badName).toMatchObject({ __typename: 'InvalidInputError', field: 'input.name' });

    const values = await sub.waitFor(primed + 3);
    const seen = values.slice(primed).map((v) => v.data.servers);
    expect(seen.slice(0, 3)).toEqual([
      { id, name: 'after', metadata: { a: '1' }, tags: ['x'], status: 'ACTIVE' },
      {
        id,
        name: 'after',
        metadata: { role: 'web', tier: 'front' },
        tags: ['x'],
        status: 'ACTIVE',
      },
      {
        id,
        name: 'after',
        metadata: { role: 'web', tier: 'front' },
        tags: ['b', 'a'],
        status: 'ACTIVE',
      },
    ]);
    // The refused updates published nothing.
    await new Promise((r) => setTimeout(r, 200));
    expect(sub.values).toHaveLength(primed + 3);
    sub.close();

    const actions = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Server { actions { action finishTime user { id } } } } }`,
      { id },
      t,
    );
    const updates = actions.node.actions.filter((a: { action: string }) => a.action === 'update');
    expect(updates.length).toBeGreaterThanOrEqual(3);
    expect(updates[0].finishTime).not.toBeNull();
    expect(updates[0].user).toEqual({ id: member.userId });
    const listed = await s.ok(SERVER_LIST, { filter: { tags: ['a'] } }, t);
    expect(listed.servers.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([id]);
  });

  it('an update of an unknown server is a NotFoundError', async () => {
    const member = await seed.member('member');
    const res = await quickServerMutation(s, member.token!, 'updateServer', {
      id: encodeGlobalID('Server', randomUUID()),
      name: 'x',
    });
    expect(res).toMatchObject({ __typename: 'NotFoundError', resource: 'server' });
  });
});
