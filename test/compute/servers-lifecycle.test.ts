import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createServer,
  emptyDisk,
  rawId,
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
  eventually,
  flavor,
  gqlWithHeaders,
  quickServerMutation,
  quotaInUse,
  startComputeTestbed,
} from '../support/servers';

/**
 * Servers over their life on the fake driver: instance actions, a failed build, server
 * groups and hypervisor usage. Resize, rebuild, snapshot and deleted images and flavors:
 * servers-resize.test.ts.
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

describe('instance actions', () => {
  it('records every action with its user, request id and successful events', async () => {
    const member = await seed.member('member');
    const t = member.token!;
    // Every response carries its x-request-id, errors or not.
    const { body, requestId } = await gqlWithHeaders(
      s,
      `mutation($input: CreateServerInput!) { createServer(input: $input) {
        ... on CreateServerSuccess { created { server { id } operation { id } } } } }`,
      { input: { name: 'audited', imageId, flavorId } },
      t,
    );
    expect(body.errors).toBeUndefined();
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const id = body.data.createServer.created.server.id;
    await waitForOperation(s, t, body.data.createServer.created.operation.id);
    await waitForStatus(s, t, id, 'ACTIVE');

    const sub = s.subscribe(
      `subscription($id: ID!) { instanceActions(serverId: $id) { action finishTime message } }`,
      { id },
      t,
    );
    // The subscription is live once it sees an update (quick actions start and finish at once).
    for (let i = 0; sub.values.length === 0 && i < 50; i++) {
      await quickServerMutation(s, t, 'updateServer', { id, name: 'audited' });
      await new Promise((r) => setTimeout(r, 100));
    }
    const primed = sub.values.length;

    await act(s, t, 'stopServer', { id });
    await act(s, t, 'startServer', { id });
    await act(s, t, 'rebootServer', { id }, 'RebootServerInput');
    await act(s, t, 'rebootServer', { id, hard: true }, 'RebootServerInput');
    await act(s, t, 'pauseServer', { id });
    await act(s, t, 'unpauseServer', { id });
    await act(s, t, 'suspendServer', { id });
    await act(s, t, 'resumeServer', { id });
    await quickServerMutation(s, t, 'lockServer', { id });
    await quickServerMutation(s, t, 'unlockServer', { id });
    await waitForStatus(s, t, id, 'ACTIVE');

    const all = await actions(t, id);
    const slow = ['create', 'stop', 'start', 'reboot', 'reboot', 'pause', 'unpause'];
    const names = all.map((a) => a.action).reverse();
    expect(names.filter((n) => n !== 'update')).toEqual([
      ...slow,
      'suspend',
      'resume',
      'lock',
      'unlock',
    ]);
    for (const a of all) {
      expect(a.user, a.action).toEqual({ id: member.userId });
      expect(a.requestId, a.action).toMatch(/\S/);
      expect(a.message, a.action).toBeNull();
      expect(a.finishTime, a.action).not.toBeNull();
      for (const e of a.events) expect(e, a.action).toMatchObject({ result: 'Success' });
    }
    // One request, one request id.
    expect(new Set(all.map((a) => a.requestId)).size).toBe(all.length);
    const create = all.find((a) => a.action === 'create');
    expect(create.requestId).toBe(requestId);
    expect(create.events.map((e: { event: string }) => e.event)).toEqual([
      'schedule_instance',
      'fetch_image',
      'compute_build_and_run_instance',
    ]);
    const stop = all.find((a) => a.action === 'stop');
    expect(stop.events.map((e: { event: string }) => e.event)).toEqual([
      'compute_power_off_instance',
    ]);
    expect((await s.ok(ACTIONS, { id }, t)).node.lastAction).toEqual({ action: 'unlock' });

    // The subscription saw each slow action start and finish.
    const stopEvents = await eventually(
      async () => sub.values.slice(primed).map((v) => v.data.instanceActions),
      (v) => expect(v.filter((a) => a.action === 'resume')).toHaveLength(2),
    );
    const stops = stopEvents.filter((a) => a.action === 'stop');
    expect(stops).toHaveLength(2);
    expect(stops[0].finishTime).toBeNull();
    expect(stops[1].finishTime).not.toBeNull();
    sub.close();
  });

  it('a failed build ends in ERROR with a fault, a FAILED operation and an Error event', async () => {
    const failing = await startTestStratus({
      compute: { ...s.config.compute, driverConfig: { failSpawn: true } },
    });
    try {
      const fSeed = new Seed(failing);
      const member = await fSeed.member('member');
      const t = member.token!;
      const f = await flavor(failing, { vcpus: 1, ramMib: 128, rootDiskGib: 1 });
      const image = await uploadImage(failing, t, { name: 'disk', diskFormat: 'raw' }, emptyDisk());
      const created = await createServer(failing, t, {
        name: 'doomed',
        imageId: image,
        flavorId: f,
      });
      const id = created.created.server.id;
      const op = await waitForOperation(failing, t, created.created.operation.id);
      expect(op.status).toBe('FAILED');
      expect(op.error.code).toBe('SPAWN_FAILED');
      const server = await waitForStatus(failing, t, id, 'ERROR');
      expect(server.fault).toMatchObject({ code: 500, message: 'Build of the server failed' });
      expect(server.powerState).toBe('nostate');

      const q = `query($id: ID!) { node(id: $id) { ... on Server { fault { message details }
        actions { action message events { event result details } } } } }`;
      const asMember = await failing.gql(q, { id }, t);
      expect(asMember.data?.node.fault).toEqual({
        message: 'Build of the server failed',
        details: null,
      });
      expect(asMember.errors?.map((e) => e.extensions?.code)).toContain('FORBIDDEN');
      const asAdmin = await failing.ok(q, { id }, failing.adminToken);
      expect(asAdmin.node.fault.details).toMatch(/spawn failure injected/);
      const [create] = asAdmin.node.actions;
      expect(create.action).toBe('create');
      expect(create.message).toMatch(/spawn failure injected/);
      expect(create.events.at(-1)).toMatchObject({
        event: 'compute_build_and_run_instance',
        result: 'Error',
      });
      expect(create.events.at(-1).details).toMatch(/spawn failure injected/);

      // An ERROR server still holds its quota (as in Nova) until it is deleted.
      expect(await quotaInUse(failing, member.projectId)).toMatchObject({
        instances: 1,
        cores: 1,
      });
      await deleteAndWait(failing, t, id);
      expect(await quotaInUse(failing, member.projectId)).toMatchObject({
        instances: 0,
        cores: 0,
        ram_mib: 0,
      });
    } finally {
      await failing.stop();
    }
  });
});

const GROUP = `mutation($input: CreateServerGroupInput!) { createServerGroup(input: $input) {
  __typename ... on Error { message } ... on CreateServerGroupSuccess { serverGroup { id policy } } } }`;
const DELETE_GROUP = `mutation($id: ID!) { deleteServerGroup(id: $id) { __typename ... on Error { message code } } }`;

async function group(token: string, policy: string): Promise<string> {
  const data = await s.ok(GROUP, { input: { name: policy.toLowerCase(), policy } }, token);
  return data.createServerGroup.serverGroup.id;
}

async function hostOf(id: string): Promise<string | null> {
  return (
    await s.ok(`query($id: ID!) { node(id: $id) { ... on Server { host } } }`, { id }, s.adminToken)
  ).node.host;
}

describe('repair', () => {
  it('a build that stopped moving while being scheduled goes to ERROR with a fault', async () => {
    const member = await seed.member('member');
    const t = member.token!;
    const created = await createServer(s, t, { name: 'stuck', imageId, flavorId });
    const id = created.created.server.id;
    await waitForOperation(s, t, created.created.operation.id);
    // As if the process scheduling it died: BUILD/scheduling, no host, its operation RUNNING.
    const raw = rawId(id);
    const pool = s.stratus.runtime.pool;
    await pool.query(
      `update servers set vm_state = 'building', task_state = 'scheduling', host = null where id = $1`,
      [raw],
    );
    await pool.query(
      `update operations set status = 'RUNNING', updated_at = now() - interval '1 hour' where resource_id = $1`,
      [raw],
    );
    const agent = s.stratus.runtime.compute!;
    expect(await agent.repairStuckBuilds()).toEqual([raw]);
    const server = await waitForStatus(s, t, id, 'ERROR');
    expect(server.fault.message).toBe('The build was interrupted while it was being scheduled');
    const op = await waitForOperation(s, t, created.created.operation.id);
    expect(op.error.code).toBe('INTERRUPTED');
    // A fresh one (its operation moved recently) is left alone.
    expect(await agent.repairStuckBuilds()).toEqual([]);
  });
});

describe('server groups', () => {
  let member: SeededUser;
  beforeAll(async () => {
    member = await seed.member('member');
  });

  it('anti-affinity with one host: the second member ends in ERROR with NoValidHost', async () => {
    const t = member.token!;
    const g = await group(t, 'ANTI_AFFINITY');
    const first = await activeServer(s, t, {
      name: 'apart-1',
      imageId,
      flavorId,
      serverGroupId: g,
    });
    const second = await createServer(s, t, {
      name: 'apart-2',
      imageId,
      flavorId,
      serverGroupId: g,
    });
    const op = await waitForOperation(s, t, second.created.operation.id);
    expect(op).toMatchObject({ status: 'FAILED', error: { code: 'NO_VALID_HOST' } });
    const broken = await waitForStatus(s, t, second.created.server.id, 'ERROR');
    expect(broken.fault.message).toMatch(/No valid host.*ServerGroupAntiAffinityFilter/);
    expect(await hostOf(broken.id)).toBeNull();

    const del = await s.ok(DELETE_GROUP, { id: g }, t);
    expect(del.deleteServerGroup).toMatchObject({ __typename: 'ConflictError' });
    expect(del.deleteServerGroup.message).toMatch(/2 server/);
    await deleteAndWait(s, t, first);
    // The member in ERROR is a member too until deleted.
    expect((await s.ok(DELETE_GROUP, { id: g }, t)).deleteServerGroup.__typename).toBe(
      'ConflictError',
    );
    await deleteAndWait(s, t, broken.id);
    expect((await s.ok(DELETE_GROUP, { id: g }, t)).deleteServerGroup.__typename).toBe(
      'DeleteServerGroupSuccess',
    );
    const gone = await s.ok(`query($id: ID!) { node(id: $id) { id } }`, { id: g }, t);
    expect(gone.node).toBeNull();
  });

  it('affinity and soft anti-affinity place every member on the one host', async () => {
    const t = member.token!;
    for (const policy of ['AFFINITY', 'SOFT_ANTI_AFFINITY']) {
      const g = await group(t, policy);
      const created = await createServer(s, t, {
        name: policy.toLowerCase(),
        imageId,
        flavorId,
        serverGroupId: g,
        count: 3,
      });
      expect(created.__typename).toBe('CreateServerSuccess');
      const ids: string[] = created.created.servers.map((x: { id: string }) => x.id);
      for (const id of ids) await waitForStatus(s, t, id, 'ACTIVE');
      const hosts = new Set(await Promise.all(ids.map(hostOf)));
      expect([...hosts]).toEqual([s.config.compute.hostname]);
      const members = await s.ok(
        `query($id: ID!) { node(id: $id) { ... on ServerGroup { policy members { id serverGroup { id } } } } }`,
        { id: g },
        t,
      );
      expect(members.node.policy).toBe(policy);
      expect(members.node.members.map((m: { id: string }) => m.id).sort()).toEqual([...ids].sort());
      for (const m of members.node.members) expect(m.serverGroup.id).toBe(g);
      for (const id of ids) await deleteAndWait(s, t, id);
      expect((await s.ok(DELETE_GROUP, { id: g }, t)).deleteServerGroup.__typename).toBe(
        'DeleteServerGroupSuccess',
      );
    }
  });

  it('hypervisors show used vCPUs, RAM, disk and servers changing with servers', async () => {
    const q = `{ hypervisors { hostname vcpus memoryMib vcpusUsed memoryMibUsed diskGibUsed runningServers } }`;
    const read = async () => (await s.ok(q, {}, s.adminToken)).hypervisors[0];
    const before = await read();
    expect(before.hostname).toBe(s.config.compute.hostname);
    const big = await flavor(s, { vcpus: 3, ramMib: 384, rootDiskGib: 2 });
    const id = await activeServer(s, member.token!, { name: 'heavy', imageId, flavorId: big });
    expect(await read()).toMatchObject({
      vcpusUsed: before.vcpusUsed + 3,
      memoryMibUsed: before.memoryMibUsed + 384,
      diskGibUsed: before.diskGibUsed + 2,
      runningServers: before.runningServers + 1,
    });
    // A stopped server keeps its place on the host.
    await act(s, member.token!, 'stopServer', { id });
    expect((await read()).vcpusUsed).toBe(before.vcpusUsed + 3);
    await deleteAndWait(s, member.token!, id);
    expect(await read()).toMatchObject({
      vcpusUsed: before.vcpusUsed,
      memoryMibUsed: before.memoryMibUsed,
      diskGibUsed: before.diskGibUsed,
      runningServers: before.runningServers,
    });
  });
});
