import { isUuid } from '../../validation';

/**
 * The row id a template value names: a UUID as Heat takes it, or the GraphQL global ID a
 * Stratus user copies from the API (base64 of `<Type>:<uuid>`). Null when it is neither
 * (then it is a name).
 */
export function idOf(value: string): string | null {
  if (isUuid(value)) return value;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return null;
  const match = /^[A-Za-z]+:([0-9a-f-]{36})$/i.exec(Buffer.from(value, 'base64').toString('utf8'));
  return match && isUuid(match[1]) ? match[1] : null;
}
