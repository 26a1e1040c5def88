import { createHash, randomBytes } from 'node:crypto';
import type { TestStratus } from './harness';

export const md5 = (bytes: Buffer | Uint8Array) => createHash('md5').update(bytes).digest('hex');
export const randomBody = (size: number) => randomBytes(size);

export interface TestContainer {
  id: string;
  name: string;
  /** PUT/GET <prefix><object name>. */
  urlPrefix: string;
}

/** Creates a container with the token's project; fails the test on any error. */
export async function makeContainer(
  s: TestStratus,
  token: string,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<TestContainer> {
  const data = await s.ok(
    `mutation($input: CreateContainerInput!) { createContainer(input: $input) { __typename ... on CreateContainerSuccess { container { id name uploadUrlPrefix } } ... on Error { message } } }`,
    { input: { name, ...extra } },
    token,
  );
  const c = data.createContainer.container;
  if (!c) throw new Error(JSON.stringify(data));
  return { id: c.id, name: c.name, urlPrefix: c.uploadUrlPrefix };
}

/** An HTTP request to Stratus's object API with the token as X-Auth-Token. */
export function objectRequest(
  url: string,
  token: string | null,
  init: RequestInit = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set('x-auth-token', token);
  return fetch(url, { ...init, headers, ...(init.body ? { duplex: 'half' } : {}) } as RequestInit);
}

export async function upload(
  url: string,
  token: string | null,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<Response> {
  return objectRequest(url, token, { method: 'PUT', body: new Uint8Array(body), headers });
}

/** The object names of a container, as the GraphQL listing gives them. */
export async function objectNames(
  s: TestStratus,
  token: string,
  containerId: string,
): Promise<string[]> {
  const data = await s.ok(
    `query($id: ID!) { node(id: $id) { ... on Container { objects(first: 100) { edges { node { ... on StoredObject { name } ... on PseudoFolder { prefix } } } } } } }`,
    { id: containerId },
    token,
  );
  return data.node.objects.edges.map(
    (e: { node: { name?: string; prefix?: string } }) => e.node.name ?? e.node.prefix,
  );
}
