import { type Path, TemplateError } from './errors';
import { isPlainObject } from './parse';

export type ParameterType = 'string' | 'number' | 'json' | 'comma_delimited_list' | 'boolean';

/** A custom constraint check the engine supplies: null when fine, else why not. */
export type CustomConstraint = (name: string, value: unknown) => Promise<string | null>;

export type Constraint =
  | { kind: 'range'; min: number | null; max: number | null; description: string | null }
  | { kind: 'length'; min: number | null; max: number | null; description: string | null }
  | { kind: 'modulo'; step: number; offset: number; description: string | null }
  | { kind: 'allowed_values'; values: unknown[]; description: string | null }
  | { kind: 'allowed_pattern'; pattern: string; regex: RegExp; description: string | null }
  | { kind: 'custom_constraint'; name: string; description: string | null };

/** Which parameter types each constraint applies to (Heat's constraint schemas). */
const APPLIES: Record<Constraint['kind'], readonly ParameterType[]> = {
  range: ['number'],
  modulo: ['number'],
  length: ['string', 'comma_delimited_list', 'json'],
  allowed_values: ['string', 'number', 'comma_delimited_list', 'boolean', 'json'],
  allowed_pattern: ['string'],
  custom_constraint: ['string', 'number', 'comma_delimited_list', 'boolean', 'json'],
};

function bound(value: unknown, path: Path, integer: boolean): number | null {
  if (value === undefined || value === null) return null;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || Number.isNaN(n) || (integer && !Number.isInteger(n))) {
    throw new TemplateError('PARAMETER', path, `must be ${integer ? 'an integer' : 'a number'}`);
  }
  return n;
}

/** Reads one entry of a parameter's `constraints` list. */
export function parseConstraint(
  raw: unknown,
  type: ParameterType,
  kinds: ReadonlySet<string>,
  path: Path,
): Constraint {
  if (!isPlainObject(raw)) throw new TemplateError('PARAMETER', path, 'a constraint must be a map');
  const description = typeof raw.description === 'string' ? raw.description : null;
  const keys = Object.keys(raw).filter((k) => k !== 'description');
  if (keys.length !== 1) {
    throw new TemplateError(
      'PARAMETER',
      path,
      `a constraint needs exactly one of ${[...kinds].join(', ')}`,
    );
  }
  const kind = keys[0];
  const at = [...path, kind];
  if (!kinds.has(kind)) throw new TemplateError('PARAMETER', at, `unknown constraint '${kind}'`);
  if (!APPLIES[kind as Constraint['kind']].includes(type)) {
    throw new TemplateError(
      'PARAMETER',
      at,
      `the ${kind} constraint does not apply to a ${type} parameter`,
    );
  }
  const arg = raw[kind];
  switch (kind) {
    case 'range':
    case 'length': {
      if (!isPlainObject(arg))
        throw new TemplateError('PARAMETER', at, 'must be a map with min and/or max');
      for (const k of Object.keys(arg)) {
        if (k !== 'min' && k !== 'max')
          throw new TemplateError('PARAMETER', [...at, k], `unknown key '${k}' (min or max)`);
      }
      const integer = kind === 'length';
      const min = bound(arg.min, [...at, 'min'], integer);
      const max = bound(arg.max, [...at, 'max'], integer);
      if (min === null && max === null)
        throw new TemplateError('PARAMETER', at, 'needs min, max or both');
      if (min !== null && max !== null && min > max)
        throw new TemplateError('PARAMETER', at, 'min is greater than max');
      return { kind, min, max, description };
    }
    case 'modulo': {
      if (!isPlainObject(arg))
        throw new TemplateError('PARAMETER', at, 'must be a map with step and offset');
      const step = bound(arg.step, [...at, 'step'], true);
      const offset = bound(arg.offset, [...at, 'offset'], true);
      if (step === null || offset === null)
        throw new TemplateError('PARAMETER', at, 'needs both step and offset');
      if (step === 0) throw new TemplateError('PARAMETER', [...at, 'step'], 'step cannot be 0');
      if (Math.abs(offset) >= Math.abs(step)) {
        throw new TemplateError(
          'PARAMETER',
          [...at, 'offset'],
          'offset must be smaller (in absolute value) than step',
        );
      }
      if ((step > 0 && offset < 0) || (step < 0 && offset > 0)) {
        throw new TemplateError(
          'PARAMETER',
          [...at, 'offset'],
          'step and offset must have the same sign',
        );
      }
      return { kind, step, offset, description };
    }
    case 'allowed_values':
      if (!Array.isArray(arg)) throw new TemplateError('PARAMETER', at, 'must be a list');
      return { kind, values: arg, description };
    case 'allowed_pattern': {
      if (typeof arg !== 'string') throw new TemplateError('PARAMETER', at, 'must be a string');
      let regex: RegExp;
      try {
        // Heat: re.match plus a check that the match covers the whole value.
        regex = new RegExp(`^(?:${arg})$`, 'u');
      } catch (err) {
        throw new TemplateError('PARAMETER', at, `invalid pattern: ${(err as Error).message}`);
      }
      return { kind, pattern: arg, regex, description };
    }
    default:
      if (typeof arg !== 'string' || arg === '')
        throw new TemplateError('PARAMETER', at, 'must be a constraint name');
      return { kind: 'custom_constraint', name: arg, description };
  }
}

function sizeOf(value: unknown): number {
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  if (isPlainObject(value)) return Object.keys(value).length;
  return 0;
}

function range(min: number | null, max: number | null): string {
  if (min !== null && max !== null) return `between ${min} and ${max}`;
  return min !== null ? `at least ${min}` : `at most ${max}`;
}

/** Why a (coerced) value fails the constraint, or null. `shown` is the value as messages show it. */
export async function checkConstraint(
  c: Constraint,
  value: unknown,
  type: ParameterType,
  shown: string,
  custom: Readonly<Record<string, CustomConstraint>> | undefined,
): Promise<string | null> {
  const fail = (why: string): string => c.description ?? why;
  switch (c.kind) {
    case 'range': {
      const n = value as number;
      const ok = (c.min === null || n >= c.min) && (c.max === null || n <= c.max);
      return ok ? null : fail(`${shown} must be ${range(c.min, c.max)}`);
    }
    case 'length': {
      const n = sizeOf(value);
      const ok = (c.min === null || n >= c.min) && (c.max === null || n <= c.max);
      return ok ? null : fail(`the length of ${shown} must be ${range(c.min, c.max)}`);
    }
    case 'modulo': {
      const n = value as number;
      return n % c.step === c.offset
        ? null
        : fail(`${shown} is not a multiple of ${c.step} with an offset of ${c.offset}`);
    }
    case 'allowed_values': {
      const allowed = c.values.map((v) => String(v));
      const items = type === 'comma_delimited_list' ? (value as unknown[]) : [value];
      const bad = items.find((v) => !allowed.includes(String(v)));
      return bad === undefined ? null : fail(`${shown} must be one of ${allowed.join(', ')}`);
    }
    case 'allowed_pattern':
      return c.regex.test(String(value))
        ? null
        : fail(`${shown} does not match the pattern ${c.pattern}`);
    case 'custom_constraint': {
      const check = custom?.[c.name];
      // No validator given (a check without the engine): nothing to ask.
      if (!check) return custom ? fail(`there is no custom constraint '${c.name}'`) : null;
      const why = await check(c.name, value);
      return why === null ? null : (c.description ?? `${shown} fails ${c.name}: ${why}`);
    }
  }
}
