import { InvalidInputError } from '../../../errors';

/** Small readers for already resolved, default-applied property values. */
export function num(props: Record<string, unknown>, key: string, fallback = 0): number {
  const v = props[key];
  if (v === null || v === undefined || v === '') return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : fallback;
}

export function bool(props: Record<string, unknown>, key: string): boolean {
  const v = props[key];
  return v === true || v === 'true' || v === 'True' || v === 1;
}

export function badProperty(path: string, key: string, message: string): InvalidInputError {
  return new InvalidInputError(`${path}.${key}`, `${path}.${key}: ${message}`);
}
