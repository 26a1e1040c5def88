/**
 * Request protection through the real HTTP server: malformed and invalid documents, the body,
 * depth and alias limits, bad tokens, health and metrics endpoints, request ids on errors.
 */
import { decodeJwt, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_PASSWORD,
  type Json,
  startTestStratus,
  type TestStratus,
  testConfig,
} from '../support/harness';

/** The limits every test Stratus runs with (testConfig's merge), with a small body limit. */
const limits = { ...testConfig('postgres://unused').limits, maxBodyBytes: 10_000 };

let s: TestStratus;
beforeAll(async () => {
  s = await startTestStratus({ limits });
});
afterAll(async () => {
  await s?.stop();
});

interface Reply {
  status: number;
  headers: Headers;
  body: Json;
}

/** POSTs to /graphql and returns the status, headers and parsed JSON body. */
async function post(
  body: string | Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(`${s.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Json;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${res.status} ${res.headers.get('content-type')}): ${text}`);
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const codes = (reply: Reply) =>
  (reply.body.errors ?? []).map((e: Json) => e.extensions?.code as string);

/** A valid query `depth` fields deep: viewer > user > groups > members > groups > ... > name. */
function deepQuery(depth: number): string {
  const chain = ['viewer', 'user'];
  while (chain.length < depth - 1) chain.push(chain.length % 2 === 0 ? 'groups' : 'members');
  return `${chain.map((f) => `{ ${f} `).join('')}{ name }${' }'.repeat(chain.length)}`;
}

describe('malformed and invalid documents', () => {
  it('a syntax error is 400 GRAPHQL_PARSE_FAILED, with the request id', async () => {
    const reply = await post({ query: '{ viewer { tokenId ' });
    expect(reply.status).toBe(400);
    expect(reply.body.data).toBeUndefined();
    expect(codes(reply)).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(reply.body.errors[0].message).toMatch(/^Syntax Error: Expected Name, found <EOF>/);
    expect(reply.headers.get('x-request-id')).toBeTruthy();
    expect(reply.body.errors[0].extensions.requestId).toBe(reply.headers.get('x-request-id'));
  });

  it('an unknown field is 400 GRAPHQL_VALIDATION_FAILED naming the field', async () => {
    const reply = await post({ query: '{ viewer { tokenId nosuchField } }' }, bearer(s.adminToken));
    expect(reply.status).toBe(400);
    expect(reply.body.data).toBeUndefined();
    expect(codes(reply)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(reply.body.errors[0].message).toContain(
      'Cannot query field "nosuchField" on type "Viewer"',
    );
  });

  it('a literal argument of the wrong type is 400 GRAPHQL_VALIDATION_FAILED', async () => {
    const reply = await post({ query: '{ projects(first: "ten") { totalCount } }' });
    expect(reply.status).toBe(400);
    expect(reply.body.data).toBeUndefined();
    expect(codes(reply)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(reply.body.errors[0].message).toMatch(/Int cannot represent non-integer value: "ten"/);
  });

  it('a variable of the wrong type is 400 BAD_USER_INPUT naming the variable', async () => {
    const reply = await post({
      query: 'query Page($n: Int) { projects(first: $n) { totalCount } }',
      variables: { n: 'ten' },
    });
    expect(reply.status).toBe(400);
    expect(reply.body.data).toBeUndefined();
    expect(codes(reply)).toEqual(['BAD_USER_INPUT']);
    expect(reply.body.errors[0].message).toMatch(/Variable "\$n" got invalid value "ten"/);
  });
});

describe('limits', () => {
  it(`a body up to the limit is accepted, a larger one is 413 with a JSON error`, async () => {
    const padded = (bytes: number) => {
      const base = JSON.stringify({ query: '{ __typename }', variables: { pad: '' } });
      return JSON.stringify({
        query: '{ __typename }',
        variables: { pad: 'x'.repeat(bytes - base.length) },
      });
    };
    const fits = padded(limits.maxBodyBytes);
    expect(Buffer.byteLength(fits)).toBe(limits.maxBodyBytes);
    const accepted = await post(fits);
    expect(accepted.status).toBe(200);
    expect(accepted.body).toEqual({ data: { __typename: 'Query' } });

    const tooLarge = await post(padded(limits.maxBodyBytes + 1));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get('content-type')).toMatch(/^application\/json/);
    expect(tooLarge.body.data).toBeUndefined();
    expect(codes(tooLarge)).toEqual(['PAYLOAD_TOO_LARGE']);
    expect(tooLarge.body.errors[0].message).toContain(`limit of ${limits.maxBodyBytes} bytes`);
  });

  it(`a query ${limits.maxDepth} deep runs, one deeper is rejected naming the depth`, async () => {
    const atLimit = await post({ query: deepQuery(limits.maxDepth) }, bearer(s.adminToken));
    expect(atLimit.body.errors).toBeUndefined();
    expect(atLimit.status).toBe(200);
    expect(atLimit.body.data.viewer.user).toHaveProperty('groups');

    const tooDeep = await post({ query: deepQuery(limits.maxDepth + 1) }, bearer(s.adminToken));
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.data).toBeUndefined();
    expect(tooDeep.body.errors.map((e: Json) => e.message)).toContain(
      `Syntax Error: Query depth limit of ${limits.maxDepth} exceeded, found ${limits.maxDepth + 1}.`,
    );
    expect(codes(tooDeep)).toContain('GRAPHQL_VALIDATION_FAILED');
  });

  it(`${limits.maxAliases} aliases run, one more is rejected naming aliases`, async () => {
    // Aliases of __typename are not counted (graphql-armor's default allowList), so alias a field.
    const aliased = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `v${i}: viewer { tokenId }`).join(' ')} }`;
    const atLimit = await post({ query: aliased(limits.maxAliases) }, bearer(s.adminToken));
    expect(atLimit.body.errors).toBeUndefined();
    expect(Object.keys(atLimit.body.data)).toHaveLength(limits.maxAliases);

    const tooMany = await post({ query: aliased(limits.maxAliases + 1) }, bearer(s.adminToken));
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.data).toBeUndefined();
    expect(tooMany.body.errors.map((e: Json) => e.message)).toContain(
      `Syntax Error: Aliases limit of ${limits.maxAliases} exceeded, found ${limits.maxAliases + 1}.`,
    );
  });
});

describe('tokens', () => {
  const viewer = { query: '{ viewer { tokenId user { name } } }' };

  it('a valid token works (the control for the ones below)', async () => {
    const reply = await post(viewer, bearer(s.adminToken));
    expect(reply.status).toBe(200);
    expect(reply.body.errors).toBeUndefined();
    expect(reply.body.data.viewer.user.name).toBe('admin');
  });

  it('a malformed token is 401 UNAUTHENTICATED', async () => {
    const reply = await post(viewer, { authorization: 'Bearer garbage' });
    expect(reply.status).toBe(401);
    expect(reply.body.data).toBeUndefined();
    expect(codes(reply)).toEqual(['UNAUTHENTICATED']);
    expect(reply.body.errors[0].message).toMatch(/malformed/);
  });

  it('an Authorization header that is not "Bearer <token>" is 401 UNAUTHENTICATED', async () => {
    const reply = await post(viewer, { authorization: `Token ${s.adminToken}` });
    expect(reply.status).toBe(401);
    expect(codes(reply)).toEqual(['UNAUTHENTICATED']);
  });

  it('a forged token (right claims, another secret) is 401 UNAUTHENTICATED', async () => {
    const claims = decodeJwt(s.adminToken);
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode('not-the-stratus-secret-but-long-enough'));
    expect(decodeJwt(forged)).toEqual(claims);
    const reply = await post(viewer, bearer(forged));
    expect(reply.status).toBe(401);
    expect(reply.body.data).toBeUndefined();
    expect(codes(reply)).toEqual(['UNAUTHENTICATED']);
    expect(reply.body.errors[0].message).toMatch(/signature/);
  });

  it('an unsigned token (alg "none") is 401 UNAUTHENTICATED', async () => {
    const unsigned = new UnsecuredJWT(decodeJwt(s.adminToken)).encode();
    const reply = await post(viewer, bearer(unsigned));
    expect(reply.status).toBe(401);
    expect(codes(reply)).toEqual(['UNAUTHENTICATED']);
  });

  it('an expired token is 401 UNAUTHENTICATED saying it expired', async () => {
    const short = await startTestStratus({ tokenTtlSeconds: 1 });
    try {
      const data = await short.ok(
        `mutation($input: LoginInput!) { login(input: $input) {
          ... on LoginSuccess { data { token expiresAt } } ... on Error { message } } }`,
        { input: { userName: 'admin', password: ADMIN_PASSWORD } },
      );
      const { token, expiresAt } = data.login.data;
      // The configured TTL applies: the token expires within about a second.
      const ttlMs = new Date(expiresAt).getTime() - Date.now();
      expect(ttlMs).toBeLessThanOrEqual(1_000);
      await new Promise((r) => setTimeout(r, 2_500));
      const res = await fetch(`${short.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer(token) },
        body: JSON.stringify(viewer),
      });
      const body = await res.json();
      expect(res.status).toBe(401);
      expect(body.data).toBeUndefined();
      expect(body.errors.map((e: Json) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
      expect(body.errors[0].message).toMatch(/expired/);
    } finally {
      await short.stop();
    }
  });
});

describe('operations endpoints', () => {
  it('/healthz is 200', async () => {
    const res = await fetch(`${s.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz is 200 when the database answers', async () => {
    const res = await fetch(`${s.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });
  });

  it('/metrics counts GraphQL requests and shows the pool', async () => {
    const reply = await post(
      { query: 'query ProtectionMetricsProbe { viewer { tokenId } }' },
      bearer(s.adminToken),
    );
    expect(reply.body.errors).toBeUndefined();
    const res = await fetch(`${s.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain('# TYPE stratus_graphql_requests_total counter');
    expect(text).toMatch(
      /^stratus_graphql_requests_total\{operation="ProtectionMetricsProbe",type="query",outcome="ok"\} [1-9]/m,
    );
    expect(text).toContain('# TYPE stratus_db_pool_total gauge');
    expect(text).toMatch(/^stratus_db_pool_total [1-9]\d*$/m);
  });
});

describe('request ids', () => {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  it('a validation error carries the request id, in the header and in each error', async () => {
    const first = await post({ query: '{ nosuchField }' });
    const second = await post({ query: '{ nosuchField }' });
    expect(first.status).toBe(400);
    const id = first.headers.get('x-request-id');
    expect(id).toMatch(UUID);
    expect(first.body.errors[0].extensions.requestId).toBe(id);
    expect(second.headers.get('x-request-id')).toMatch(UUID);
    expect(second.headers.get('x-request-id')).not.toBe(id);
  });

  it('a field error carries the request id too', async () => {
    const reply = await post({ query: '{ viewer { tokenId } }' });
    expect(reply.status).toBe(200);
    expect(reply.body.data).toEqual({ viewer: null });
    expect(codes(reply)).toEqual(['UNAUTHENTICATED']);
    expect(reply.headers.get('x-request-id')).toMatch(UUID);
    expect(reply.body.errors[0].extensions.requestId).toBe(reply.headers.get('x-request-id'));
  });
});
