import { hash, verify } from '@node-rs/argon2';
import type { SecurityConfig } from '../../server/config';
import { InvalidInputError } from '../errors';

// 2 is Algorithm.Argon2id; the enum is ambient const and cannot be imported under isolatedModules.
const OPTIONS = { algorithm: 2 } as const;

/** Hashes a password with argon2id (library defaults: 19 MiB, 2 passes). */
export function hashSecret(secret: string): Promise<string> {
  return hash(secret, OPTIONS);
}

export async function verifySecret(hashed: string, secret: string): Promise<boolean> {
  try {
    return await verify(hashed, secret, OPTIONS);
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | null = null;
/**
 * Verifies against a hash nobody's password matches, so an unknown user costs the same time
 * as a known one and response time tells nothing about which user names exist.
 */
export async function burnVerification(secret: string): Promise<void> {
  dummyHash ??= hashSecret(`dummy-${Math.random()}`);
  await verifySecret(await dummyHash, secret);
}

/** Applies the configured password rules; `field` names the input field in the error. */
export function checkPasswordPolicy(password: string, rules: SecurityConfig, field: string): void {
  if (password.length < rules.passwordMinLength) {
    throw new InvalidInputError(
      field,
      `${field} must be at least ${rules.passwordMinLength} characters`,
    );
  }
  if (password.length > 1024) {
    throw new InvalidInputError(field, `${field} must be at most 1024 characters`);
  }
  if (rules.passwordRegex && !new RegExp(rules.passwordRegex).test(password)) {
    throw new InvalidInputError(field, `${field} must match ${rules.passwordRegexDescription}`);
  }
}
