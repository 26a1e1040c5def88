import {
  AuthenticationFailedError,
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NameTakenError,
  NotFoundError,
  RateLimitedError,
} from '../../resolvers/errors';
import type { ApplicationCredentialRow } from '../../resolvers/identity/application-credentials';
import {
  createApplicationCredential,
  deleteApplicationCredential,
} from '../../resolvers/identity/application-credentials';
import type { IssuedToken } from '../../resolvers/identity/authentication';
import {
  login,
  loginWithApplicationCredential,
  revokeToken,
  revokeUserTokens,
} from '../../resolvers/identity/authentication';
import { createDomain, deleteDomain, updateDomain } from '../../resolvers/identity/domains';
import {
  addUserToGroup,
  createGroup,
  deleteGroup,
  removeUserFromGroup,
  updateGroup,
} from '../../resolvers/identity/groups';
import { createProject, deleteProject, updateProject } from '../../resolvers/identity/projects';
import { assignRole, unassignRole } from '../../resolvers/identity/role-assignments';
import { createRole, deleteRole, updateRole } from '../../resolvers/identity/roles';
import { changePassword, createUser, deleteUser, updateUser } from '../../resolvers/identity/users';
import { builder } from '../builder';
import {
  ApplicationCredential,
  Domain,
  Group,
  Project,
  Role,
  RoleAssignment,
  User,
  Viewer,
} from './types';

const CREATE_ERRORS = [InvalidInputError, NameTakenError, ForbiddenError];
const UPDATE_ERRORS = [
  InvalidInputError,
  NameTakenError,
  NotFoundError,
  ConflictError,
  ForbiddenError,
];
const DELETE_ERRORS = [NotFoundError, ConflictError, ForbiddenError];

// ---- tokens ----

const IssuedTokenType = builder.objectRef<IssuedToken>('IssuedToken').implement({
  description: 'A token and what it proves; send it as `Authorization: Bearer <token>`',
  fields: (t) => ({
    token: t.exposeString('token'),
    expiresAt: t.field({ type: 'DateTime', resolve: (i) => i.auth.expiresAt }),
    viewer: t.field({ type: Viewer, resolve: (i) => i.auth }),
  }),
});

const LoginScopeInput = builder.inputType('LoginScopeInput', {
  description: 'At most one of: a project (by id, or by name and domain), a domain, or the system',
  fields: (t) => ({
    projectId: t.globalID({ for: Project }),
    projectName: t.string(),
    projectDomain: t.string({
      description: 'Name or id of the project domain; defaults to the user domain',
    }),
    domainId: t.globalID({ for: Domain }),
    system: t.boolean(),
  }),
});
const LoginInput = builder.inputType('LoginInput', {
  fields: (t) => ({
    domain: t.string({ description: 'Name or id of the user domain', defaultValue: 'Default' }),
    userName: t.string({ required: true }),
    password: t.string({ required: true }),
    scope: t.field({ type: LoginScopeInput }),
  }),
});
const ApplicationCredentialLoginInput = builder.inputType('ApplicationCredentialLoginInput', {
  fields: (t) => ({
    id: t.globalID({ for: ApplicationCredential, required: true }),
    secret: t.string({ required: true }),
  }),
});
const RevokeTokenInput = builder.inputType('RevokeTokenInput', {
  fields: (t) => ({
    token: t.string({ description: 'The token to revoke; your own when omitted' }),
  }),
});

const RevokedToken = builder.objectRef<{ tokenId: string }>('RevokedToken').implement({
  fields: (t) => ({ tokenId: t.exposeString('tokenId') }),
});
const RevokedUserTokens = builder.objectRef<{ userId: string }>('RevokedUserTokens').implement({
  fields: (t) => ({ user: t.field({ type: User, nullable: true, resolve: (r) => r.userId }) }),
});

builder.mutationFields((t) => ({
  login: t.field({
    type: IssuedTokenType,
    description: 'Password login, like Keystone POST /v3/auth/tokens',
    authScopes: { policy: 'identity:login' },
    args: { input: t.arg({ type: LoginInput, required: true }) },
    errors: {
      types: [AuthenticationFailedError, RateLimitedError, InvalidInputError, ForbiddenError],
    },
    resolve: (_root, { input }, ctx) =>
      login(
        ctx,
        {
          ...input,
          scope: input.scope && {
            ...input.scope,
            projectId: input.scope.projectId?.id,
            domainId: input.scope.domainId?.id,
          },
        },
        ctx.clientAddress,
      ),
  }),
  loginWithApplicationCredential: t.field({
    type: IssuedTokenType,
    authScopes: { policy: 'identity:login' },
    args: { input: t.arg({ type: ApplicationCredentialLoginInput, required: true }) },
    errors: {
      types: [AuthenticationFailedError, RateLimitedError, InvalidInputError, ForbiddenError],
    },
    resolve: (_root, { input }, ctx) =>
      loginWithApplicationCredential(
        ctx,
        { id: input.id.id, secret: input.secret },
        ctx.clientAddress,
      ),
  }),
  revokeToken: t.field({
    type: RevokedToken,
    authScopes: { policy: 'identity:revoke_token' },
    args: { input: t.arg({ type: RevokeTokenInput, required: true }) },
    errors: { types: [InvalidInputError, ForbiddenError] },
    resolve: async (_root, { input }, ctx) => ({
      tokenId: await revokeToken(ctx, input.token ?? null),
    }),
  }),
  revokeUserTokens: t.field({
    type: RevokedUserTokens,
    authScopes: { policy: 'identity:revoke_user_tokens' },
    args: { userId: t.arg.globalID({ for: User, required: true }) },
    errors: { types: [NotFoundError, ForbiddenError] },
    resolve: async (_root, { userId }, ctx) => {
      await revokeUserTokens(ctx, userId.id);
      return { userId: userId.id };
    },
  }),
}));

// ---- domains ----

const CreateDomainInput = builder.inputType('CreateDomainInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    enabled: t.boolean(),
  }),
});
const UpdateDomainInput = builder.inputType('UpdateDomainInput', {
  fields: (t) => ({
    id: t.globalID({ for: Domain, required: true }),
    name: t.string(),
    description: t.string(),
    enabled: t.boolean(),
  }),
});

/** Drops null optional fields (GraphQL null = "leave as is") and unwraps global ids. */
function unpack<T extends Record<string, unknown>>(input: T): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === null || value === undefined) continue;
    out[key] =
      typeof value === 'object' && value !== null && 'typename' in value && 'id' in value
        ? (value as { id: string }).id
        : value;
  }
  return out;
}

builder.mutationFields((t) => ({
  createDomain: t.field({
    type: Domain,
    authScopes: { policy: 'identity:create_domain' },
    args: { input: t.arg({ type: CreateDomainInput, required: true }) },
    errors: { types: CREATE_ERRORS, dataField: { name: 'domain' } },
    resolve: (_root, { input }, ctx) => createDomain(ctx, unpack(input)),
  }),
  updateDomain: t.field({
    type: Domain,
    authScopes: { policy: 'identity:update_domain' },
    args: { input: t.arg({ type: UpdateDomainInput, required: true }) },
    errors: { types: UPDATE_ERRORS, dataField: { name: 'domain' } },
    resolve: (_root, { input }, ctx) => updateDomain(ctx, unpack(input)),
  }),
  deleteDomain: t.field({
    type: Domain,
    description:
      'Deletes an empty domain; one that still holds projects, users or groups is refused',
    authScopes: { policy: 'identity:delete_domain' },
    args: { id: t.arg.globalID({ for: Domain, required: true }) },
    errors: { types: DELETE_ERRORS, dataField: { name: 'domain' } },
    resolve: (_root, { id }, ctx) => deleteDomain(ctx, id.id),
  }),
}));

// ---- projects ----

const CreateProjectInput = builder.inputType('CreateProjectInput', {
  fields: (t) => ({
    domainId: t.globalID({ for: Domain, required: true }),
    name: t.string({ required: true }),
    description: t.string(),
    enabled: t.boolean(),
  }),
});
const UpdateProjectInput = builder.inputType('UpdateProjectInput', {
  fields: (t) => ({
    id: t.globalID({ for: Project, required: true }),
    name: t.string(),
    description: t.string(),
    enabled: t.boolean(),
  }),
});

builder.mutationFields((t) => ({
  createProject: t.field({
    type: Project,
    authScopes: { policy: 'identity:create_project' },
    args: { input: t.arg({ type: CreateProjectInput, required: true }) },
    errors: { types: CREATE_ERRORS, dataField: { name: 'project' } },
    resolve: (_root, { input }, ctx) => createProject(ctx, unpack(input)),
  }),
  updateProject: t.field({
    type: Project,
    description: 'Disabling a project revokes every token scoped to it',
    authScopes: { policy: 'identity:update_project' },
    args: { input: t.arg({ type: UpdateProjectInput, required: true }) },
    errors: { types: UPDATE_ERRORS, dataField: { name: 'project' } },
    resolve: (_root, { input }, ctx) => updateProject(ctx, unpack(input)),
  }),
  deleteProject: t.field({
    type: Project,
    authScopes: { policy: 'identity:delete_project' },
    args: { id: t.arg.globalID({ for: Project, required: true }) },
    errors: { types: DELETE_ERRORS, dataField: { name: 'project' } },
    resolve: (_root, { id }, ctx) => deleteProject(ctx, id.id),
  }),
}));

// ---- users ----

const CreateUserInput = builder.inputType('CreateUserInput', {
  fields: (t) => ({
    domainId: t.globalID({ for: Domain, required: true }),
    name: t.string({ required: true }),
    email: t.string(),
    password: t.string(),
    enabled: t.boolean(),
    defaultProjectId: t.globalID({ for: Project }),
  }),
});
const UpdateUserInput = builder.inputType('UpdateUserInput', {
  fields: (t) => ({
    id: t.globalID({ for: User, required: true }),
    name: t.string(),
    email: t.string(),
    password: t.string({ description: 'Resets the password; revokes the user tokens' }),
    enabled: t.boolean({ description: 'Disabling revokes the user tokens' }),
    defaultProjectId: t.globalID({ for: Project }),
  }),
});
const ChangePasswordInput = builder.inputType('ChangePasswordInput', {
  fields: (t) => ({
    originalPassword: t.string({ required: true }),
    newPassword: t.string({ required: true }),
  }),
});

builder.mutationFields((t) => ({
  createUser: t.field({
    type: User,
    authScopes: { policy: 'identity:create_user' },
    args: { input: t.arg({ type: CreateUserInput, required: true }) },
    errors: { types: CREATE_ERRORS, dataField: { name: 'user' } },
    resolve: (_root, { input }, ctx) => createUser(ctx, unpack(input)),
  }),
  updateUser: t.field({
    type: User,
    authScopes: { policy: 'identity:update_user' },
    args: { input: t.arg({ type: UpdateUserInput, required: true }) },
    errors: { types: UPDATE_ERRORS, dataField: { name: 'user' } },
    resolve: (_root, { input }, ctx) => updateUser(ctx, unpack(input)),
  }),
  deleteUser: t.field({
    type: User,
    description: 'Deletes the user with their assignments, memberships and application credentials',
    authScopes: { policy: 'identity:delete_user' },
    args: { id: t.arg.globalID({ for: User, required: true }) },
    errors: { types: DELETE_ERRORS, dataField: { name: 'user' } },
    resolve: (_root, { id }, ctx) => deleteUser(ctx, id.id),
  }),
  changePassword: t.field({
    type: User,
    description: 'Changes your own password; all your tokens are revoked, log in again',
    authScopes: { policy: 'identity:change_password' },
    args: { input: t.arg({ type: ChangePasswordInput, required: true }) },
    errors: { types: [InvalidInputError, AuthenticationFailedError], dataField: { name: 'user' } },
    resolve: (_root, { input }, ctx) => changePassword(ctx, input),
  }),
}));

// ---- groups ----

const CreateGroupInput = builder.inputType('CreateGroupInput', {
  fields: (t) => ({
    domainId: t.globalID({ for: Domain, required: true }),
    name: t.string({ required: true }),
    description: t.string(),
  }),
});
const UpdateGroupInput = builder.inputType('UpdateGroupInput', {
  fields: (t) => ({
    id: t.globalID({ for: Group, required: true }),
    name: t.string(),
    description: t.string(),
  }),
});
const GroupMembershipInput = builder.inputType('GroupMembershipInput', {
  fields: (t) => ({
    groupId: t.globalID({ for: Group, required: true }),
    userId: t.globalID({ for: User, required: true }),
  }),
});

builder.mutationFields((t) => ({
  createGroup: t.field({
    type: Group,
    authScopes: { policy: 'identity:create_group' },
    args: { input: t.arg({ type: CreateGroupInput, required: true }) },
    errors: { types: CREATE_ERRORS, dataField: { name: 'group' } },
    resolve: (_root, { input }, ctx) => createGroup(ctx, unpack(input)),
  }),
  updateGroup: t.field({
    type: Group,
    authScopes: { policy: 'identity:update_group' },
    args: { input: t.arg({ type: UpdateGroupInput, required: true }) },
    errors: { types: UPDATE_ERRORS, dataField: { name: 'group' } },
    resolve: (_root, { input }, ctx) => updateGroup(ctx, unpack(input)),
  }),
  deleteGroup: t.field({
    type: Group,
    authScopes: { policy: 'identity:delete_group' },
    args: { id: t.arg.globalID({ for: Group, required: true }) },
    errors: { types: DELETE_ERRORS, dataField: { name: 'group' } },
    resolve: (_root, { id }, ctx) => deleteGroup(ctx, id.id),
  }),
  addUserToGroup: t.field({
    type: Group,
    authScopes: { policy: 'identity:manage_group_members' },
    args: { input: t.arg({ type: GroupMembershipInput, required: true }) },
    errors: { types: [InvalidInputError, ForbiddenError], dataField: { name: 'group' } },
    resolve: (_root, { input }, ctx) => addUserToGroup(ctx, unpack(input)),
  }),
  removeUserFromGroup: t.field({
    type: Group,
    authScopes: { policy: 'identity:manage_group_members' },
    args: { input: t.arg({ type: GroupMembershipInput, required: true }) },
    errors: { types: [InvalidInputError, ForbiddenError], dataField: { name: 'group' } },
    resolve: (_root, { input }, ctx) => removeUserFromGroup(ctx, unpack(input)),
  }),
}));

// ---- roles and assignments ----

const CreateRoleInput = builder.inputType('CreateRoleInput', {
  fields: (t) => ({ name: t.string({ required: true }), description: t.string() }),
});
const UpdateRoleInput = builder.inputType('UpdateRoleInput', {
  fields: (t) => ({
    id: t.globalID({ for: Role, required: true }),
    name: t.string(),
    description: t.string(),
  }),
});
const RoleAssignmentInput = builder.inputType('RoleAssignmentInput', {
  description:
    'A role, exactly one actor (user or group) and exactly one target (project, domain or system)',
  fields: (t) => ({
    roleId: t.globalID({ for: Role, required: true }),
    userId: t.globalID({ for: User }),
    groupId: t.globalID({ for: Group }),
    projectId: t.globalID({ for: Project }),
    domainId: t.globalID({ for: Domain }),
    system: t.boolean(),
  }),
});

builder.mutationFields((t) => ({
  createRole: t.field({
    type: Role,
    authScopes: { policy: 'identity:create_role' },
    args: { input: t.arg({ type: CreateRoleInput, required: true }) },
    errors: { types: CREATE_ERRORS, dataField: { name: 'role' } },
    resolve: (_root, { input }, ctx) => createRole(ctx, unpack(input)),
  }),
  updateRole: t.field({
    type: Role,
    authScopes: { policy: 'identity:update_role' },
    args: { input: t.arg({ type: UpdateRoleInput, required: true }) },
    errors: { types: UPDATE_ERRORS, dataField: { name: 'role' } },
    resolve: (_root, { input }, ctx) => updateRole(ctx, unpack(input)),
  }),
  deleteRole: t.field({
    type: Role,
    authScopes: { policy: 'identity:delete_role' },
    args: { id: t.arg.globalID({ for: Role, required: true }) },
    errors: { types: DELETE_ERRORS, dataField: { name: 'role' } },
    resolve: (_root, { id }, ctx) => deleteRole(ctx, id.id),
  }),
  assignRole: t.field({
    type: RoleAssignment,
    authScopes: { policy: 'identity:assign_role' },
    args: { input: t.arg({ type: RoleAssignmentInput, required: true }) },
    errors: {
      types: [InvalidInputError, ConflictError, ForbiddenError],
      dataField: { name: 'roleAssignment' },
    },
    resolve: (_root, { input }, ctx) => assignRole(ctx, unpack(input)),
  }),
  unassignRole: t.field({
    type: RoleAssignment,
    description:
      'Removes an assignment; the users who held the role through it have their tokens revoked',
    authScopes: { policy: 'identity:unassign_role' },
    args: { input: t.arg({ type: RoleAssignmentInput, required: true }) },
    errors: {
      types: [InvalidInputError, NotFoundError, ForbiddenError],
      dataField: { name: 'roleAssignment' },
    },
    resolve: (_root, { input }, ctx) => unassignRole(ctx, unpack(input)),
  }),
}));

// ---- application credentials ----

const CreatedApplicationCredential = builder
  .objectRef<{ credential: ApplicationCredentialRow; secret: string }>(
    'CreatedApplicationCredential',
  )
  .implement({
    fields: (t) => ({
      credential: t.field({ type: ApplicationCredential, resolve: (c) => c.credential }),
      secret: t.exposeString('secret', { description: 'Shown once; Stratus keeps only a hash' }),
    }),
  });
const CreateApplicationCredentialInput = builder.inputType('CreateApplicationCredentialInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    expiresAt: t.field({ type: 'DateTime' }),
    roles: t.stringList({
      description: 'A subset of the roles of your token; all of them when omitted',
    }),
  }),
});

builder.mutationFields((t) => ({
  createApplicationCredential: t.field({
    type: CreatedApplicationCredential,
    description: 'For the project your token is scoped to, with some of your roles there',
    authScopes: { policy: 'identity:create_application_credential' },
    args: { input: t.arg({ type: CreateApplicationCredentialInput, required: true }) },
    errors: { types: CREATE_ERRORS, dataField: { name: 'created' } },
    resolve: (_root, { input }, ctx) => createApplicationCredential(ctx, unpack(input)),
  }),
  deleteApplicationCredential: t.field({
    type: ApplicationCredential,
    authScopes: { policy: 'identity:delete_application_credential' },
    args: { id: t.arg.globalID({ for: ApplicationCredential, required: true }) },
    errors: {
      types: [NotFoundError, ForbiddenError],
      dataField: { name: 'applicationCredential' },
    },
    resolve: (_root, { id }, ctx) => deleteApplicationCredential(ctx, id.id),
  }),
}));
