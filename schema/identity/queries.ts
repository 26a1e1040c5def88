import { listApplicationCredentials } from '../../resolvers/identity/application-credentials';
import { listDomains } from '../../resolvers/identity/domains';
import { listGroups } from '../../resolvers/identity/groups';
import { listProjects } from '../../resolvers/identity/projects';
import { listRoleAssignments } from '../../resolvers/identity/role-assignments';
import { listRoles } from '../../resolvers/identity/roles';
import { listUsers } from '../../resolvers/identity/users';
import { getProjectQuota } from '../../resolvers/quotas';
import { builder } from '../builder';
import { listConnection, OrderDirection } from '../pagination';
import {
  ApplicationCredential,
  Domain,
  Group,
  Project,
  QuotaEntryType,
  Role,
  RoleAssignment,
  User,
  Viewer,
} from './types';

const NamedOrderField = builder.enumType('NamedOrderField', {
  values: ['NAME', 'CREATED_AT'] as const,
});
const NamedOrder = builder.inputType('NamedOrder', {
  fields: (t) => ({
    field: t.field({ type: NamedOrderField, required: true }),
    direction: t.field({ type: OrderDirection, required: true }),
  }),
});
const defaultOrder = { field: 'NAME', direction: 'ASC' } as const;

const DomainFilter = builder.inputType('DomainFilter', {
  fields: (t) => ({ name: t.string(), nameContains: t.string(), enabled: t.boolean() }),
});
const ProjectFilter = builder.inputType('ProjectFilter', {
  fields: (t) => ({
    domainId: t.globalID({ for: Domain }),
    name: t.string(),
    nameContains: t.string(),
    enabled: t.boolean(),
  }),
});
const UserFilter = builder.inputType('UserFilter', {
  fields: (t) => ({
    domainId: t.globalID({ for: Domain }),
    name: t.string(),
    nameContains: t.string(),
    enabled: t.boolean(),
  }),
});
const GroupFilter = builder.inputType('GroupFilter', {
  fields: (t) => ({ domainId: t.globalID({ for: Domain }), nameContains: t.string() }),
});
const RoleAssignmentFilter = builder.inputType('RoleAssignmentFilter', {
  fields: (t) => ({
    userId: t.globalID({ for: User }),
    groupId: t.globalID({ for: Group }),
    projectId: t.globalID({ for: Project }),
    domainId: t.globalID({ for: Domain }),
    roleId: t.globalID({ for: Role }),
  }),
});

builder.queryFields((t) => ({
  viewer: t.field({
    type: Viewer,
    nullable: true,
    description: 'The caller as their token describes them',
    authScopes: { policy: 'identity:get_viewer' },
    resolve: (_root, _args, ctx) => ctx.auth,
  }),
  domains: t.connection({
    type: Domain,
    authScopes: { policy: 'identity:list_domains' },
    nullable: true,
    args: { filter: t.arg({ type: DomainFilter }), orderBy: t.arg({ type: NamedOrder }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) =>
        listDomains(ctx, args.filter ?? {}, args.orderBy ?? defaultOrder, page),
      ),
  }),
  projects: t.connection({
    type: Project,
    description: 'Every project for an admin; the project of the token for anyone else',
    authScopes: { policy: 'identity:list_projects' },
    nullable: true,
    args: { filter: t.arg({ type: ProjectFilter }), orderBy: t.arg({ type: NamedOrder }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) =>
        listProjects(
          ctx,
          { ...args.filter, domainId: args.filter?.domainId?.id },
          args.orderBy ?? defaultOrder,
          page,
        ),
      ),
  }),
  users: t.connection({
    type: User,
    authScopes: { policy: 'identity:list_users' },
    nullable: true,
    args: { filter: t.arg({ type: UserFilter }), orderBy: t.arg({ type: NamedOrder }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) =>
        listUsers(
          ctx,
          { ...args.filter, domainId: args.filter?.domainId?.id },
          args.orderBy ?? defaultOrder,
          page,
        ),
      ),
  }),
  groups: t.connection({
    type: Group,
    authScopes: { policy: 'identity:list_groups' },
    nullable: true,
    args: { filter: t.arg({ type: GroupFilter }), direction: t.arg({ type: OrderDirection }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) =>
        listGroups(
          ctx,
          { ...args.filter, domainId: args.filter?.domainId?.id },
          args.direction ?? 'ASC',
          page,
        ),
      ),
  }),
  roles: t.connection({
    type: Role,
    authScopes: { policy: 'identity:list_roles' },
    nullable: true,
    args: { direction: t.arg({ type: OrderDirection }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) => listRoles(ctx, args.direction ?? 'ASC', page)),
  }),
  roleAssignments: t.connection({
    type: RoleAssignment,
    authScopes: { policy: 'identity:list_role_assignments' },
    nullable: true,
    args: { filter: t.arg({ type: RoleAssignmentFilter }) },
    resolve: (_root, args, ctx) => {
      const f = args.filter;
      return listConnection(args, (page) =>
        listRoleAssignments(
          ctx,
          {
            userId: f?.userId?.id,
            groupId: f?.groupId?.id,
            projectId: f?.projectId?.id,
            domainId: f?.domainId?.id,
            roleId: f?.roleId?.id,
          },
          page,
        ),
      );
    },
  }),
  applicationCredentials: t.connection({
    type: ApplicationCredential,
    description: "The caller's application credentials; an admin may name another user",
    authScopes: { policy: 'identity:list_application_credentials' },
    nullable: true,
    args: { userId: t.arg.globalID({ for: User }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) =>
        listApplicationCredentials(ctx, args.userId?.id ?? null, page),
      ),
  }),
  projectQuota: t.field({
    type: [QuotaEntryType],
    nullable: true,
    description: 'Limits and usage of a project: your own, or any for an admin',
    authScopes: { policy: 'quota:get' },
    args: { projectId: t.arg.globalID({ for: Project, required: true }) },
    resolve: (_root, args, ctx) => getProjectQuota(ctx, args.projectId.id),
  }),
}));
