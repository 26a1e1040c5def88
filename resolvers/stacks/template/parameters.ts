import {
  type Constraint,
  type CustomConstraint,
  checkConstraint,
  type ParameterType,
  parseConstraint,
} from './constraints';
import { type Path, TemplateError } from './errors';
import { isPlainObject } from './parse';
import type { TemplateVersion } from './versions';

const TYPES: readonly ParameterType[] = [
  'string',
  'number',
  'json',
  'comma_delimited_list',
  'boolean',
];

export interface ParameterSchema {
  name: string;
  type: ParameterType;
  label: string | null;
  description: string | null;
  hasDefault: boolean;
  /** The default, coerced to the type. */
  default: unknown;
  hidden: boolean;
  immutable: boolean;
  tags: string[];
  constraints: Constraint[];
}

/** Reads the `parameters` section (no values yet). */
export function parseParameterSchemas(
  section: unknown,
  version: TemplateVersion,
): Map<string, ParameterSchema> {
  const out = new Map<string, ParameterSchema>();
  if (section === null || section === undefined) return out;
  if (!isPlainObject(section))
    throw new TemplateError('SECTION', ['parameters'], 'must be a map of parameters');
  for (const [name, raw] of Object.entries(section)) {
    const path = ['parameters', name];
    if (!isPlainObject(raw))
      throw new TemplateError('PARAMETER', path, 'a parameter must be a map with at least a type');
    for (const key of Object.keys(raw)) {
      if (!version.parameterKeys.has(key)) {
        throw new TemplateError(
          'PARAMETER',
          [...path, key],
          `unknown parameter key '${key}' in heat_template_version ${version.name} (allowed: ${[...version.parameterKeys].join(', ')})`,
        );
      }
    }
    if (!('type' in raw))
      throw new TemplateError('PARAMETER', path, `the parameter '${name}' has no type`);
    const type = raw.type as ParameterType;
    if (typeof raw.type !== 'string' || !TYPES.includes(type)) {
      throw new TemplateError(
        'PARAMETER',
        [...path, 'type'],
        `unknown parameter type ${JSON.stringify(raw.type)} (one of ${TYPES.join(', ')})`,
      );
    }
    const flag = (key: string): boolean => {
      const v = raw[key];
      if (v === undefined || v === null) return false;
      const b = coerceBoolean(v);
      if (b === null) throw new TemplateError('PARAMETER', [...path, key], 'must be true or false');
      return b;
    };
    const text = (key: string): string | null => {
      const v = raw[key];
      if (v === undefined || v === null) return null;
      if (typeof v !== 'string')
        throw new TemplateError('PARAMETER', [...path, key], 'must be a string');
      return v;
    };
    let tags: string[] = [];
    if (raw.tags !== undefined && raw.tags !== null) {
      if (!Array.isArray(raw.tags) || raw.tags.some((t) => typeof t !== 'string')) {
        throw new TemplateError('PARAMETER', [...path, 'tags'], 'must be a list of strings');
      }
      tags = raw.tags as string[];
    }
    let constraints: Constraint[] = [];
    if (raw.constraints !== undefined && raw.constraints !== null) {
      if (!Array.isArray(raw.constraints))
        throw new TemplateError('PARAMETER', [...path, 'constraints'], 'must be a list');
      constraints = raw.constraints.map((c, i) =>
        parseConstraint(c, type, version.constraintKinds, [...path, 'constraints', i]),
      );
    }
    // `default:` left empty is no default, as in Heat.
    const hasDefault = raw.default !== undefined && raw.default !== null;
    const schema: ParameterSchema = {
      name,
      type,
      label: text('label'),
      description: text('description'),
      hasDefault,
      default: undefined,
      hidden: flag('hidden'),
      immutable: flag('immutable'),
      tags,
      constraints,
    };
    if (hasDefault) schema.default = coerce(schema, raw.default, [...path, 'default']);
    out.set(name, schema);
  }
  return out;
}

const TRUE = ['1', 't', 'true', 'on', 'y', 'yes'];
const FALSE = ['0', 'f', 'false', 'off', 'n', 'no'];

/** oslo's strict bool_from_string. */
function coerceBoolean(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  const s = String(value).trim().toLowerCase();
  if (TRUE.includes(s)) return true;
  if (FALSE.includes(s)) return false;
  return null;
}

/** A value shown in a message, except a hidden parameter's. */
export function shown(schema: ParameterSchema, value: unknown): string {
  if (schema.hidden) return 'the (hidden) value';
  return `the value ${JSON.stringify(value)}`;
}

/** Converts a given value to the parameter's type as Heat does, or throws naming `path`. */
export function coerce(schema: ParameterSchema, value: unknown, path: Path): unknown {
  const bad = (why: string): TemplateError =>
    new TemplateError(
      'CONSTRAINT',
      path,
      `${shown(schema, value)} is not valid for the ${schema.type} parameter '${schema.name}': ${why}`,
    );
  switch (schema.type) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      throw bad('it must be a string');
    case 'number': {
      if (typeof value === 'number') return value;
      if (typeof value === 'string' && value.trim() !== '') {
        const n = Number(value.trim());
        if (!Number.isNaN(n) && Number.isFinite(n)) return n;
      }
      throw bad('it must be a number');
    }
    case 'boolean': {
      const b = coerceBoolean(value);
      if (b === null) throw bad('it must be true or false');
      return b;
    }
    case 'comma_delimited_list':
      if (Array.isArray(value))
        return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
      if (typeof value === 'string')
        return value === '' ? [] : value.split(',').map((s) => s.trim());
      if (typeof value === 'number') return [String(value)];
      throw bad('it must be a list or a comma-separated string');
    case 'json': {
      if (Array.isArray(value) || isPlainObject(value)) return value;
      if (typeof value === 'string') {
        try {
          const parsed: unknown = JSON.parse(value === '' ? '{}' : value);
          if (Array.isArray(parsed) || isPlainObject(parsed)) return parsed;
        } catch {
          // reported below
        }
      }
      throw bad('it must be a JSON map or list');
    }
  }
}

export async function checkConstraints(
  schema: ParameterSchema,
  value: unknown,
  path: Path,
  custom: Readonly<Record<string, CustomConstraint>> | undefined,
): Promise<void> {
  for (const c of schema.constraints) {
    const why = await checkConstraint(c, value, schema.type, shown(schema, value), custom);
    if (why !== null) {
      throw new TemplateError(
        'CONSTRAINT',
        path,
        `the parameter '${schema.name}' fails its ${c.kind} constraint: ${why}`,
      );
    }
  }
}

export interface ParameterInputs {
  /** Values given with the request (and the environment's `parameters`). */
  given: Readonly<Record<string, unknown>>;
  /** Where given values come from, for error paths, e.g. `parameters` or `environment.parameters`. */
  givenPath: (name: string) => Path;
  /** The environment's parameter_defaults: override a template default, ignored when unknown. */
  defaults: Readonly<Record<string, unknown>>;
  custom: Readonly<Record<string, CustomConstraint>> | undefined;
  /** False for a nested template checked on its own: no value is required. */
  requireValues: boolean;
}

/** Each parameter's value: given, else parameter_defaults, else the template default. */
export async function resolveParameterValues(
  schemas: ReadonlyMap<string, ParameterSchema>,
  inputs: ParameterInputs,
): Promise<Map<string, unknown>> {
  for (const name of Object.keys(inputs.given)) {
    if (!schemas.has(name)) {
      throw new TemplateError(
        'PARAMETER',
        inputs.givenPath(name),
        `the parameter '${name}' is not defined in the template`,
      );
    }
  }
  const values = new Map<string, unknown>();
  for (const [name, schema] of schemas) {
    let value: unknown;
    let path: Path;
    if (Object.hasOwn(inputs.given, name)) {
      path = inputs.givenPath(name);
      value = coerce(schema, inputs.given[name], path);
    } else if (Object.hasOwn(inputs.defaults, name)) {
      path = ['environment', 'parameter_defaults', name];
      value = coerce(schema, inputs.defaults[name], path);
    } else if (schema.hasDefault) {
      path = ['parameters', name, 'default'];
      value = schema.default;
    } else {
      if (inputs.requireValues) {
        throw new TemplateError(
          'PARAMETER',
          ['parameters', name],
          `the parameter '${name}' was not provided and has no default`,
        );
      }
      continue;
    }
    await checkConstraints(schema, value, path, inputs.custom);
    values.set(name, value);
  }
  return values;
}
