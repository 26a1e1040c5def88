import { z } from 'zod';
import { InvalidInputError } from './errors';

/** Names of resources: trimmed, 1 to 64 characters, no control characters. */
export const nameSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

export const descriptionSchema = z.string().max(1024, 'must be at most 1024 characters');

/**
 * Parses `input` with `schema`; the first problem becomes an InvalidInputError naming the
 * field by its path under `input`, with the offending value quoted where it is short.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = ['input', ...issue.path.map(String)].join('.');
  let value: unknown = input;
  for (const key of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key];
  const shown = typeof value === 'string' && value.length <= 80 ? ` (got "${value}")` : '';
  throw new InvalidInputError(field, `${field} ${issue.message}${shown}`);
}

/** The constraint a unique violation hit, or null when `error` is something else. */
export function uniqueViolation(error: unknown): string | null {
  let current: unknown = error;
  while (current && typeof current === 'object') {
    const e = current as { code?: string; constraint?: string; cause?: unknown };
    if (e.code === '23505') return e.constraint ?? '';
    current = e.cause;
  }
  return null;
}

/** The constraint a foreign-key violation hit, or null. */
export function foreignKeyViolation(error: unknown): string | null {
  let current: unknown = error;
  while (current && typeof current === 'object') {
    const e = current as { code?: string; constraint?: string; cause?: unknown };
    if (e.code === '23503') return e.constraint ?? '';
    current = e.cause;
  }
  return null;
}

/** Whether `id` is a UUID; ids from clients are checked before they reach SQL. */
export function isUuid(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
}
