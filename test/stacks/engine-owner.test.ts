import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgetOwnerContexts } from '../../resolvers/stacks/engine/context';
import { startStackCreate, startStackDelete } from '../../resolvers/stacks/engine/index';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';
import { eventsOf, memberContext, resourcesOf, waitForState } from './engine-support';

describe("stacks engine: the owner's roles are re-checked (Heat's trust)", () => {
  let s: TestStratus;

  beforeAll(async () => {
    s = await startTestStratus();
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('a delete by an owner who lost their role fails DELETE_FAILED; once restored, a new delete completes', async () => {
    const rt = s.stratus.runtime;
    const { svc, user } = await memberContext(s);
    const stack = await startStackCreate(svc, {
      name: 'orphaned',
      template: `heat_template_version: 2018-08-31
resources:
  a: { type: OS::Heat::Value, properties: { value: 1 } }
  b: { type: OS::Heat::Value, properties: { value: { get_attr: [a, value] } } }`,
    });
    await waitForState(rt, stack.id, ['CREATE_COMPLETE']);
    const seed = new Seed(s);
    const input = {
      roleId: await seed.roleId('member'),
      userId: user.userId,
      projectId: user.projectId,
    };
    const removed = await s.ok(
      `mutation($input: RoleAssignmentInput!) { unassignRole(input: $input) { __typename ... on Error { message } } }`,
      { input },
      s.adminToken,
    );
    expect(removed.unassignRole.__typename).not.toMatch(/Error/);
    forgetOwnerContexts(rt);
    await startStackDelete(svc, stack.id);
    const failed = await waitForState(rt, stack.id, ['DELETE_FAILED', 'GONE']);
    expect(`${failed?.action}_${failed?.status}`).toBe('DELETE_FAILED');
    expect(failed?.statusReason).toContain('no longer has a role');
    expect(await resourcesOf(rt, stack.id)).toHaveLength(2);

    await seed.assign('member', user.userId, user.projectId);
    forgetOwnerContexts(rt);
    await startStackDelete(svc, stack.id);
    await waitForState(rt, stack.id, ['GONE']);
    expect(await resourcesOf(rt, stack.id)).toHaveLength(0);
    expect(await eventsOf(rt, stack.id)).toHaveLength(0);
  }, 60_000);
});
