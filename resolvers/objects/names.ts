import { InvalidInputError } from '../errors';

/** Container names as Swift allows them: 1-256 bytes, no `/`, no NUL, not `.` or `..`. */
export function checkContainerName(name: string, field = 'input.name'): string {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0) throw new InvalidInputError(field, `${field} must not be empty`);
  if (bytes > 256) throw new InvalidInputError(field, `${field} must be at most 256 bytes`);
  if (name.includes('/'))
    throw new InvalidInputError(field, `${field} must not contain "/" (got "${name}")`);
  if (name.includes('\0')) throw new InvalidInputError(field, `${field} must not contain NUL`);
  if (name === '.' || name === '..')
    throw new InvalidInputError(field, `${field} must not be "${name}"`);
  if (name.includes('\uFFFD')) throw new InvalidInputError(field, `${field} must be valid UTF-8`);
  return name;
}

/**
 * Object names: 1-1024 bytes of valid UTF-8, no NUL, and no `.` or `..` path segment, so a
 * name can never be read as a path that climbs out of its container.
 */
export function checkObjectName(name: string, field = 'input.name'): string {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0) throw new InvalidInputError(field, `${field} must not be empty`);
  if (bytes > 1024) throw new InvalidInputError(field, `${field} must be at most 1024 bytes`);
  if (name.includes('\0')) throw new InvalidInputError(field, `${field} must not contain NUL`);
  if (name.includes('\uFFFD')) throw new InvalidInputError(field, `${field} must be valid UTF-8`);
  if (name.split('/').some((segment) => segment === '..' || segment === '.')) {
    throw new InvalidInputError(
      field,
      `${field} must not contain a "." or ".." segment (got "${name}")`,
    );
  }
  return name;
}

/** Custom metadata keys: letters, digits, `-` and `_`, at most 128; values at most 256 bytes; at most 90 pairs. */
export function checkMetadata(
  metadata: Record<string, string>,
  field = 'input.metadata',
): Record<string, string> {
  const entries = Object.entries(metadata);
  if (entries.length > 90) throw new InvalidInputError(field, `${field} may hold at most 90 keys`);
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(key)) {
      throw new InvalidInputError(
        `${field}.${key}`,
        `${field} key "${key}" must be 1-128 letters, digits, "-" or "_"`,
      );
    }
    if (typeof value !== 'string' || Buffer.byteLength(value) > 256) {
      throw new InvalidInputError(
        `${field}.${key}`,
        `${field}.${key} must be a string of at most 256 bytes`,
      );
    }
    out[key.toLowerCase()] = value;
  }
  return out;
}
