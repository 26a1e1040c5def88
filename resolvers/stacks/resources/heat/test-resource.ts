import { randomUUID } from 'node:crypto';
import { InvalidInputError } from '../../../errors';
import type { Progress, ResourcePlugin, ResourceState } from '../plugin';
import { bool, num } from './props';

type Phase = 'create' | 'update' | 'delete';

/** Seconds to wait for an action: action_wait_secs.<action> wins over wait_secs. */
function waitSecs(props: Record<string, unknown>, phase: Phase): number {
  const per = props.action_wait_secs;
  if (per && typeof per === 'object' && !Array.isArray(per)) {
    const v = (per as Record<string, unknown>)[phase];
    if (v !== undefined && v !== null) return num({ v }, 'v');
  }
  return num(props, 'wait_secs');
}

function started(props: Record<string, unknown>, phase: Phase): Record<string, unknown> {
  return { value: props.value ?? '', doneAt: Date.now() + waitSecs(props, phase) * 1000 };
}

/**
 * Durable wait: not done until the stored time (a restart does not reset it). `fail` fails the
 * action once the wait is over, as Heat's TestResource does.
 */
function check(state: ResourceState, name: string, failing: boolean): Progress {
  const doneAt = Number(state.data.doneAt ?? 0);
  const left = doneAt - Date.now();
  if (left > 0) return { done: false, reason: `waiting ${Math.ceil(left / 1000)} s` };
  if (failing) throw new InvalidInputError('fail', `Test Resource failed ${name}`);
  return { done: true };
}

/** OS::Heat::TestResource: Heat's resource for testing the engine (waits, failures, replacement). */
export const testResourcePlugin: ResourcePlugin = {
  type: 'OS::Heat::TestResource',
  properties: {
    value: { type: 'string', default: 'test_string', updateAllowed: true },
    update_replace: { type: 'boolean', default: false, updateAllowed: true },
    update_replace_value: { type: 'string', updateAllowed: true },
    fail: { type: 'boolean', default: false, updateAllowed: true },
    client_name: { type: 'string', default: '' },
    entity_name: { type: 'string', default: '' },
    wait_secs: { type: 'number', default: 0, updateAllowed: true },
    action_wait_secs: { type: 'map', updateAllowed: true },
    attr_wait_secs: { type: 'number', default: 0, updateAllowed: true },
    constraint_prop_secs: { type: 'number', default: 0, updateAllowed: true },
  },
  attributes: ['output'],
  async create(_ctx, props) {
    return { physicalId: randomUUID(), data: started(props, 'create') };
  },
  async checkCreateComplete(ctx, state) {
    return check(state, ctx.name, bool(state.properties, 'fail'));
  },
  updateReplaces(_state, props, changed) {
    return bool(props, 'update_replace') || changed.includes('update_replace_value');
  },
  async update(_ctx, state, props, changed) {
    if (this.updateReplaces!(state, props, changed)) return { kind: 'replace' };
    return { kind: 'updated', data: started(props, 'update') };
  },
  async checkUpdateComplete(ctx, state) {
    return check(state, ctx.name, bool(state.properties, 'fail'));
  },
  async delete(_ctx, state) {
    state.data.doneAt = Date.now() + waitSecs(state.properties, 'delete') * 1000;
  },
  async checkDeleteComplete(ctx, state) {
    return check(state, ctx.name, false);
  },
  async attribute(_ctx, state, name) {
    const wait = num(state.properties, 'attr_wait_secs');
    // Heat's attr_wait_secs makes the attribute slow to read; bounded so reads never hang.
    if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, 5) * 1000));
    const output = state.data.value ?? state.properties.value ?? null;
    if (name === 'output') return output;
    if (name === 'show') return { id: state.physicalId, output };
    return null;
  },
};
