import { InvalidInputError } from '../../../errors';
import type { ResourceContext } from '../plugin';

/**
 * Reading Heat's resolved properties with their types checked (the template layer checks
 * names and required ones, not value types), and renaming the domain services' `input.<field>`
 * errors to the property they came from. Shared by the nova and glance type mappings.
 */

export type Props = Record<string, unknown>;

/** `resources.<name>.properties.<prop>`. */
export const at = (ctx: ResourceContext, prop: string): string => `${ctx.path}.${prop}`;

export function badProperty(ctx: ResourceContext, prop: string, detail: string): InvalidInputError {
  const field = at(ctx, prop);
  return new InvalidInputError(field, `${field}: ${detail}`);
}

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

/**
 * Runs a domain service call and renames the `input.<field>` of its InvalidInputErrors to the
 * Heat property it came from (`fields`: service field -> property, longest prefix wins), in the
 * field and the message. Other errors pass unchanged.
 */
export async function asProperties<T>(
  ctx: ResourceContext,
  fields: Record<string, string>,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw renameField(ctx, fields, error);
  }
}

export function renameField(
  ctx: ResourceContext,
  fields: Record<string, string>,
  error: unknown,
): unknown {
  if (!(error instanceof InvalidInputError) || !/^input(\.|$)/.test(error.field)) return error;
  const rest = error.field.replace(/^input\.?/, '');
  const key = Object.keys(fields)
    .filter((k) => rest === k || rest.startsWith(`${k}.`))
    .sort((a, b) => b.length - a.length)[0];
  const prop = key === undefined ? rest : fields[key] + rest.slice(key.length);
  const field = prop ? at(ctx, prop) : ctx.path;
  const message = error.message.split(error.field).join(field);
  const renamed = new InvalidInputError(
    field,
    message.includes(field) ? message : `${field}: ${message}`,
  );
  renamed.stack = error.stack;
  return renamed;
}
