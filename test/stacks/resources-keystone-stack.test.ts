import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { sqlCount } from '../support/servers';
import { createStack, settled, stackCounts, stackMutation, waitForStack } from './api-support';

/**
 * The Keystone types through createStack/deleteStack: an admin's stack makes a project, a
 * group and a user in it with a role on the new project (the user logs in there); a
 * member's stack with a Keystone project is refused with the domain's Forbidden, creating
 * nothing.
 */

let s: TestStratus;
let admin: SeededUser;
let member: SeededUser;

beforeAll(async () => {
  s = await startTestStratus();
  const seed = new Seed(s);
  admin = await seed.member('admin');
  member = await seed.member('member');
}, 60_000);
afterAll(() => s?.stop());

const template = `heat_template_version: 2018-08-31
parameters:
  password: {type: string, hidden: true}
resources:
  team:
    type: OS::Keystone::Project
    properties: {name: team-blue, description: made by a stack}
  ops:
    type: OS::Keystone::Group
    properties:
      name: blue-ops
      roles: [{role: reader, project: {get_resource: team}}]
  alice:
    type: OS::Keystone::User
    properties:
      name: blue-alice
      password: {get_param: password}
      default_project: {get_resource: team}
      groups: [{get_resource: ops}]
      roles: [{role: member, project: {get_resource: team}}]
outputs:
  project: {value: {get_resource: team}}
  user_project: {value: {get_attr: [alice, default_project_id]}}
`;

const VIEW = 'id status statusReason outputs { key value }';

const identityRows = () =>
  sqlCount(
    s,
    "select (select count(*) from projects where name = 'team-blue') + (select count(*) from users where name = 'blue-alice') + (select count(*) from groups where name = 'blue-ops')",
    [],
  );

describe('a keystone stack', () => {
  it('an admin makes a project, group and user who logs in with the roles; delete removes them', async () => {
    const created = await createStack(s, admin.token, {
      name: 'identity',
      template,
      parameters: { password: 'blue-alice-password-1' },
    });
    expect(created.__typename, JSON.stringify(created)).toBe('CreateStackSuccess');
    const id = created.stack.id;
    const done = await waitForStack(s, admin.token!, id, settled, VIEW, 60_000);
    expect(done!.status, done!.statusReason).toBe('CREATE_COMPLETE');
    const out = Object.fromEntries(done!.outputs.map((o: Json) => [o.key, o.value]));
    expect(out.user_project).toBe(out.project);
    expect(await identityRows()).toBe(3);

    const token = await s.login('blue-alice', 'blue-alice-password-1', {
      projectId: encodeGlobalID('Project', out.project),
    });
    const viewer = (await s.ok('{ viewer { roles project { name } } }', {}, token)).viewer;
    expect(viewer.project.name).toBe('team-blue');
    expect(viewer.roles).toEqual(expect.arrayContaining(['member', 'reader']));

    const deleted = await stackMutation(s, admin.token, 'deleteStack', 'DeleteStackInput', { id });
    expect(deleted.__typename, JSON.stringify(deleted)).toBe('DeleteStackSuccess');
    await waitForStack(s, admin.token!, id, (st) => st === null, 'id status', 60_000);
    expect(await identityRows()).toBe(0);
    expect(
      await sqlCount(s, 'select count(*) from role_assignments where project_id = $1', [
        out.project,
      ]),
    ).toBe(0);
  });

  it("a member's stack is refused with the domain's Forbidden message, creating nothing", async () => {
    const before = await stackCounts(s);
    const refused = await createStack(s, member.token, {
      name: 'identity',
      template,
      parameters: { password: 'blue-alice-password-1' },
    });
    // The domain's own refusal, typed as it typed it.
    expect(refused.__typename, JSON.stringify(refused)).toBe('ForbiddenError');
    expect(refused.message).toContain('Not allowed: identity:create_project');
    expect(await identityRows()).toBe(0);
    expect(await stackCounts(s)).toEqual(before);
  });
});
