import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import {
  createFlavor,
  createServer,
  ERROR_FIELDS,
  emptyDisk,
  rawId,
  serverAction,
  uploadImage,
  waitForOperation,
  waitForStatus,
} from './compute';
import { type Json, startTestStratus, type TestStratus } from './harness';
import { Seed } from './seed';

/** Helpers for the servers API tests (test/compute/servers-*.test.ts). */

export const uniq = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

/** One number from SQL run straight on the database (`select count(*) ...`). */
export async function sqlCount(s: TestStratus, text: string, values: unknown[]): Promise<number> {
  const { rows } = await s.stratus.runtime.pool.query(text, values);
  return Number(Object.values(rows[0])[0]);
}

/** Servers rows and operations of a project, counted in the database. */
export async function projectRows(
  s: TestStratus,
  projectGlobalId: string,
): Promise<{ servers: number; operations: number; actions: number }> {
  const id = rawId(projectGlobalId);
  return {
    servers: await sqlCount(s, 'select count(*) from servers where project_id = $1', [id]),
    operations: await sqlCount(s, 'select count(*) from operations where project_id = $1', [id]),
    actions: await sqlCount(s, 'select count(*) from instance_actions where project_id = $1', [id]),
  };
}

/** `resource → inUse` of a project, as an admin reads it. */
export async function quotaInUse(
  s: TestStratus,
  projectId: string,
): Promise<Record<string, number>> {
  const data = await s.ok(
    `query($id: ID!) { projectQuota(projectId: $id) { resource inUse limit } }`,
    { id: projectId },
    s.adminToken,
  );
  return Object.fromEntries(
    data.projectQuota.map((q: { resource: string; inUse: number }) => [q.resource, q.inUse]),
  );
}

export async function setQuota(
  s: TestStratus,
  projectId: string,
  limits: Record<string, number>,
): Promise<void> {
  const data = await s.ok(
    `mutation($input: SetProjectQuotaInput!) { setProjectQuota(input: $input) { __typename ... on Error { message } } }`,
    {
      input: {
        projectId,
        limits: Object.entries(limits).map(([resource, limit]) => ({ resource, limit })),
      },
    },
    s.adminToken,
  );
  expect(data.setProjectQuota.__typename).toBe('SetProjectQuotaSuccess');
}

/** Creates one server and waits until it is ACTIVE; returns its id. */
export async function activeServer(
  s: TestStratus,
  token: string,
  input: Record<string, unknown>,
): Promise<string> {
  const created = await createServer(s, token, input);
  if (created.__typename !== 'CreateServerSuccess') throw new Error(JSON.stringify(created));
  const id = created.created.server.id;
  await waitForOperation(s, token, created.created.operation.id);
  await waitForStatus(s, token, id, 'ACTIVE');
  return id;
}

/** Runs an action, expects it to start and waits for its operation to succeed. */
export async function act(
  s: TestStratus,
  token: string,
  mutation: string,
  input: Record<string, unknown>,
  inputType?: string,
): Promise<Json> {
  const started = await serverAction(s, token, mutation, input, inputType);
  if (!started.started) throw new Error(`${mutation}: ${JSON.stringify(started)}`);
  const op = await waitForOperation(s, token, started.started.operation.id);
  expect(op, `${mutation} operation`).toMatchObject({ status: 'SUCCEEDED' });
  return op;
}

/** Deletes a server and waits until it is DELETED. */
export async function deleteAndWait(s: TestStratus, token: string, id: string): Promise<void> {
  await act(s, token, 'deleteServer', { id });
  await waitForStatus(s, token, id, 'DELETED');
}

/** A flavor with a unique name; returns its id. */
export function flavor(
  s: TestStratus,
  input: { vcpus?: number; ramMib?: number; rootDiskGib?: number } = {},
): Promise<string> {
  return createFlavor(s, { name: uniq('flavor'), ...input });
}

/** Polls `read` until `check` passes (its assertions are retried), or fails with the last error. */
export async function eventually<T>(
  read: () => Promise<T>,
  check: (value: T) => void,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    try {
      check(value);
      return value;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The update/lock mutations that return a server directly. */
export async function quickServerMutation(
  s: TestStratus,
  token: string,
  mutation: 'updateServer' | 'lockServer' | 'unlockServer',
  input: Record<string, unknown>,
): Promise<Json> {
  const inputType = {
    updateServer: 'UpdateServerInput',
    lockServer: 'LockServerInput',
    unlockServer: 'ServerIdInput',
  }[mutation];
  const data = await s.ok(
    `mutation($input: ${inputType}!) { ${mutation}(input: $input) { ${ERROR_FIELDS}
      ... on ServerLockedError { reason }
      ... on NotFoundError { resource }
      ... on ${mutation[0].toUpperCase()}${mutation.slice(1)}Success { server { id name metadata tags locked lockedReason } } } }`,
    { input },
    token,
  );
  return data[mutation];
}

/** POSTs GraphQL and returns the body and the response's x-request-id header. */
export async function gqlWithHeaders(
  s: TestStratus,
  query: string,
  variables: Record<string, unknown>,
  token: string,
): Promise<{ body: Json; requestId: string | null }> {
  const res = await fetch(`${s.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { body: await res.json(), requestId: res.headers.get('x-request-id') };
}

/** A Stratus on the fake compute driver with a public raw image and a 1 vCPU / 128 MiB / 1 GiB flavor. */
export async function startComputeTestbed(): Promise<{
  s: TestStratus;
  seed: Seed;
  imageId: string;
  flavorId: string;
}> {
  const s = await startTestStratus();
  const flavorId = await flavor(s, { vcpus: 1, ramMib: 128, rootDiskGib: 1 });
  const imageId = await uploadImage(
    s,
    s.adminToken,
    { name: 'public-disk', diskFormat: 'raw', visibility: 'public' },
    emptyDisk(),
  );
  return { s, seed: new Seed(s), imageId, flavorId };
}

export const SERVER_LIST = `query($filter: ServerFilter, $first: Int, $after: String) {
  servers(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name status } } } }`;

/** Names of the servers a token lists with `filter`, sorted. */
export async function serverNames(
  s: TestStratus,
  token: string,
  filter: Record<string, unknown> = {},
  first?: number,
): Promise<string[]> {
  const data = await s.ok(SERVER_LIST, { filter, first }, token);
  return data.servers.edges.map((e: { node: { name: string } }) => e.node.name).sort();
}
