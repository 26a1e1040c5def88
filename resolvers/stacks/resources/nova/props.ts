import type { ResourceContext } from '../plugin';
import { badProperty } from '../property-errors';

/**
 * Reading Heat's resolved properties with their types checked (the template layer checks
 * names and required ones, not value types), and renaming the domain services' `input.<field>`
 * errors to the property they came from. Shared by the nova and glance type mappings.
 */

export type Props = Record<string, unknown>;

export { asProperties, at, badProperty, renameField } from '../property-errors';

export function optString(ctx: ResourceContext, p: Props, key: string): string | undefined {
  const v = p[key];
  if (v == null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw badProperty(ctx, key, 'must be a string');
}

export function optInt(ctx: ResourceContext, p: Props, key: string): number | undefined {
  const v = p[key];
  if (v == null || v === '') return undefined;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) {
    throw badProperty(ctx, key, `must be an integer (got ${JSON.stringify(v)})`);
  }
  return n;
}

/** Heat's boolean: true/false, or the strings Heat accepts for them. */
export function optBool(ctx: ResourceContext, p: Props, key: string): boolean | undefined {
  const v = p[key];
  if (v == null) return undefined;
  if (typeof v === 'boolean') return v;
  const s = String(v).toLowerCase();
  if (['true', 't', 'yes', 'y', 'on', '1'].includes(s)) return true;
  if (['false', 'f', 'no', 'n', 'off', '0'].includes(s)) return false;
  throw badProperty(ctx, key, `must be a boolean (got ${JSON.stringify(v)})`);
}

export function optList(ctx: ResourceContext, p: Props, key: string): unknown[] | undefined {
  const v = p[key];
  if (v == null) return undefined;
  if (!Array.isArray(v)) throw badProperty(ctx, key, 'must be a list');
  return v;
}

export function optMap(
  ctx: ResourceContext,
  p: Props,
  key: string,
): Record<string, unknown> | undefined {
  const v = p[key];
  if (v == null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badProperty(ctx, key, 'must be a map');
  return v as Record<string, unknown>;
}

/** A map of string values (metadata, extra_specs): numbers and booleans become strings as in Heat. */
export function optStringMap(
  ctx: ResourceContext,
  p: Props,
  key: string,
): Record<string, string> | undefined {
  const m = optMap(ctx, p, key);
  if (!m) return undefined;
  return Object.fromEntries(
    Object.entries(m).map(([k, v]) => [
      k,
      typeof v === 'string'
        ? v
        : v != null && typeof v === 'object'
          ? JSON.stringify(v)
          : String(v),
    ]),
  );
}

export function optStringList(ctx: ResourceContext, p: Props, key: string): string[] | undefined {
  const l = optList(ctx, p, key);
  if (!l) return undefined;
  return l.map((v, i) => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    throw badProperty(ctx, `${key}.${i}`, 'must be a string');
  });
}

/** One of Heat's allowed values; `fallback` when absent (Heat's default). */
export function oneOf<T extends string>(
  ctx: ResourceContext,
  p: Props,
  key: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const v = optString(ctx, p, key);
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) {
    throw badProperty(ctx, key, `"${v}" is not one of ${allowed.join(', ')}`);
  }
  return v as T;
}
