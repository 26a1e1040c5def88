import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, ERROR_FIELDS, serverAction, waitForStatus } from '../support/compute';
import type { TestStratus } from '../support/harness';
import type { Seed, SeededUser } from '../support/seed';
import {
  activeServer,
  eventually,
  flavor,
  quickServerMutation,
  startComputeTestbed,
} from '../support/servers';

/**
 * Tenant isolation of servers, server groups and instance actions, the reader/member split,
 * and the admin-only fields (host, fault details, hypervisors).
 */

let s: TestStratus;
let seed: Seed;
let imageId: string;
let flavorId: string;
/** Project A: a member who owns the server and group, and a reader. */
let owner: SeededUser;
let reader: SeededUser;
/** Project B: a member of another project. */
let stranger: SeededUser;
let serverId: string;
let groupId: string;
/** A server of A that ended in ERROR (anti-affinity with one host), with a fault. */
let brokenId: string;

const CREATE_GROUP = `mutation($input: CreateServerGroupInput!) { createServerGroup(input: $input) {
  __typename ... on Error { message code } ... on CreateServerGroupSuccess { serverGroup { id name policy } } } }`;
const DELETE_GROUP = `mutation($id: ID!) { deleteServerGroup(id: $id) {
  __typename ... on Error { message code } ... on NotFoundError { resource } } }`;

beforeAll(async () => {
  ({ s, seed, imageId, flavorId } = await startComputeTestbed());
  owner = await seed.member('member');
  reader = await seed.member('reader', owner.projectId);
  stranger = await seed.member('member');
  const group = await s.ok(
    CREATE_GROUP,
    { input: { name: 'apart', policy: 'ANTI_AFFINITY' } },
    owner.token,
  );
  groupId = group.createServerGroup.serverGroup.id;
  serverId = await activeServer(s, owner.token!, {
    name: 'private',
    imageId,
    flavorId,
    serverGroupId: groupId,
  });
  const second = await createServer(s, owner.token!, {
    name: 'broken',
    imageId,
    flavorId,
    serverGroupId: groupId,
  });
  brokenId = second.created.server.id;
  await waitForStatus(s, owner.token!, brokenId, 'ERROR');
});
afterAll(async () => {
  await s?.stop();
});

const NODE = `query($id: ID!) { node(id: $id) { id ... on Server { name actions { action requestId } } ... on ServerGroup { name members { id } } } }`;
const LIST = `{ servers(filter: { allProjects: true }) { totalCount edges { node { id } } }
  serverGroups { totalCount edges { node { id } } } }`;

describe('another project', () => {
  it('cannot see the servers, server groups or instance actions', async () => {
    for (const id of [serverId, brokenId, groupId]) {
      const res = await s.ok(NODE, { id }, stranger.token);
      expect(res.node, id).toBeNull();
    }
    const lists = await s.ok(LIST, {}, stranger.token);
    expect(lists.servers).toEqual({ totalCount: 0, edges: [] });
    expect(lists.serverGroups).toEqual({ totalCount: 0, edges: [] });
    const named = await s.ok(
      `query($f: ServerFilter) { servers(filter: $f) { totalCount } }`,
      { f: { projectId: owner.projectId, name: 'private' } },
      stranger.token,
    );
    expect(named.servers.totalCount).toBe(0);
    // The owner sees both, and the group's members.
    const own = await s.ok(NODE, { id: groupId }, owner.token);
    expect(own.node.members.map((m: { id: string }) => m.id).sort()).toEqual(
      [serverId, brokenId].sort(),
    );
  });

  it('cannot act on them: NotFoundError for every action', async () => {
    const t = stranger.token!;
    for (const mutation of [
      'stopServer',
      'pauseServer',
      'deleteServer',
      'confirmServerResize',
      'revertServerResize',
    ]) {
      expect(await serverAction(s, t, mutation, { id: serverId }), mutation).toMatchObject({
        __typename: 'NotFoundError',
      });
    }
    expect(
      await serverAction(s, t, 'rebootServer', { id: serverId, hard: true }, 'RebootServerInput'),
    ).toMatchObject({ __typename: 'NotFoundError' });
    expect(
      await serverAction(
        s,
        t,
        'resizeServer',
        { id: serverId, flavorId: await flavor(s, { vcpus: 2 }) },
        'ResizeServerInput',
      ),
    ).toMatchObject({ __typename: 'NotFoundError' });
    expect(
      await serverAction(s, t, 'rebuildServer', { id: serverId, imageId }, 'RebuildServerInput'),
    ).toMatchObject({ __typename: 'NotFoundError' });
    const snapshot = await s.ok(
      `mutation($input: CreateServerImageInput!) { createServerImage(input: $input) { ${ERROR_FIELDS} } }`,
      { input: { id: serverId, name: 'stolen' } },
      t,
    );
    expect(snapshot.createServerImage.__typename).toBe('NotFoundError');
    for (const [mutation, input] of [
      ['updateServer', { id: serverId, name: 'mine' }],
      ['lockServer', { id: serverId }],
      ['unlockServer', { id: serverId }],
    ] as const) {
      expect(await quickServerMutation(s, t, mutation, input), mutation).toMatchObject({
        __typename: 'NotFoundError',
      });
    }
    const del = await s.ok(DELETE_GROUP, { id: groupId }, t);
    expect(del.deleteServerGroup).toMatchObject({ __typename: 'NotFoundError' });
    const join = await createServer(s, t, {
      name: 'intruder',
      imageId,
      flavorId,
      serverGroupId: groupId,
    });
    expect(join).toMatchObject({ __typename: 'InvalidInputError', field: 'input.serverGroupId' });
    // Nothing changed.
    const own = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Server { name status locked } } }`,
      { id: serverId },
      owner.token,
    );
    expect(own.node).toEqual({ name: 'private', status: 'ACTIVE', locked: false });
  });

  it('cannot subscribe to a server or its instance actions', async () => {
    const t = stranger.token!;
    const one = s.subscribe(
      `subscription($id: ID!) { server(id: $id) { id name } }`,
      { id: serverId },
      t,
    );
    const actions = s.subscribe(
      `subscription($id: ID!) { instanceActions(serverId: $id) { id action } }`,
      { id: serverId },
      t,
    );
    // Each ends at once with one typed error and no data.
    const refusal = async (sub: typeof one) => {
      const end = await sub.ended;
      sub.close();
      expect(end.error).toBeUndefined();
      expect(sub.values).toHaveLength(1);
      expect(sub.values[0].data ?? null).toBeNull();
      return sub.values[0].errors;
    };
    for (const sub of [one, actions]) {
      expect(await refusal(sub)).toEqual([
        expect.objectContaining({ extensions: expect.objectContaining({ code: 'NOT_FOUND' }) }),
      ]);
    }
    const badCursor = s.subscribe(`subscription { servers(after: "x") { id } }`, {}, t);
    expect(await refusal(badCursor)).toEqual([
      expect.objectContaining({
        extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'after' }),
      }),
    ]);
    // The owner's subscription to the same server does get it.
    const mine = s.subscribe(
      `subscription($id: ID!) { server(id: $id) { id name } }`,
      { id: serverId },
      owner.token,
    );
    const [first] = await mine.waitFor(1);
    expect(first.data.server).toEqual({ id: serverId, name: 'private' });
    mine.close();
  });

  it("receives nothing of another project's servers on the projectwide subscription", async () => {
    const strangerServer = await activeServer(s, stranger.token!, {
      name: 'strangers-own',
      imageId,
      flavorId,
    });
    const sub = s.subscribe(`subscription { servers { id name } }`, {}, stranger.token);
    const actionSub = s.subscribe(
      `subscription($id: ID!) { instanceActions(serverId: $id) { action } }`,
      { id: strangerServer },
      stranger.token,
    );
    for (let i = 0; sub.values.length === 0 && i < 50; i++) {
      await quickServerMutation(s, stranger.token!, 'updateServer', {
        id: strangerServer,
        name: `primer-${i}`,
      });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sub.values.length).toBeGreaterThan(0);
    // Changes in project A: an update, a lock and unlock, a reboot.
    await quickServerMutation(s, owner.token!, 'updateServer', { id: serverId, name: 'private-2' });
    await quickServerMutation(s, owner.token!, 'lockServer', { id: serverId });
    await quickServerMutation(s, owner.token!, 'unlockServer', { id: serverId });
    const reboot = await serverAction(
      s,
      owner.token!,
      'rebootServer',
      { id: serverId, hard: true },
      'RebootServerInput',
    );
    expect(reboot.__typename).toBe('RebootServerSuccess');
    await waitForStatus(s, owner.token!, serverId, 'ACTIVE');
    // Then one in B: once it arrives, everything before it has been delivered (or filtered).
    await quickServerMutation(s, stranger.token!, 'updateServer', {
      id: strangerServer,
      name: 'marker',
    });
    await eventually(
      async () => sub.values.map((v) => v.data?.servers?.name),
      (names) => expect(names).toContain('marker'),
    );
    for (const v of sub.values) expect(v.data.servers.id).toBe(strangerServer);
    for (const v of actionSub.values) expect(v.data.instanceActions.action).toBe('update');
    sub.close();
    actionSub.close();
  });
});

describe('readers', () => {
  it('list and read servers, groups and actions', async () => {
    const lists = await s.ok(LIST, {}, reader.token);
    expect(lists.servers.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual(
      [serverId, brokenId].sort(),
    );
    expect(lists.serverGroups.edges).toEqual([{ node: { id: groupId } }]);
    const node = await s.ok(NODE, { id: serverId }, reader.token);
    expect(node.node.actions.map((a: { action: string }) => a.action)).toContain('create');
    const sub = s.subscribe(
      `subscription($id: ID!) { server(id: $id) { id } }`,
      { id: serverId },
      reader.token,
    );
    expect((await sub.waitFor(1))[0].data.server.id).toBe(serverId);
    sub.close();
  });

  it('cannot create or act: FORBIDDEN', async () => {
    const t = reader.token!;
    const forbidden = async (query: string, variables: Record<string, unknown>) => {
      const res = await s.gql(query, variables, t);
      expect(res.errors?.[0]?.extensions?.code, query).toBe('FORBIDDEN');
    };
    await forbidden(
      `mutation($input: CreateServerInput!) { createServer(input: $input) { __typename } }`,
      { input: { name: 'nope', imageId, flavorId } },
    );
    for (const mutation of ['stopServer', 'deleteServer', 'pauseServer']) {
      await forbidden(
        `mutation($input: ServerIdInput!) { ${mutation}(input: $input) { __typename } }`,
        { input: { id: serverId } },
      );
    }
    await forbidden(
      `mutation($input: UpdateServerInput!) { updateServer(input: $input) { __typename } }`,
      { input: { id: serverId, name: 'reader-was-here' } },
    );
    await forbidden(
      `mutation($input: LockServerInput!) { lockServer(input: $input) { __typename } }`,
      { input: { id: serverId } },
    );
    await forbidden(
      `mutation($input: CreateServerImageInput!) { createServerImage(input: $input) { __typename } }`,
      { input: { id: serverId, name: 'snap' } },
    );
    await forbidden(CREATE_GROUP, { input: { name: 'g', policy: 'AFFINITY' } });
    await forbidden(DELETE_GROUP, { id: groupId });
    const stillThere = await s.ok(NODE, { id: groupId }, owner.token);
    expect(stillThere.node.name).toBe('apart');
  });

  it('a user without a role on the project sees nothing', async () => {
    const nobody = await seed.member(null);
    const res = await s.gql(LIST, {}, nobody.token);
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const node = await s.ok(NODE, { id: serverId }, nobody.token);
    expect(node.node).toBeNull();
  });
});

describe('admin-only fields', () => {
  const DETAIL = `query($id: ID!) { node(id: $id) { ... on Server { id name status host
    fault { code message details } actions { action events { event result details } } } } }`;

  it('a member gets null host with FORBIDDEN at its path and the rest of the data', async () => {
    const res = await s.gql(DETAIL, { id: serverId }, owner.token);
    expect(res.data?.node).toMatchObject({
      id: serverId,
      status: 'ACTIVE',
      host: null,
      fault: null,
    });
    const hostError = res.errors?.find((e) => e.path?.join('.') === 'node.host');
    expect(hostError?.extensions?.code).toBe('FORBIDDEN');
    const admin = await s.ok(DETAIL.replace(/ details/g, ''), { id: serverId }, s.adminToken);
    expect(admin.node.host).toBe(s.config.compute.hostname);
  });

  it('a member sees the fault message but not its details; an admin sees both', async () => {
    const res = await s.gql(DETAIL, { id: brokenId }, owner.token);
    const node = res.data?.node;
    expect(node).toMatchObject({ status: 'ERROR', host: null });
    expect(node.fault.message).toMatch(/No valid host/);
    expect(node.fault.details).toBeNull();
    const paths = (res.errors ?? []).map((e) => e.path?.join('.'));
    expect(paths).toContain('node.fault.details');
    for (const e of res.errors ?? []) expect(e.extensions?.code).toBe('FORBIDDEN');
    const create = node.actions.find((a: { action: string }) => a.action === 'create');
    const failed = create.events.find((e: { result: string }) => e.result === 'Error');
    expect(failed).toMatchObject({ event: 'schedule_instance', details: null });

    const admin = await s.ok(DETAIL, { id: brokenId }, s.adminToken);
    expect(admin.node.fault.details).toMatch(/ServerGroupAntiAffinityFilter/);
    const adminCreate = admin.node.actions.find((a: { action: string }) => a.action === 'create');
    expect(
      adminCreate.events.find((e: { result: string }) => e.result === 'Error').details,
    ).toMatch(/ServerGroupAntiAffinityFilter/);
  });

  it('hypervisors are null with FORBIDDEN for a member and listed for an admin', async () => {
    const q = `{ hypervisors { hostname driver vcpus vcpusUsed memoryMibUsed runningServers } }`;
    const res = await s.gql(q, {}, owner.token);
    expect(res.data?.hypervisors).toBeNull();
    expect(res.errors?.[0]).toMatchObject({
      path: ['hypervisors'],
      extensions: { code: 'FORBIDDEN' },
    });
    const admin = await s.ok(q, {}, s.adminToken);
    expect(admin.hypervisors).toEqual([
      expect.objectContaining({ hostname: s.config.compute.hostname, driver: 'fake' }),
    ]);
    expect(admin.hypervisors[0].runningServers).toBeGreaterThanOrEqual(1);
  });

  it('the host filter is ignored for members', async () => {
    const res = await s.ok(
      `query($f: ServerFilter) { servers(filter: $f) { totalCount } }`,
      { f: { host: 'no-such-host' } },
      owner.token,
    );
    expect(res.servers.totalCount).toBe(2);
    const admin = await s.ok(
      `query($f: ServerFilter) { servers(filter: $f) { totalCount } }`,
      { f: { host: 'no-such-host', allProjects: true } },
      s.adminToken,
    );
    expect(admin.servers.totalCount).toBe(0);
  });
});
