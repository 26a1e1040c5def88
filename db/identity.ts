import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { idColumn, lifecycleDates } from './columns';

export const domains = pgTable(
  'domains',
  {
    id: idColumn(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    enabled: boolean('enabled').notNull().default(true),
    ...lifecycleDates,
  },
  (t) => [uniqueIndex('domains_name_key').on(sql`lower(${t.name})`)],
);

export const projects = pgTable(
  'projects',
  {
    id: idColumn(),
    domainId: uuid('domain_id')
      .notNull()
      .references(() => domains.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    enabled: boolean('enabled').notNull().default(true),
    ...lifecycleDates,
  },
  (t) => [uniqueIndex('projects_domain_name_key').on(t.domainId, sql`lower(${t.name})`)],
);

export const users = pgTable(
  'users',
  {
    id: idColumn(),
    domainId: uuid('domain_id')
      .notNull()
      .references(() => domains.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    email: text('email'),
    passwordHash: text('password_hash'),
    enabled: boolean('enabled').notNull().default(true),
    defaultProjectId: uuid('default_project_id').references(() => projects.id, {
      onDelete: 'set null',
    }),
    failedAuthCount: integer('failed_auth_count').notNull().default(0),
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    passwordChangedAt: timestamp('password_changed_at', { withTimezone: true }),
    lastLoginAt: timestamp('last_login_at', { withTimezone: true }),
    ...lifecycleDates,
  },
  (t) => [uniqueIndex('users_domain_name_key').on(t.domainId, sql`lower(${t.name})`)],
);

export const groups = pgTable(
  'groups',
  {
    id: idColumn(),
    domainId: uuid('domain_id')
      .notNull()
      .references(() => domains.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    ...lifecycleDates,
  },
  (t) => [uniqueIndex('groups_domain_name_key').on(t.domainId, sql`lower(${t.name})`)],
);

export const groupMembers = pgTable(
  'group_members',
  {
    groupId: uuid('group_id')
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('group_members_pkey').on(t.groupId, t.userId),
    index('group_members_user_idx').on(t.userId),
  ],
);

export const roles = pgTable(
  'roles',
  {
    id: idColumn(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    /** admin, member and reader come from bootstrap and cannot be deleted. */
    builtIn: boolean('built_in').notNull().default(false),
    ...lifecycleDates,
  },
  (t) => [uniqueIndex('roles_name_key').on(sql`lower(${t.name})`)],
);

export const actorTypeEnum = pgEnum('actor_type', ['user', 'group']);
export const targetTypeEnum = pgEnum('target_type', ['project', 'domain', 'system']);

export const roleAssignments = pgTable(
  'role_assignments',
  {
    id: idColumn(),
    roleId: uuid('role_id')
      .notNull()
      .references(() => roles.id, { onDelete: 'cascade' }),
    actorType: actorTypeEnum('actor_type').notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    groupId: uuid('group_id').references(() => groups.id, { onDelete: 'cascade' }),
    targetType: targetTypeEnum('target_type').notNull(),
    projectId: uuid('project_id').references(() => projects.id, { onDelete: 'cascade' }),
    domainId: uuid('domain_id').references(() => domains.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check(
      'role_assignments_actor_check',
      sql`(${t.actorType} = 'user' and ${t.userId} is not null and ${t.groupId} is null) or (${t.actorType} = 'group' and ${t.groupId} is not null and ${t.userId} is null)`,
    ),
    check(
      'role_assignments_target_check',
      sql`(${t.targetType} = 'project' and ${t.projectId} is not null and ${t.domainId} is null) or (${t.targetType} = 'domain' and ${t.domainId} is not null and ${t.projectId} is null) or (${t.targetType} = 'system' and ${t.projectId} is null and ${t.domainId} is null)`,
    ),
    uniqueIndex('role_assignments_unique').on(
      t.roleId,
      t.actorType,
      sql`coalesce(${t.userId}, ${t.groupId})`,
      t.targetType,
      sql`coalesce(${t.projectId}, ${t.domainId}, '00000000-0000-0000-0000-000000000000'::uuid)`,
    ),
    index('role_assignments_user_idx').on(t.userId),
    index('role_assignments_group_idx').on(t.groupId),
  ],
);

export const applicationCredentials = pgTable(
  'application_credentials',
  {
    id: idColumn(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    secretHash: text('secret_hash').notNull(),
    /** Names of the roles the credential carries: a subset of the creator's at creation. */
    roleNames: jsonb('role_names').$type<string[]>().notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('application_credentials_user_name_key').on(t.userId, sql`lower(${t.name})`)],
);

export const revocationKindEnum = pgEnum('revocation_kind', [
  'token',
  'user',
  'project',
  'application_credential',
]);

/** Keystone-style revocation events: tokens matching `subject` issued before `issued_before` are invalid. */
export const revocations = pgTable(
  'revocations',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    kind: revocationKindEnum('kind').notNull(),
    subject: text('subject').notNull(),
    issuedBefore: timestamp('issued_before', { withTimezone: true }).notNull(),
    /** After this time no token it could match is still valid, so the row may be pruned. */
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('revocations_expires_idx').on(t.expiresAt)],
);

/** The HMAC secret tokens are signed with, shared by every Stratus process on this database. */
export const signingKeys = pgTable('signing_keys', {
  id: idColumn(),
  secret: text('secret').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});
