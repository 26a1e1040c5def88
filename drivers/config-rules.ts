import { DriverConfigError } from './errors';

/*
 * Strict driver configuration, Incus style: every key has a rule, unknown keys fail, free-form
 * `user.*` notes are ignored. Shared by every driver kind's `index.ts`.
 */

/** One config key: whether it must be present, and why a value is refused (null: accepted). */
export interface ConfigRule {
  required: boolean;
  check(value: unknown): string | null;
}

export const nonEmptyString: ConfigRule['check'] = (value) =>
  typeof value === 'string' && value.trim() !== '' ? null : 'must be a non-empty string';

export const boolean: ConfigRule['check'] = (value) =>
  typeof value === 'boolean' ? null : `must be true or false, got ${JSON.stringify(value)}`;

/**
 * Checks `config` against `rules` and returns it without `user.*` keys; throws
 * DriverConfigError naming the key that is unknown, missing or malformed.
 */
export function checkConfig(
  driver: string,
  config: unknown,
  rules: Record<string, ConfigRule>,
): Record<string, unknown> {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new DriverConfigError(driver, null, 'must be an object');
  }
  const checked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith('user.')) continue;
    const rule = Object.hasOwn(rules, key) ? rules[key] : undefined;
    if (!rule)
      throw new DriverConfigError(
        driver,
        key,
        `is not a known key (known: ${Object.keys(rules).join(', ')})`,
      );
    if (value === undefined) continue;
    const problem = rule.check(value);
    if (problem) throw new DriverConfigError(driver, key, problem);
    checked[key] = value;
  }
  for (const [key, rule] of Object.entries(rules)) {
    if (rule.required && !(key in checked)) throw new DriverConfigError(driver, key, 'is required');
  }
  return checked;
}
