import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceContext } from '../../resolvers/runtime';
import {
  planStack,
  signalResource,
  startStackCreate,
  startStackDelete,
} from '../../resolvers/stacks/engine/index';
import { signalToken } from '../../resolvers/stacks/engine/signal-token';
import { createFlavor } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { memberContext, waitForState } from './engine-support';

describe('stacks engine: custom constraints and the signal URL', () => {
  let s: TestStratus;
  let svc: ServiceContext;

  beforeAll(async () => {
    s = await startTestStratus();
    ({ svc } = await memberContext(s));
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('custom constraints (nova.flavor, glance.image, neutron.*, cinder.volume, nova.keypair) must name what the owner can see', async () => {
    await createFlavor(s, { name: 'engine.tiny' });
    const template = `
heat_template_version: 2018-08-31
parameters:
  flavor: { type: string, constraints: [{ custom_constraint: nova.flavor }] }
resources:
  v: { type: OS::Heat::Value, properties: { value: { get_param: flavor } } }
`;
    const good = await planStack(svc, {
      name: 'cc',
      template,
      parameters: { flavor: 'engine.tiny' },
    });
    expect(good.errors).toEqual([]);
    const bad = await planStack(svc, { name: 'cc', template, parameters: { flavor: 'no.such' } });
    expect(bad.errors[0]?.path).toBe('parameters.flavor');
    expect(bad.errors[0]?.message).toContain("the flavor 'no.such' could not be found");
    for (const [constraint, value] of [
      ['glance.image', 'no-image'],
      ['neutron.network', 'no-net'],
      ['neutron.subnet', 'no-subnet'],
      ['cinder.volume', 'no-volume'],
      ['nova.keypair', 'no-key'],
    ]) {
      const t = `heat_template_version: 2018-08-31
parameters:
  p: { type: string, constraints: [{ custom_constraint: ${constraint} }] }
resources:
  v: { type: OS::Heat::Value, properties: { value: { get_param: p } } }`;
      const err = await startStackCreate(svc, {
        name: 'cc',
        template: t,
        parameters: { p: value },
      }).catch((e) => e);
      expect(err.path, constraint).toBe('parameters.p');
      expect(err.message, constraint).toContain(`'${value}' could not be found`);
    }
  }, 60_000);

  it('POST /stacks/signal/<token>: a forged token is 404; a resource without signals is 400', async () => {
    const stack = await startStackCreate(svc, {
      name: 'signals',
      template: `heat_template_version: 2018-08-31
resources:
  v: { type: OS::Heat::Value, properties: { value: 1 } }`,
    });
    await waitForState(s.stratus.runtime, stack.id, ['CREATE_COMPLETE']);
    const post = (token: string) =>
      fetch(`${s.url}/stacks/signal/${token}`, {
        method: 'POST',
        body: JSON.stringify({ status: 'SUCCESS' }),
      });
    const forged = signalToken('not-the-secret', stack.id, 'v');
    expect((await post(forged)).status).toBe(404);
    const real = signalToken(s.stratus.runtime.tempUrlSecret, stack.id, 'v');
    const res = await post(real);
    expect(res.status).toBe(400);
    expect((await res.json()).message).toContain('does not accept signals');
    const err = await signalResource(svc, stack.id, 'nope', {}).catch((e) => e);
    expect(err.code).toBe('NOT_FOUND');
    await startStackDelete(svc, stack.id);
    await waitForState(s.stratus.runtime, stack.id, ['GONE']);
    expect((await post(real)).status).toBe(404);
  }, 60_000);
});
