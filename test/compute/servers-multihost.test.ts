import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstanceNotFoundError } from '../../drivers/compute/errors';
import { emptyDisk, rawId, uploadImage, waitForStatus } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { act, activeServer, deleteAndWait, flavor } from '../support/servers';

/**
 * Two compute hosts: two Stratus processes on one database, each with its own (fake) driver.
 * The scheduler places servers on either; each job runs in the process of its server's host.
 */

let a: TestStratus;
let b: TestStratus;
let member: SeededUser;
let imageId: string;
let flavorId: string;
beforeAll(async () => {
  a = await startTestStratus();
  b = await startTestStratus(
    // One object store for both, as hosts need (S3, or one shared filesystem).
    { compute: { ...a.config.compute, hostname: 'host-b' }, objects: a.config.objects },
    a.databaseUrl,
  );
  member = await new Seed(a).member('member');
  flavorId = await flavor(a, { vcpus: 1, ramMib: 128, rootDiskGib: 1 });
  imageId = await uploadImage(a, member.token!, { name: 'disk', diskFormat: 'raw' }, emptyDisk());
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

const HOST = `query($id: ID!) { node(id: $id) { ... on Server { host status } } }`;
const hostOf = async (id: string) => (await a.ok(HOST, { id }, a.adminToken)).node.host as string;
const onDriver = async (s: TestStratus, id: string) =>
  s.stratus.runtime
    .compute!.driver.status(rawId(id))
    .then((st) => st.powerState)
    .catch((error: unknown) => {
      if (error instanceof InstanceNotFoundError) return 'absent';
      throw error;
    });

describe('two compute hosts on one database', () => {
  it('both hosts register and the hypervisors list shows them', async () => {
    const data = await a.ok(`{ hypervisors { hostname runningServers } }`, {}, a.adminToken);
    const names = data.hypervisors.map((h: { hostname: string }) => h.hostname);
    expect(names).toContain('host-b');
    expect(names).toContain(a.config.compute.hostname);
  });

  it('anti-affinity spreads a group over both hosts, and each VM runs on its own host only', async () => {
    const t = member.token!;
    const group = await a.ok(
      `mutation { createServerGroup(input: { name: "spread", policy: ANTI_AFFINITY }) {
        ... on CreateServerGroupSuccess { serverGroup { id } } } }`,
      {},
      t,
    );
    const serverGroupId = group.createServerGroup.serverGroup.id;
    const first = await activeServer(a, t, { name: 'one', imageId, flavorId, serverGroupId });
    const second = await activeServer(a, t, { name: 'two', imageId, flavorId, serverGroupId });
    const hosts = [await hostOf(first), await hostOf(second)];
    expect(new Set(hosts)).toEqual(new Set([a.config.compute.hostname, 'host-b']));

    const onB = hosts[0] === 'host-b' ? first : second;
    const onA = onB === first ? second : first;
    expect(await onDriver(b, onB)).toBe('running');
    expect(await onDriver(a, onB)).toBe('absent');
    expect(await onDriver(a, onA)).toBe('running');
    expect(await onDriver(b, onA)).toBe('absent');

    // An action asked of process A on host B's server runs on B.
    await act(a, t, 'stopServer', { id: onB });
    await waitForStatus(a, t, onB, 'SHUTOFF');
    expect(await onDriver(b, onB)).toBe('shutdown');

    // Console output comes from the process of the server's host.
    const log = await b.ok(
      `query($id: ID!) { node(id: $id) { ... on Server { consoleOutput } } }`,
      { id: onB },
      t,
    );
    expect(log.node.consoleOutput).toContain('STRATUS-GUEST-BOOT-OK');
    const elsewhere = await a.gql(
      `query($id: ID!) { node(id: $id) { ... on Server { consoleOutput } } }`,
      { id: onB },
      t,
    );
    expect(elsewhere.errors?.[0]?.extensions?.code).toBe('FEATURE_DISABLED');

    await deleteAndWait(a, t, onB);
    await deleteAndWait(b, t, onA);
    expect(await onDriver(b, onB)).toBe('absent');
    expect(await onDriver(a, onA)).toBe('absent');
  });

  it('a host whose process stopped reporting is not scheduled to', async () => {
    await b.stop();
    await a.stratus.runtime.pool.query(
      `update compute_hosts set last_seen_at = now() - interval '10 minutes' where hostname = 'host-b'`,
    );
    const t = member.token!;
    const ids = [];
    for (let i = 0; i < 3; i++)
      ids.push(await activeServer(a, t, { name: `u${i}`, imageId, flavorId }));
    for (const id of ids) expect(await hostOf(id)).toBe(a.config.compute.hostname);
    for (const id of ids) await deleteAndWait(a, t, id);
  });
});
