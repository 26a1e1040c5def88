import { randomUUID } from 'node:crypto';
import type { ResourcePlugin } from '../plugin';
import { badProperty } from './props';

const TYPES = ['string', 'number', 'comma_delimited_list', 'json', 'boolean'];

/** Converts the value to the declared type, as Heat's OS::Heat::Value does. */
function typed(value: unknown, type: unknown, path: string): unknown {
  switch (type ?? null) {
    case null:
      return value;
    case 'string':
      return typeof value === 'string' ? value : JSON.stringify(value);
    case 'number': {
      const n = typeof value === 'number' ? value : Number(value);
      if (!Number.isFinite(n))
        throw badProperty(path, 'value', `'${String(value)}' is not a number`);
      return n;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (['true', 'false'].includes(String(value).toLowerCase()))
        return String(value).toLowerCase() === 'true';
      throw badProperty(path, 'value', `'${String(value)}' is not a boolean`);
    case 'comma_delimited_list':
      if (Array.isArray(value)) return value;
      return String(value)
        .split(',')
        .map((s) => s.trim());
    case 'json':
      if (typeof value !== 'string') return value;
      try {
        return JSON.parse(value);
      } catch {
        throw badProperty(path, 'value', 'is not valid JSON');
      }
    default:
      throw badProperty(path, 'type', `must be one of ${TYPES.join(', ')}`);
  }
}

/** OS::Heat::Value: a value, optionally typed, exposed as the `value` attribute. */
export const valuePlugin: ResourcePlugin = {
  type: 'OS::Heat::Value',
  properties: {
    value: { type: 'any', required: true, updateAllowed: true },
    type: { type: 'string', updateAllowed: true },
  },
  attributes: ['value'],
  async validate(ctx, props) {
    typed(props.value, props.type, ctx.path);
  },
  async create(ctx, props) {
    return { physicalId: randomUUID(), data: { value: typed(props.value, props.type, ctx.path) } };
  },
  async update(ctx, _state, props) {
    return { kind: 'updated', data: { value: typed(props.value, props.type, ctx.path) } };
  },
  async delete() {},
  async attribute(_ctx, state, name) {
    if (name === 'value') return state.data.value ?? null;
    if (name === 'show') return { value: state.data.value ?? null };
    return null;
  },
};
