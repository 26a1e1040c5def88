import { type Path, TemplateError } from '../errors';
import { isPlainObject } from '../parse';
import { ALL_FUNCTIONS } from '../versions';

/** A one-key map whose key is an intrinsic function of some version. */
export function isCall(value: unknown): value is Record<string, unknown> {
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && ALL_FUNCTIONS.has(keys[0]);
}

export function fnError(path: Path, fn: string, detail: string): TemplateError {
  return new TemplateError('FUNCTION', path, `${fn}: ${detail}`);
}

/** Statically: a list of `min`..`max` items unless it is computed by a function. */
export function checkList(
  args: unknown,
  path: Path,
  fn: string,
  min: number,
  max: number,
  form: string,
): args is unknown[] {
  if (isCall(args)) return false;
  if (!Array.isArray(args) || args.length < min || args.length > max) {
    throw fnError(path, fn, `arguments must be of the form ${form}`);
  }
  return true;
}

export function checkMap(args: unknown, path: Path, fn: string, form: string): boolean {
  if (isCall(args)) return false;
  if (!isPlainObject(args)) throw fnError(path, fn, `arguments must be of the form ${form}`);
  return true;
}

/** A literal that must be a string (functions computing it are allowed). */
export function checkStringArg(value: unknown, path: Path, fn: string, what: string): void {
  if (isCall(value)) return;
  if (typeof value !== 'string') throw fnError(path, fn, `${what} must be a string`);
}

export function needList(value: unknown, path: Path, fn: string, what: string): unknown[] {
  if (!Array.isArray(value)) throw fnError(path, fn, `${what} must be a list`);
  return value;
}

export function needMap(
  value: unknown,
  path: Path,
  fn: string,
  what: string,
): Record<string, unknown> {
  if (!isPlainObject(value)) throw fnError(path, fn, `${what} must be a map`);
  return value;
}

export function needString(value: unknown, path: Path, fn: string, what: string): string {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') throw fnError(path, fn, `${what} must be a string`);
  return value;
}

/** An integer given as a number or as digits, as Heat's int() accepts. */
export function toIndex(value: unknown): number | null {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)) return Number.parseInt(value, 10);
  return null;
}

/** Python's `==` on JSON values (1 == 1.0, but not '1'). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** Python's json.dumps (Heat's jsonutils): ", " and ": " separators, ASCII only. */
export function pyJson(value: unknown, sortKeys = false): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') {
    return JSON.stringify(value).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  }
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => pyJson(v, sortKeys)).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>);
  if (sortKeys) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${pyJson(k)}: ${pyJson(v, sortKeys)}`).join(', ')}}`;
}

/** Python's str() of a scalar: True/False for booleans. */
export function pyStr(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

/** Text for a value where Heat needs a string: None is '', collections are JSON. */
export function toText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return pyStr(value);
  return pyJson(value, true);
}
