import { InvalidInputError } from '../../errors';
import type { ResourceContext } from './plugin';

/**
 * Errors that name a Heat property: `resources.<name>.properties.<prop>`, and the domain
 * services' `input.<field>` errors renamed to the property they came from. Shared by the
 * nova, glance, cinder, swift, keystone and aodh type mappings.
 */

/** `resources.<name>.properties.<prop>`. */
export const at = (ctx: ResourceContext, prop: string): string => `${ctx.path}.${prop}`;

/** A property-path error: the property, and a message that names it. */
export function badProperty(ctx: ResourceContext, prop: string, detail: string): InvalidInputError {
  const field = at(ctx, prop);
  return new InvalidInputError(field, `${field}: ${detail}`);
}

export interface RenameOptions {
  /** List indexes as `[0]` (the template layer's way) instead of `.0`. */
  bracketIndexes?: boolean;
}

/**
 * The service's InvalidInputError on `input.<field>` renamed to the Heat property (`fields`
 * maps service field -> property; the longest matching prefix wins), in the field and in the
 * message. Other errors pass unchanged.
 */
export function renameField(
  ctx: ResourceContext,
  fields: Record<string, string>,
  error: unknown,
  options: RenameOptions = {},
): unknown {
  if (!(error instanceof InvalidInputError) || !/^input(\.|$)/.test(error.field)) return error;
  const rest = error.field.replace(/^input\.?/, '');
  const key = Object.keys(fields)
    .filter((k) => rest === k || rest.startsWith(`${k}.`))
    .sort((a, b) => b.length - a.length)[0];
  let prop = key === undefined ? rest : fields[key] + rest.slice(key.length);
  if (options.bracketIndexes) prop = prop.replace(/\.(\d+)(?=\.|$)/g, '[$1]');
  const field = prop ? at(ctx, prop) : ctx.path;
  const message = error.message.split(error.field).join(field);
  const renamed = new InvalidInputError(
    field,
    message.includes(field) ? message : `${field}: ${message}`,
  );
  renamed.stack = error.stack;
  return renamed;
}

/** Runs a domain service call, renaming its `input.<field>` errors (see renameField). */
export async function asProperties<T>(
  ctx: ResourceContext,
  fields: Record<string, string>,
  run: () => Promise<T>,
  options: RenameOptions = {},
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw renameField(ctx, fields, error, options);
  }
}
