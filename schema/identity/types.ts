import {
  type ApplicationCredentialRow,
  loadApplicationCredentials,
} from '../../resolvers/identity/application-credentials';
import type { AuthContext } from '../../resolvers/identity/auth-context';
import { type DomainRow, loadDomains } from '../../resolvers/identity/domains';
import {
  type GroupRow,
  loadGroupMemberIds,
  loadGroups,
  loadUserGroupIds,
} from '../../resolvers/identity/groups';
import { loadProjects, type ProjectRow } from '../../resolvers/identity/projects';
import {
  loadAssignmentsOfUsers,
  type RoleAssignmentRow,
} from '../../resolvers/identity/role-assignments';
import { loadRoles, type RoleRow } from '../../resolvers/identity/roles';
import { loadUsers, type UserRow } from '../../resolvers/identity/users';
import { loadProjectQuotas, type QuotaEntry } from '../../resolvers/quotas';
import { builder } from '../builder';

/** Loaders return null for what the caller may not see; the field then resolves to null. */
type Loaded<T> = Array<T | Error>;
const asLoaded = <T>(rows: Array<T | null>) => rows as unknown as Loaded<T>;

export const Domain = builder.loadableNodeRef<DomainRow, string>('Domain', {
  id: { resolve: (d) => d.id },
  load: async (ids, ctx) => asLoaded(await loadDomains(ctx, ids)),
});
Domain.implement({
  description: 'A namespace of projects, users and groups (Keystone domain)',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    enabled: t.exposeBoolean('enabled'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

export const QuotaEntryType = builder.objectRef<QuotaEntry>('QuotaEntry').implement({
  description: 'Limit and usage of one resource in a project; limit -1 means unlimited',
  fields: (t) => ({
    resource: t.exposeString('resource'),
    limit: t.exposeInt('limit'),
    inUse: t.exposeInt('inUse'),
    isDefault: t.exposeBoolean('isDefault'),
  }),
});

export const Project = builder.loadableNodeRef<ProjectRow, string>('Project', {
  id: { resolve: (p) => p.id },
  load: async (ids, ctx) => asLoaded(await loadProjects(ctx, ids)),
});
Project.implement({
  description: 'A tenant: resources belong to one project (Keystone project)',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    enabled: t.exposeBoolean('enabled'),
    domain: t.field({ type: Domain, nullable: true, resolve: (p) => p.domainId }),
    quota: t.loadableList({
      type: QuotaEntryType,
      authScopes: { policy: 'quota:get' },
      nullable: true,
      load: (ids: string[], ctx) => loadProjectQuotas(ctx, ids),
      resolve: (p) => p.id,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

export const Role = builder.loadableNodeRef<RoleRow, string>('Role', {
  id: { resolve: (r) => r.id },
  load: async (ids, ctx) => asLoaded(await loadRoles(ctx, ids)),
});
Role.implement({
  description: 'A named set of permissions; admin, member and reader are built in',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    builtIn: t.exposeBoolean('builtIn'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const Group = builder.loadableNodeRef<GroupRow, string>('Group', {
  id: { resolve: (g) => g.id },
  load: async (ids, ctx) => asLoaded(await loadGroups(ctx, ids)),
});

export const User = builder.loadableNodeRef<UserRow, string>('User', {
  id: { resolve: (u) => u.id },
  load: async (ids, ctx) => asLoaded(await loadUsers(ctx, ids)),
});

export const RoleAssignment = builder.objectRef<RoleAssignmentRow>('RoleAssignment').implement({
  description: 'A role given to a user or group on a project, a domain, or the system',
  fields: (t) => ({
    role: t.field({ type: Role, nullable: true, resolve: (a) => a.roleId }),
    user: t.field({ type: User, nullable: true, resolve: (a) => a.userId }),
    group: t.field({ type: Group, nullable: true, resolve: (a) => a.groupId }),
    project: t.field({ type: Project, nullable: true, resolve: (a) => a.projectId }),
    domain: t.field({ type: Domain, nullable: true, resolve: (a) => a.domainId }),
    system: t.boolean({ resolve: (a) => a.targetType === 'system' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

User.implement({
  description: 'A person or service account that logs in (Keystone user)',
  fields: (t) => ({
    name: t.exposeString('name'),
    email: t.exposeString('email', { nullable: true }),
    enabled: t.exposeBoolean('enabled'),
    domain: t.field({ type: Domain, nullable: true, resolve: (u) => u.domainId }),
    defaultProject: t.field({ type: Project, nullable: true, resolve: (u) => u.defaultProjectId }),
    lockedUntil: t.expose('lockedUntil', { type: 'DateTime', nullable: true }),
    passwordChangedAt: t.expose('passwordChangedAt', { type: 'DateTime', nullable: true }),
    lastLoginAt: t.expose('lastLoginAt', { type: 'DateTime', nullable: true }),
    groups: t.loadableList({
      type: Group,
      authScopes: { policy: 'identity:list_groups' },
      nullable: true,
      load: async (ids: string[], ctx) => {
        const groupIds = await loadUserGroupIds(ctx, ids);
        const groups = await loadGroups(ctx, [...new Set(groupIds.flat())]);
        const byId = new Map(groups.filter((g): g is GroupRow => g !== null).map((g) => [g.id, g]));
        return groupIds.map((list) =>
          list.map((id) => byId.get(id)).filter((g): g is GroupRow => !!g),
        );
      },
      resolve: (u) => u.id,
    }),
    roleAssignments: t.loadableList({
      type: RoleAssignment,
      authScopes: { policy: 'identity:list_role_assignments' },
      nullable: true,
      load: (ids: string[], ctx) => loadAssignmentsOfUsers(ctx, ids),
      resolve: (u) => u.id,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

Group.implement({
  description: 'A set of users that can be given roles together',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    domain: t.field({ type: Domain, nullable: true, resolve: (g) => g.domainId }),
    members: t.loadableList({
      type: User,
      authScopes: { policy: 'identity:manage_group_members' },
      nullable: true,
      load: async (ids: string[], ctx) => {
        const memberIds = await loadGroupMemberIds(ctx, ids);
        const users = await loadUsers(ctx, [...new Set(memberIds.flat())]);
        const byId = new Map(users.filter((u): u is UserRow => u !== null).map((u) => [u.id, u]));
        return memberIds.map((list) =>
          list.map((id) => byId.get(id)).filter((u): u is UserRow => !!u),
        );
      },
      resolve: (g) => g.id,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const ApplicationCredential = builder.loadableNodeRef<ApplicationCredentialRow, string>(
  'ApplicationCredential',
  {
    id: { resolve: (c) => c.id },
    load: async (ids, ctx) => asLoaded(await loadApplicationCredentials(ctx, ids)),
  },
);
ApplicationCredential.implement({
  description:
    'A secret a user gives to an application to act in one project with some of their roles',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    roles: t.exposeStringList('roleNames'),
    project: t.field({ type: Project, nullable: true, resolve: (c) => c.projectId }),
    user: t.field({ type: User, nullable: true, resolve: (c) => c.userId }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const TokenScopeKind = builder.enumType('TokenScopeKind', {
  values: ['PROJECT', 'DOMAIN', 'SYSTEM', 'UNSCOPED'] as const,
});

/** What the caller's token proves: Keystone's token view. */
export const Viewer = builder.objectRef<AuthContext>('Viewer').implement({
  description: 'The caller, as their token describes them',
  fields: (t) => ({
    tokenId: t.exposeString('tokenId'),
    user: t.field({ type: User, nullable: true, resolve: (a) => a.userId }),
    scope: t.field({
      type: TokenScopeKind,
      resolve: (a) => a.scope.kind.toUpperCase() as 'PROJECT' | 'DOMAIN' | 'SYSTEM' | 'UNSCOPED',
    }),
    project: t.field({
      type: Project,
      nullable: true,
      resolve: (a) => (a.scope.kind === 'project' ? a.scope.projectId : null),
    }),
    domain: t.field({
      type: Domain,
      nullable: true,
      resolve: (a) =>
        a.scope.kind === 'project' || a.scope.kind === 'domain' ? a.scope.domainId : null,
    }),
    roles: t.exposeStringList('roles'),
    method: t.string({ resolve: (a) => a.method }),
    applicationCredentialId: t.exposeString('applicationCredentialId', { nullable: true }),
    issuedAt: t.expose('issuedAt', { type: 'DateTime' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
  }),
});
