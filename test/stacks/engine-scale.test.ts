import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceContext } from '../../resolvers/runtime';
import {
  planStack,
  stackOutputs,
  startStackCreate,
  startStackDelete,
} from '../../resolvers/stacks/engine/index';
import { startTestStratus, type TestStratus } from '../support/harness';
import { at, eventsOf, memberContext, resourcesOf, waitForState } from './engine-support';

/** 100 TestResources in 10 chains: r<i> reads r<i-10>'s output. */
function template(n: number): string {
  const lines = ['heat_template_version: 2018-08-31', 'resources:'];
  for (let i = 0; i < n; i++) {
    const value = i < 10 ? `v${i}` : `{ get_attr: [r${i - 10}, output] }`;
    lines.push(`  r${i}: { type: OS::Heat::TestResource, properties: { value: ${value} } }`);
  }
  lines.push('outputs:', `  last: { value: { get_attr: [r${n - 1}, output] } }`);
  return lines.join('\n');
}

describe('stacks engine: a stack of 100 resources', () => {
  let s: TestStratus;
  let svc: ServiceContext;

  beforeAll(async () => {
    s = await startTestStratus();
    ({ svc } = await memberContext(s));
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('creates 100 TestResources in dependency order and deletes them all', async () => {
    const rt = s.stratus.runtime;
    const text = template(100);
    const plan = await planStack(svc, { name: 'hundred', template: text });
    expect(plan.errors).toEqual([]);
    expect(plan.resources).toHaveLength(100);
    expect(plan.resources.every((r) => r.action === 'CREATE')).toBe(true);
    const stack = await startStackCreate(svc, { name: 'hundred', template: text });
    const done = await waitForState(rt, stack.id, ['CREATE_COMPLETE', 'CREATE_FAILED'], 120_000);
    expect(`${done?.action}_${done?.status}`).toBe('CREATE_COMPLETE');
    const rows = await resourcesOf(rt, stack.id);
    expect(rows).toHaveLength(100);
    expect(new Set(rows.map((r) => r.physicalId)).size).toBe(100);
    const events = await eventsOf(rt, stack.id);
    for (let i = 10; i < 100; i++) {
      expect(at(events, `r${i - 10}`, 'CREATE_COMPLETE')).toBeLessThan(
        at(events, `r${i}`, 'CREATE_IN_PROGRESS'),
      );
    }
    expect((await stackOutputs(svc, done!)).last).toEqual({ value: 'v9' });
    await startStackDelete(svc, stack.id);
    await waitForState(rt, stack.id, ['GONE'], 120_000);
    expect(await resourcesOf(rt, stack.id)).toHaveLength(0);
  }, 240_000);
});
