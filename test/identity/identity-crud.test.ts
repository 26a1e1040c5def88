import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';

let s: TestStratus;
let seed: Seed;
beforeAll(async () => {
  s = await startTestStratus();
  seed = new Seed(s);
});
afterAll(() => s?.stop());

const RESULT = `__typename ... on Error { message code } ... on InvalidInputError { field }`;
/** Delete payloads cannot carry an InvalidInputError. */
const DELETED = `__typename ... on Error { message code }`;

describe('domains', () => {
  it('creates a domain, refuses a duplicate name, and refuses to delete it while it holds a project', async () => {
    const created = await s.ok(
      `mutation { createDomain(input: { name: "Engineering" }) { ${RESULT} ... on CreateDomainSuccess { domain { id name enabled } } } }`,
      {},
      s.adminToken,
    );
    const domain = created.createDomain.domain;
    expect(domain).toMatchObject({ name: 'Engineering', enabled: true });
    const dup = await s.ok(
      `mutation { createDomain(input: { name: "engineering" }) { ${RESULT} } }`,
      {},
      s.adminToken,
    );
    expect(dup.createDomain).toMatchObject({ __typename: 'NameTakenError', code: 'NAME_TAKEN' });

    const project = await s.ok(
      `mutation($d: ID!) { createProject(input: { domainId: $d, name: "infra" }) { ${RESULT} ... on CreateProjectSuccess { project { id } } } }`,
      { d: domain.id },
      s.adminToken,
    );
    const refused = await s.ok(
      `mutation($id: ID!) { deleteDomain(id: $id) { ${DELETED} } }`,
      { id: domain.id },
      s.adminToken,
    );
    expect(refused.deleteDomain.__typename).toBe('ConflictError');
    expect(refused.deleteDomain.message).toContain('still holds 1 projects');

    await s.ok(
      `mutation($id: ID!) { deleteProject(id: $id) { __typename } }`,
      { id: project.createProject.project.id },
      s.adminToken,
    );
    const deleted = await s.ok(
      `mutation($id: ID!) { deleteDomain(id: $id) { ${DELETED} } }`,
      { id: domain.id },
      s.adminToken,
    );
    expect(deleted.deleteDomain.__typename).toBe('DeleteDomainSuccess');
    const gone = await s.ok(
      `query($id: ID!) { node(id: $id) { id } }`,
      { id: domain.id },
      s.adminToken,
    );
    expect(gone.node).toBeNull();
  });

  it('a project in a domain that does not exist is refused naming domainId, and nothing is written', async () => {
    const res = await s.ok(
      `mutation($d: ID!) { createProject(input: { domainId: $d, name: "orphan" }) { ${RESULT} } }`,
      { d: encodeGlobalID('Domain', randomUUID()) },
      s.adminToken,
    );
    expect(res.createProject).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.domainId',
    });
    const list = await s.ok(
      `{ projects(filter: { name: "orphan" }) { totalCount } }`,
      {},
      s.adminToken,
    );
    expect(list.projects.totalCount).toBe(0);
  });

  it('a malformed global id is a BAD_USER_INPUT error', async () => {
    const res = await s.gql(
      `mutation { deleteDomain(id: "not-a-global-id") { __typename } }`,
      {},
      s.adminToken,
    );
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('users, groups and roles', () => {
  it('a role given to a group reaches its members at login, and leaving the group revokes their tokens', async () => {
    const projectId = await seed.project();
    const user = await seed.user();
    const group = await s.ok(
      `mutation($d: ID!) { createGroup(input: { domainId: $d, name: "ops" }) { ${RESULT} ... on CreateGroupSuccess { group { id } } } }`,
      { d: s.defaultDomainId },
      s.adminToken,
    );
    const groupId = group.createGroup.group.id;
    const add = await s.ok(
      `mutation($g: ID!, $u: ID!) { addUserToGroup(input: { groupId: $g, userId: $u }) { ${RESULT} ... on AddUserToGroupSuccess { group { members { id } } } } }`,
      { g: groupId, u: user.userId },
      s.adminToken,
    );
    expect(add.addUserToGroup.group.members).toEqual([{ id: user.userId }]);
    const assign = await s.ok(
      `mutation($input: RoleAssignmentInput!) { assignRole(input: $input) { ${RESULT} ... on AssignRoleSuccess { roleAssignment { role { name } group { name } project { id } } } } }`,
      { input: { roleId: await seed.roleId('reader'), groupId, projectId } },
      s.adminToken,
    );
    expect(assign.assignRole.roleAssignment).toEqual({
      role: { name: 'reader' },
      group: { name: 'ops' },
      project: { id: projectId },
    });
    const token = await s.login(user.userName, user.password, { projectId });
    expect((await s.ok(`{ viewer { roles } }`, {}, token)).viewer.roles).toEqual(['reader']);

    const removed = await s.ok(
      `mutation($g: ID!, $u: ID!) { removeUserFromGroup(input: { groupId: $g, userId: $u }) { ${RESULT} } }`,
      { g: groupId, u: user.userId },
      s.adminToken,
    );
    expect(removed.removeUserFromGroup.__typename).toBe('RemoveUserFromGroupSuccess');
    expect((await s.gql(`{ viewer { roles } }`, {}, token)).errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
  });

  it('assigning a role that does not exist is refused naming roleId', async () => {
    const user = await seed.user();
    const res = await s.ok(
      `mutation($input: RoleAssignmentInput!) { assignRole(input: $input) { ${RESULT} } }`,
      {
        input: { roleId: encodeGlobalID('Role', randomUUID()), userId: user.userId, system: true },
      },
      s.adminToken,
    );
    expect(res.assignRole).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.roleId',
    });
    const list = await s.ok(
      `query($u: ID!) { roleAssignments(filter: { userId: $u }) { totalCount } }`,
      { u: user.userId },
      s.adminToken,
    );
    expect(list.roleAssignments.totalCount).toBe(0);
  });

  it('custom roles can be created and deleted; built-in roles cannot be deleted', async () => {
    const created = await s.ok(
      `mutation { createRole(input: { name: "auditor" }) { ${RESULT} ... on CreateRoleSuccess { role { id builtIn } } } }`,
      {},
      s.adminToken,
    );
    expect(created.createRole.role.builtIn).toBe(false);
    const del = await s.ok(
      `mutation($id: ID!) { deleteRole(id: $id) { ${DELETED} } }`,
      { id: created.createRole.role.id },
      s.adminToken,
    );
    expect(del.deleteRole.__typename).toBe('DeleteRoleSuccess');
    const builtin = await s.ok(
      `mutation($id: ID!) { deleteRole(id: $id) { ${DELETED} } }`,
      { id: await seed.roleId('member') },
      s.adminToken,
    );
    expect(builtin.deleteRole).toMatchObject({ __typename: 'ConflictError' });
  });

  it('a duplicate user name in a domain is refused; users list for admins only shows them', async () => {
    const u = await seed.user('twin-user');
    const dup = await s.ok(
      `mutation($d: ID!) { createUser(input: { domainId: $d, name: "Twin-User", password: "long-enough-1" }) { ${RESULT} } }`,
      { d: s.defaultDomainId },
      s.adminToken,
    );
    expect(dup.createUser.__typename).toBe('NameTakenError');
    const list = await s.ok(
      `{ users(filter: { nameContains: "twin" }) { totalCount edges { node { id } } } }`,
      {},
      s.adminToken,
    );
    expect(list.users.edges).toEqual([{ node: { id: u.userId } }]);
  });

  it('changing your own password revokes your tokens and needs the current one', async () => {
    const m = await seed.member('reader');
    const wrong = await s.ok(
      `mutation { changePassword(input: { originalPassword: "nope-nope", newPassword: "brand-new-pw" }) { ${RESULT} } }`,
      {},
      m.token,
    );
    expect(wrong.changePassword.__typename).toBe('AuthenticationFailedError');
    const ok = await s.ok(
      `mutation($o: String!) { changePassword(input: { originalPassword: $o, newPassword: "brand-new-pw" }) { ${RESULT} } }`,
      { o: m.password },
      m.token,
    );
    expect(ok.changePassword.__typename).toBe('ChangePasswordSuccess');
    expect((await s.gql(`{ viewer { roles } }`, {}, m.token)).errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
    expect(await s.login(m.userName, 'brand-new-pw', { projectId: m.projectId })).toBeTruthy();
  });
});

describe('application credentials', () => {
  const CREATE = `mutation($input: CreateApplicationCredentialInput!) { createApplicationCredential(input: $input) { ${RESULT} ... on CreateApplicationCredentialSuccess { created { secret credential { id roles } } } } }`;
  const LOGIN = `mutation($id: ID!, $secret: String!) { loginWithApplicationCredential(input: { id: $id, secret: $secret }) { __typename ... on LoginWithApplicationCredentialSuccess { data { token viewer { roles method } } } } }`;

  it('gives a secret once, logs in with a subset of roles, and dies with its deletion', async () => {
    const m = await seed.member('member');
    const created = await s.ok(CREATE, { input: { name: 'ci', roles: ['reader'] } }, m.token);
    const { secret, credential } = created.createApplicationCredential.created;
    expect(credential.roles).toEqual(['reader']);
    const listed = await s.ok(
      `{ applicationCredentials { edges { node { id name } } } }`,
      {},
      m.token,
    );
    expect(listed.applicationCredentials.edges).toEqual([
      { node: { id: credential.id, name: 'ci' } },
    ]);

    const login = await s.ok(LOGIN, { id: credential.id, secret });
    expect(login.loginWithApplicationCredential.data.viewer).toEqual({
      roles: ['reader'],
      method: 'application_credential',
    });
    const acToken = login.loginWithApplicationCredential.data.token;
    const wrong = await s.ok(LOGIN, { id: credential.id, secret: 'not-the-secret' });
    expect(wrong.loginWithApplicationCredential.__typename).toBe('AuthenticationFailedError');

    const del = await s.ok(
      `mutation($id: ID!) { deleteApplicationCredential(id: $id) { ${DELETED} } }`,
      { id: credential.id },
      m.token,
    );
    expect(del.deleteApplicationCredential.__typename).toBe('DeleteApplicationCredentialSuccess');
    expect((await s.gql(`{ viewer { roles } }`, {}, acToken)).errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
  });

  it('refuses roles the creator does not hold, and another user cannot delete it', async () => {
    const m = await seed.member('reader');
    const refused = await s.ok(CREATE, { input: { name: 'too-much', roles: ['admin'] } }, m.token);
    expect(refused.createApplicationCredential).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.roles.0',
    });
    const created = await s.ok(CREATE, { input: { name: 'mine' } }, m.token);
    const other = await seed.member('member');
    const del = await s.ok(
      `mutation($id: ID!) { deleteApplicationCredential(id: $id) { ${DELETED} } }`,
      { id: created.createApplicationCredential.created.credential.id },
      other.token,
    );
    expect(del.deleteApplicationCredential.__typename).toBe('NotFoundError');
  });

  it('is deleted with its user', async () => {
    const m = await seed.member('member');
    const created = await s.ok(CREATE, { input: { name: 'gone-with-user' } }, m.token);
    const { credential, secret } = created.createApplicationCredential.created;
    await s.ok(
      `mutation($id: ID!) { deleteUser(id: $id) { __typename } }`,
      { id: m.userId },
      s.adminToken,
    );
    const login = await s.ok(LOGIN, { id: credential.id, secret });
    expect(login.loginWithApplicationCredential.__typename).toBe('AuthenticationFailedError');
  });
});
