import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';

let s: TestStratus;
let seed: Seed;
beforeAll(async () => {
  s = await startTestStratus({
    security: {
      passwordMinLength: 8,
      passwordRegex: null,
      passwordRegexDescription: '',
      lockoutFailureAttempts: 3,
      lockoutDurationSeconds: 600,
    },
  });
  seed = new Seed(s);
});
afterAll(() => s?.stop());

const VIEWER = `{ viewer { tokenId roles scope project { name } user { name } expiresAt } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { __typename ... on LoginSuccess { data { token } } ... on Error { message code } } }`;
const REVOKE = `mutation($input: RevokeTokenInput!) { revokeToken(input: $input) { __typename ... on RevokeTokenSuccess { data { tokenId } } ... on Error { message } } }`;

async function expectUnauthenticated(token: string, reason: RegExp) {
  const res = await s.gql(VIEWER, {}, token);
  expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(res.errors?.[0]?.message).toMatch(reason);
}

describe('tokens', () => {
  it('a project-scoped token lists its roles, implied ones included, in the viewer', async () => {
    const m = await seed.member('member');
    const data = await s.ok(VIEWER, {}, m.token);
    expect(data.viewer.roles).toEqual(['member', 'reader']);
    expect(data.viewer.scope).toBe('PROJECT');
    expect(data.viewer.user.name).toBe(m.userName);
  });

  it('logging in scoped to a project where the user has no role is refused', async () => {
    const u = await seed.user();
    const project = await seed.project();
    const res = await s.ok(LOGIN, {
      input: { userName: u.userName, password: u.password, scope: { projectId: project } },
    });
    expect(res.login.__typename).toBe('ForbiddenError');
  });

  it('revoking your own token makes it invalid at once; other tokens of the user keep working', async () => {
    const m = await seed.member('reader');
    const other = await s.login(m.userName, m.password, { projectId: m.projectId });
    const revoked = await s.ok(REVOKE, { input: {} }, m.token);
    expect(revoked.revokeToken.__typename).toBe('RevokeTokenSuccess');
    await expectUnauthenticated(m.token!, /revoked/);
    expect((await s.ok(VIEWER, {}, other)).viewer.roles).toContain('reader');
  });

  it("only an admin may revoke someone else's token", async () => {
    const a = await seed.member('member');
    const b = await seed.member('member');
    const res = await s.ok(REVOKE, { input: { token: b.token } }, a.token);
    expect(res.revokeToken.__typename).toBe('ForbiddenError');
    expect((await s.ok(VIEWER, {}, b.token)).viewer).toBeTruthy();
    const byAdmin = await s.ok(REVOKE, { input: { token: b.token } }, s.adminToken);
    expect(byAdmin.revokeToken.__typename).toBe('RevokeTokenSuccess');
    await expectUnauthenticated(b.token!, /revoked/);
  });

  it.each([
    [
      'disabled',
      (userId: string) =>
        s.ok(
          `mutation($i: UpdateUserInput!) { updateUser(input: $i) { __typename } }`,
          { i: { id: userId, enabled: false } },
          s.adminToken,
        ),
    ],
    [
      'deleted',
      (userId: string) =>
        s.ok(
          `mutation($id: ID!) { deleteUser(id: $id) { __typename } }`,
          { id: userId },
          s.adminToken,
        ),
    ],
    [
      'revoked by an admin',
      (userId: string) =>
        s.ok(
          `mutation($id: ID!) { revokeUserTokens(userId: $id) { __typename } }`,
          { id: userId },
          s.adminToken,
        ),
    ],
  ])('all tokens of a user die when the user is %s', async (_what, act) => {
    const m = await seed.member('member');
    const second = await s.login(m.userName, m.password, { projectId: m.projectId });
    await act(m.userId);
    await expectUnauthenticated(m.token!, /revoked/);
    await expectUnauthenticated(second, /revoked/);
  });

  it('losing the role revokes the tokens that carried it', async () => {
    const m = await seed.member('member');
    const res = await s.ok(
      `mutation($input: RoleAssignmentInput!) { unassignRole(input: $input) { __typename ... on Error { message } } }`,
      { input: { roleId: await seed.roleId('member'), userId: m.userId, projectId: m.projectId } },
      s.adminToken,
    );
    expect(res.unassignRole.__typename).toBe('UnassignRoleSuccess');
    await expectUnauthenticated(m.token!, /revoked/);
  });

  it('an expired token is refused saying it expired', async () => {
    const short = await startTestStratus({ tokenTtlSeconds: 1 });
    try {
      const token = short.adminToken;
      expect((await short.ok(VIEWER, {}, token)).viewer).toBeTruthy();
      await new Promise((r) => setTimeout(r, 2100));
      const res = await short.gql(VIEWER, {}, token);
      expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(res.errors?.[0]?.message).toMatch(/expired/);
    } finally {
      await short.stop();
    }
  });

  it('an open subscription is closed when its token is revoked', async () => {
    const token = await s.login('admin', 'admin-password-1', { projectName: 'admin' });
    const sub = s.subscribe(`subscription { identityChanged { kind } }`, {}, token);
    // Events flow until the revocation: keep creating projects until the first one arrives.
    for (let i = 0; sub.values.length === 0 && i < 50; i++) {
      await seed.project();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sub.values[0].data.identityChanged.kind).toBe('PROJECT_CREATED');
    const revoked = await s.ok(REVOKE, { input: { token } }, s.adminToken);
    expect(revoked.revokeToken.__typename).toBe('RevokeTokenSuccess');
    const end = await sub.ended;
    expect(end.closeCode).toBe(4401);
  });
});

describe('lockout and enumeration', () => {
  it('locks the account after the configured failures, with the same answer as a wrong password', async () => {
    const u = await seed.user();
    for (let i = 0; i < 3; i++) {
      const res = await s.ok(LOGIN, {
        input: { userName: u.userName, password: 'wrong-password' },
      });
      expect(res.login).toMatchObject({
        __typename: 'AuthenticationFailedError',
        code: 'AUTHENTICATION_FAILED',
      });
    }
    const locked = await s.ok(LOGIN, { input: { userName: u.userName, password: u.password } });
    expect(locked.login).toMatchObject({
      __typename: 'AuthenticationFailedError',
      message: 'The credentials are not valid',
    });
    const user = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on User { lockedUntil } } }`,
      { id: u.userId },
      s.adminToken,
    );
    expect(new Date(user.node.lockedUntil).getTime()).toBeGreaterThan(Date.now());
    // An admin password reset unlocks.
    await s.ok(
      `mutation($i: UpdateUserInput!) { updateUser(input: $i) { __typename } }`,
      { i: { id: u.userId, password: 'a-new-password' } },
      s.adminToken,
    );
    expect(await s.login(u.userName, 'a-new-password')).toBeTruthy();
  });

  it('an unknown user gets exactly the answer a wrong password gets', async () => {
    const unknown = await s.ok(LOGIN, {
      input: { userName: 'nobody-here', password: 'whatever-1' },
    });
    const wrong = await s.ok(LOGIN, { input: { userName: 'admin', password: 'whatever-1' } });
    expect(unknown).toEqual(wrong);
  });

  it('the password rules name the field', async () => {
    const res = await s.ok(
      `mutation($input: CreateUserInput!) { createUser(input: $input) { __typename ... on InvalidInputError { field message } } }`,
      { input: { domainId: s.defaultDomainId, name: 'short-pw', password: 'short' } },
      s.adminToken,
    );
    expect(res.createUser).toEqual({
      __typename: 'InvalidInputError',
      field: 'input.password',
      message: 'input.password must be at least 8 characters',
    });
    const list = await s.ok(
      `{ users(filter: { name: "short-pw" }) { totalCount } }`,
      {},
      s.adminToken,
    );
    expect(list.users.totalCount).toBe(0);
  });
});

describe('login rate limiting', () => {
  it('refuses logins from one address beyond the configured rate, with a retry time', async () => {
    const limited = await startTestStratus({
      limits: { ...loadConfig({}).limits, loginPerMinute: 3 },
    });
    try {
      const answers: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await limited.ok(LOGIN, {
          input: { userName: 'admin', password: 'wrong-password' },
        });
        answers.push(res.login.__typename);
      }
      // The harness's own admin login used one point of the three.
      expect(answers).toEqual([
        'AuthenticationFailedError',
        'AuthenticationFailedError',
        'RateLimitedError',
        'RateLimitedError',
        'RateLimitedError',
      ]);
    } finally {
      await limited.stop();
    }
  });
});
