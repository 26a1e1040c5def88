import { InvalidInputError, StratusError } from '../../../errors';
import { IpAddressGenerationFailureError, IpAddressInUseError } from '../../../networks/errors';

/**
 * Reading Heat's property values with Heat's coercions ("true", "24") and errors that name
 * the property path, and translating the networks services' `input.*` error paths back to
 * the Heat property the value came from.
 */

export class Props {
  constructor(
    readonly path: string,
    readonly values: Record<string, unknown>,
  ) {}

  field(key: string): string {
    return `${this.path}.${key}`;
  }

  has(key: string): boolean {
    return this.values[key] !== undefined;
  }

  str(key: string): string | undefined {
    return asString(this.values[key], this.field(key));
  }

  bool(key: string): boolean | undefined {
    return asBool(this.values[key], this.field(key));
  }

  int(key: string): number | undefined {
    return asInt(this.values[key], this.field(key));
  }

  list(key: string): unknown[] | undefined {
    const v = this.values[key];
    if (v == null) return undefined;
    if (!Array.isArray(v))
      throw new InvalidInputError(this.field(key), `${this.field(key)} must be a list`);
    return v;
  }

  map(key: string): Record<string, unknown> | undefined {
    return asMap(this.values[key], this.field(key));
  }

  /** Each item of a list of maps, as Props whose path is `<key>.<i>`. */
  maps(key: string): Props[] | undefined {
    return this.list(key)?.map((item, i) => {
      const field = `${this.field(key)}.${i}`;
      return new Props(field, asMap(item, field) ?? {});
    });
  }

  /** A string the caller must give. */
  need(key: string): string {
    const v = this.str(key);
    if (v === undefined || v === '')
      throw new InvalidInputError(this.field(key), `${this.field(key)} is required`);
    return v;
  }
}

export function asString(v: unknown, field: string): string | undefined {
  if (v == null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new InvalidInputError(field, `${field} must be a string`);
}

export function asBool(v: unknown, field: string): boolean | undefined {
  if (v == null) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw new InvalidInputError(field, `${field} must be a boolean (got ${JSON.stringify(v)})`);
}

export function asInt(v: unknown, field: string): number | undefined {
  if (v == null) return undefined;
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n)) return n;
  throw new InvalidInputError(field, `${field} must be an integer (got ${JSON.stringify(v)})`);
}

export function asMap(v: unknown, field: string): Record<string, unknown> | undefined {
  if (v == null) return undefined;
  if (typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  throw new InvalidInputError(field, `${field} must be a map`);
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** `input.allocationPools.0.start` -> `<path>.allocation_pools.0.start` (renames: domain key -> Heat key). */
export function heatField(path: string, field: string, renames: Record<string, string>): string {
  const parts = field.split('.');
  if (parts[0] !== 'input') return field;
  return [path, ...parts.slice(1).map((p) => renames[p] ?? snake(p))].join('.');
}

/**
 * Runs a networks service call, turning its `input.*` field paths (in the error's field and
 * message) into the Heat property paths, so the stack's error names the template's property.
 */
export async function asHeat<T>(
  path: string,
  renames: Record<string, string>,
  run: () => Promise<T> | T,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw translated(error, path, renames);
  }
}

function translated(error: unknown, path: string, renames: Record<string, string>): unknown {
  if (!(error instanceof StratusError)) return error;
  const rename = (text: string) =>
    text.replace(/\binput(\.[A-Za-z0-9]+)*/g, (m) => heatField(path, m, renames));
  if (error instanceof IpAddressInUseError)
    return new IpAddressInUseError(rename(error.field), error.ip, error.networkId);
  if (error instanceof IpAddressGenerationFailureError)
    return new IpAddressGenerationFailureError(
      rename(error.field),
      error.networkId,
      error.subnetId,
    );
  if (error instanceof InvalidInputError)
    return new InvalidInputError(rename(error.field), rename(error.message));
  return error;
}
