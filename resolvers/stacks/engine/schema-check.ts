import { InvalidInputError } from '../../errors';
import type { PropertySpec, ResourcePlugin } from '../resources/plugin';

function coerce(spec: PropertySpec, value: unknown, where: string): unknown {
  const bad = (what: string) =>
    new InvalidInputError(where, `${where}: ${JSON.stringify(value)} is not ${what}`);
  switch (spec.type) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      throw bad('a string');
    case 'number':
    case 'integer': {
      const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
      if (typeof value === 'string' && value.trim() === '') throw bad('a number');
      if (!Number.isFinite(n)) throw bad(spec.type === 'integer' ? 'an integer' : 'a number');
      if (spec.type === 'integer' && !Number.isInteger(n)) throw bad('an integer');
      return n;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'True') return true;
      if (value === 'false' || value === 'False') return false;
      throw bad('a boolean');
    case 'list':
      if (Array.isArray(value)) return value;
      throw bad('a list');
    case 'map':
      if (value && typeof value === 'object' && !Array.isArray(value)) return value;
      throw bad('a map');
    default:
      return value;
  }
}

/**
 * Applies the plugin's defaults, checks required properties and basic types (coercing as Heat
 * does: "5" for an integer), naming the property path. `deferred` keys (still waiting for
 * another resource) are not checked.
 */
export function checkProperties(
  plugin: ResourcePlugin,
  props: Record<string, unknown>,
  path: string,
  deferred: ReadonlySet<string> = new Set(),
): Record<string, unknown> {
  if (plugin.openProperties) return props;
  const out: Record<string, unknown> = { ...props };
  for (const [key, spec] of Object.entries(plugin.properties)) {
    if (deferred.has(key)) continue;
    const where = `${path}.${key}`;
    let v = out[key];
    // An explicit null that means something (a subnet's gateway_ip: none) is kept as given.
    if (v === null && spec.nullable) continue;
    if ((v === undefined || v === null) && spec.default !== undefined) v = spec.default;
    if (v === undefined || v === null) {
      if (spec.required) throw new InvalidInputError(where, `${where}: the property is required`);
      delete out[key];
      continue;
    }
    out[key] = coerce(spec, v, where);
  }
  return out;
}

/** Names of the properties whose values differ (JSON equality). */
export function changedProperties(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys]
    .filter((k) => JSON.stringify(before[k] ?? null) !== JSON.stringify(after[k] ?? null))
    .sort();
}
