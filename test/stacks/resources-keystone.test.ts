import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForbiddenError, InvalidInputError } from '../../resolvers/errors';
import { keystoneGroup } from '../../resolvers/stacks/resources/keystone/group';
import { keystoneProject } from '../../resolvers/stacks/resources/keystone/project';
import { keystoneRole } from '../../resolvers/stacks/resources/keystone/role';
import { keystoneUser } from '../../resolvers/stacks/resources/keystone/user';
import { keystoneUserRoleAssignment } from '../../resolvers/stacks/resources/keystone/user-role-assignment';
import type { ResourcePlugin, ResourceState } from '../../resolvers/stacks/resources/plugin';
import { rawId } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { sqlCount } from '../support/servers';
import { createResource, deleteResource, pluginContext } from './plugin-support';

/**
 * The Keystone types against a real Stratus: rows in the identity tables, a created user
 * logging in with the roles the template gave, admin-only policy (a member's stack gets the
 * domain's ForbiddenError), and bad names refused by property path with nothing created.
 */

let s: TestStratus;
let seed: Seed;
let admin: SeededUser;
let member: SeededUser;

beforeAll(async () => {
  s = await startTestStratus();
  seed = new Seed(s);
  admin = await seed.member('admin');
  member = await seed.member('member');
});
afterAll(() => s?.stop());

const count = (sql: string, ...values: unknown[]) => sqlCount(s, sql, values);

async function rejects(fn: () => Promise<unknown>): Promise<unknown> {
  return fn().then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

async function invalid(fn: () => Promise<unknown>, field: string) {
  const error = await rejects(fn);
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as InvalidInputError).field).toBe(field);
  expect((error as Error).message).toContain(field);
}

/** A member's stack may not create it: the domain's ForbiddenError, from validate and create. */
async function forbiddenForMember(plugin: ResourcePlugin, props: Record<string, unknown>) {
  const ctx = await pluginContext(s, member, 'nope');
  expect(await rejects(() => plugin.validate!(ctx, props))).toBeInstanceOf(ForbiddenError);
  expect(await rejects(() => plugin.create(ctx, props))).toBeInstanceOf(ForbiddenError);
}

async function update(
  plugin: ResourcePlugin,
  ctx: Awaited<ReturnType<typeof pluginContext>>,
  state: ResourceState,
  props: Record<string, unknown>,
): Promise<ResourceState> {
  const changed = Object.keys({ ...state.properties, ...props }).filter(
    (k) => JSON.stringify(state.properties[k]) !== JSON.stringify(props[k]),
  );
  const result = await plugin.update!(ctx, state, props, changed);
  expect(result.kind).toBe('updated');
  return { ...state, properties: props };
}

describe('OS::Keystone::Project', () => {
  it('creates, shows, updates and deletes a project (admin)', async () => {
    const ctx = await pluginContext(s, admin, 'proj');
    const props = { name: 'stack-team', description: 'made by a stack', domain: 'default' };
    await keystoneProject.validate!(ctx, props);
    const state = await createResource(keystoneProject, ctx, props);
    const id = state.physicalId!;
    expect(await keystoneProject.attribute(ctx, state, 'name')).toBe('stack-team');
    expect(await keystoneProject.attribute(ctx, state, 'domain_id')).toBe(rawId(s.defaultDomainId));
    expect(await keystoneProject.attribute(ctx, state, 'enabled')).toBe(true);
    expect(await keystoneProject.attribute(ctx, state, 'is_domain')).toBe(false);

    const next = await update(keystoneProject, ctx, state, {
      ...props,
      name: 'stack-team-2',
      enabled: false,
    });
    const { rows } = await s.stratus.runtime.pool.query(
      'select name, enabled, description from projects where id = $1',
      [id],
    );
    expect(rows).toEqual([
      { name: 'stack-team-2', enabled: false, description: 'made by a stack' },
    ]);
    await invalid(
      () => keystoneProject.update!(ctx, next, { ...props, tags: ['a'] }, ['tags']),
      'resources.proj.properties.tags',
    );

    await deleteResource(keystoneProject, ctx, next);
    expect(await count('select count(*) from projects where id = $1', id)).toBe(0);
    await deleteResource(keystoneProject, ctx, next);
  });

  it('refuses a member (Forbidden) and bad properties by path, creating nothing', async () => {
    await forbiddenForMember(keystoneProject, { name: 'member-made' });
    const ctx = await pluginContext(s, admin, 'proj');
    const f = (p: string) => `resources.proj.properties.${p}`;
    await invalid(() => keystoneProject.create(ctx, { name: 'x1', domain: 'nope' }), f('domain'));
    await invalid(() => keystoneProject.create(ctx, { name: 'x2', parent: 'admin' }), f('parent'));
    await invalid(() => keystoneProject.validate!(ctx, { name: 'x3', tags: ['t'] }), f('tags'));
    await invalid(() => keystoneProject.create(ctx, { name: '' }), f('name'));
    expect(
      await count(
        "select count(*) from projects where name in ('member-made', 'x1', 'x2', 'x3', '')",
      ),
    ).toBe(0);
  });
});

describe('OS::Keystone::Group, Role, User and UserRoleAssignment', () => {
  it('a role, a group holding it, a user in the group with roles who can log in; updates; deletes', async () => {
    const ctx = (name: string) => pluginContext(s, admin, name);
    const project = rawId(member.projectId);

    const roleCtx = await ctx('role');
    const role = await createResource(keystoneRole, roleCtx, { name: 'stack-auditor' });
    expect(await keystoneRole.attribute(roleCtx, role, 'show')).toMatchObject({
      name: 'stack-auditor',
    });
    const role2 = await update(keystoneRole, roleCtx, role, { name: 'stack-auditor-2' });

    const groupCtx = await ctx('group');
    const groupProps = {
      name: 'stack-ops',
      description: 'ops',
      roles: [{ role: 'stack-auditor-2', project }],
    };
    const group = await createResource(keystoneGroup, groupCtx, groupProps);
    const groupId = group.physicalId!;
    expect(
      await count(
        'select count(*) from role_assignments where group_id = $1 and role_id = $2 and project_id = $3',
        groupId,
        role.physicalId,
        project,
      ),
    ).toBe(1);

    const userCtx = await ctx('user');
    const userProps = {
      name: 'stack-bob',
      password: 'stack-bob-password-1',
      email: 'bob@example.com',
      default_project: project,
      groups: ['stack-ops'],
      roles: [{ role: 'member', project }],
    };
    await keystoneUser.validate!(userCtx, userProps);
    const user = await createResource(keystoneUser, userCtx, userProps);
    const userId = user.physicalId!;
    expect(await keystoneUser.attribute(userCtx, user, 'name')).toBe('stack-bob');
    expect(await keystoneUser.attribute(userCtx, user, 'default_project_id')).toBe(project);
    expect(await keystoneUser.attribute(userCtx, user, 'enabled')).toBe(true);
    expect(await keystoneUser.attribute(userCtx, user, 'show')).not.toHaveProperty('passwordHash');
    // Real: the user logs in to the project with the member role (and the group's role).
    const token = await s.login('stack-bob', 'stack-bob-password-1', {
      projectId: member.projectId,
    });
    const viewer = await s.ok('{ viewer { roles } }', {}, token);
    expect(viewer.viewer.roles).toEqual(expect.arrayContaining(['member', 'stack-auditor-2']));
    expect(
      await count(
        'select count(*) from group_members where user_id = $1 and group_id = $2',
        userId,
        groupId,
      ),
    ).toBe(1);

    // Update: renamed, out of the group, reader instead of member.
    const user2 = await update(keystoneUser, userCtx, user, {
      ...userProps,
      name: 'stack-bob-2',
      groups: [],
      roles: [{ role: 'reader', project }],
    });
    expect(await keystoneUser.attribute(userCtx, user2, 'name')).toBe('stack-bob-2');
    expect(await count('select count(*) from group_members where user_id = $1', userId)).toBe(0);
    const { rows } = await s.stratus.runtime.pool.query(
      'select r.name from role_assignments a join roles r on r.id = a.role_id where a.user_id = $1',
      [userId],
    );
    expect(rows).toEqual([{ name: 'reader' }]);

    // A role assignment resource for the same user, by name.
    const uraCtx = await ctx('ura');
    const ura = await createResource(keystoneUserRoleAssignment, uraCtx, {
      user: 'stack-bob-2',
      roles: [{ role: 'stack-auditor-2', domain: 'default' }],
    });
    expect(
      await count(
        'select count(*) from role_assignments where user_id = $1 and domain_id = $2',
        userId,
        rawId(s.defaultDomainId),
      ),
    ).toBe(1);
    const ura2 = await update(keystoneUserRoleAssignment, uraCtx, ura, {
      user: userId,
      roles: [{ role: 'stack-auditor-2', project }],
    });
    expect(
      await count(
        'select count(*) from role_assignments where user_id = $1 and role_id = $2',
        userId,
        role.physicalId,
      ),
    ).toBe(1);
    expect(
      await count(
        'select count(*) from role_assignments where user_id = $1 and project_id = $2 and role_id = $3',
        userId,
        project,
        role.physicalId,
      ),
    ).toBe(1);
    await deleteResource(keystoneUserRoleAssignment, uraCtx, ura2);
    expect(
      await count(
        'select count(*) from role_assignments where user_id = $1 and role_id = $2',
        userId,
        role.physicalId,
      ),
    ).toBe(0);

    // Group update: description and its role moved to the domain.
    await update(keystoneGroup, groupCtx, group, {
      ...groupProps,
      description: 'ops 2',
      roles: [{ role: 'stack-auditor-2', domain: 'default' }],
    });
    expect(await keystoneGroup.attribute(groupCtx, group, 'show')).toMatchObject({
      description: 'ops 2',
    });
    expect(
      await count(
        'select count(*) from role_assignments where group_id = $1 and project_id is not null',
        groupId,
      ),
    ).toBe(0);

    await deleteResource(keystoneUser, userCtx, user2);
    await deleteResource(keystoneGroup, groupCtx, group);
    await deleteResource(keystoneRole, roleCtx, role2);
    expect(await count('select count(*) from users where id = $1', userId)).toBe(0);
    expect(await count('select count(*) from groups where id = $1', groupId)).toBe(0);
    expect(await count('select count(*) from roles where id = $1', role.physicalId)).toBe(0);
    expect(
      await count(
        'select count(*) from role_assignments where user_id = $1 or group_id = $2 or role_id = $3',
        userId,
        groupId,
        role.physicalId,
      ),
    ).toBe(0);
  });

  it('refuses members (Forbidden) and bad references by path, creating nothing', async () => {
    await forbiddenForMember(keystoneUser, { name: 'm-user' });
    await forbiddenForMember(keystoneGroup, { name: 'm-group' });
    await forbiddenForMember(keystoneRole, { name: 'm-role' });
    await forbiddenForMember(keystoneUserRoleAssignment, {
      user: member.userName,
      roles: [{ role: 'admin', project: rawId(member.projectId) }],
    });

    const ctx = await pluginContext(s, admin, 'u');
    const f = (p: string) => `resources.u.properties.${p}`;
    const project = rawId(member.projectId);
    await invalid(
      () => keystoneUser.create(ctx, { name: 'bad-1', roles: [{ role: 'no-such-role', project }] }),
      f('roles[0].role'),
    );
    await invalid(
      () => keystoneUser.create(ctx, { name: 'bad-2', roles: [{ role: 'member' }] }),
      f('roles[0]'),
    );
    await invalid(
      () =>
        keystoneUser.create(ctx, {
          name: 'bad-3',
          roles: [{ role: 'member', project: 'no-such-project' }],
        }),
      f('roles[0].project'),
    );
    await invalid(
      () => keystoneUser.create(ctx, { name: 'bad-4', groups: ['nope'] }),
      f('groups[0]'),
    );
    await invalid(
      () => keystoneUser.create(ctx, { name: 'bad-5', default_project: 'nope' }),
      f('default_project'),
    );
    await invalid(() => keystoneUser.create(ctx, { name: 'bad-6', email: 'not-mail' }), f('email'));
    await invalid(() => keystoneRole.create(ctx, { name: 'r', domain: 'default' }), f('domain'));
    await invalid(
      () => keystoneUserRoleAssignment.create(ctx, { user: 'nobody', roles: [] }),
      f('user'),
    );
    // A user the same stack makes is left out of validate; the roles are still checked.
    await keystoneUserRoleAssignment.validate!(ctx, { roles: [{ role: 'member', project }] });
    await invalid(
      () => keystoneUserRoleAssignment.validate!(ctx, { roles: [{ role: 'nope', project }] }),
      f('roles[0].role'),
    );
    expect(
      await count(
        "select count(*) from users where name in ('m-user', 'bad-1', 'bad-2', 'bad-3', 'bad-4', 'bad-5', 'bad-6')",
      ),
    ).toBe(0);
    expect(await count("select count(*) from groups where name = 'm-group'")).toBe(0);
    expect(await count("select count(*) from roles where name in ('m-role', 'r')")).toBe(0);
  });
});
