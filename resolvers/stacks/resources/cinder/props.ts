import { InvalidInputError, StratusError } from '../../../errors';
import type { ResourceContext } from '../plugin';
import {
  asProperties as sharedAsProperties,
  renameField as sharedRenameField,
} from '../property-errors';

/**
 * Reading Heat's resolved properties and translating the domain services' `input.<field>`
 * errors into the template's property paths. Shared by the cinder, swift, keystone and aodh
 * type mappings.
 */

export type Props = Record<string, unknown>;

export const str = (p: Props, key: string): string | undefined =>
  typeof p[key] === 'string' ? (p[key] as string) : p[key] == null ? undefined : String(p[key]);

export const num = (p: Props, key: string): number | undefined =>
  p[key] == null ? undefined : Number(p[key]);

export const bool = (p: Props, key: string): boolean | undefined =>
  p[key] == null ? undefined : p[key] === true || p[key] === 'true';

export const list = (p: Props, key: string): unknown[] =>
  Array.isArray(p[key]) ? (p[key] as unknown[]) : [];

export const map = (p: Props, key: string): Record<string, unknown> =>
  p[key] && typeof p[key] === 'object' && !Array.isArray(p[key])
    ? (p[key] as Record<string, unknown>)
    : {};

export { at, badProperty } from '../property-errors';

/** The shared renaming, with list indexes as the template layer writes them (`alarm_actions[0]`). */
export const asProperties = <T>(
  ctx: ResourceContext,
  fields: Record<string, string>,
  run: () => Promise<T>,
): Promise<T> => sharedAsProperties(ctx, fields, run, { bracketIndexes: true });

export const renameField = (ctx: ResourceContext, fields: Record<string, string>, error: unknown) =>
  sharedRenameField(ctx, fields, error, { bracketIndexes: true });

/**
 * A physical resource that the domain put in a failed state (a volume in `error`): the
 * engine marks the stack resource FAILED with this message, which carries the domain's fault.
 */
export class ResourceFailedError extends StratusError {
  constructor(
    readonly resourceType: string,
    readonly physicalId: string,
    readonly status: string,
    readonly fault: string | null,
  ) {
    super(
      'CONFLICT',
      `${resourceType} ${physicalId} went to status ${status}${fault ? `: ${fault}` : ''}`,
    );
  }
}

/** Date columns as ISO text, so `show` is a plain JSON map. */
export function plain(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]),
  );
}

/** Runs a domain check given a full property path; its message is made to name that path. */
export function inField<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof InvalidInputError && !error.message.includes(error.field))
      throw new InvalidInputError(error.field, `${error.field}: ${error.message}`);
    throw error;
  }
}
