import { type Path, TemplateError } from './errors';
import { isPlainObject, locate, parseSource } from './parse';

const SECTIONS = [
  'parameters',
  'parameter_defaults',
  'resource_registry',
  'event_sinks',
  'encrypted_param_names',
  'parameter_merge_strategies',
];

export interface Environment {
  parameters: Record<string, unknown>;
  parameterDefaults: Record<string, unknown>;
  /** Type (or `Prefix::*`) → type or template file name. */
  registry: Record<string, string>;
  /** Resource name → its own type mappings (resource_registry.resources). */
  resourceRegistry: Record<string, Record<string, string>>;
}

export type EnvironmentInput = string | Record<string, unknown>;

export function emptyEnvironment(): Environment {
  return { parameters: {}, parameterDefaults: {}, registry: {}, resourceRegistry: {} };
}

function stringMap(value: unknown, path: Path): Record<string, string> {
  if (!isPlainObject(value)) throw new TemplateError('ENVIRONMENT', path, 'must be a map');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string')
      throw new TemplateError(
        'ENVIRONMENT',
        [...path, k],
        'must be a resource type or a template file name',
      );
    out[k] = v;
  }
  return out;
}

/** Reads an environment (YAML/JSON text or an object); errors name `environment.<path>`. */
export function parseEnvironment(input: EnvironmentInput | undefined): Environment {
  const env = emptyEnvironment();
  if (input === undefined) return env;
  let raw: unknown = input;
  let positions: ReturnType<typeof parseSource>['positions'] | null = null;
  if (typeof input === 'string') {
    try {
      const source = parseSource(input, 'environment');
      raw = source.value;
      positions = source.positions;
    } catch (err) {
      if (err instanceof TemplateError)
        throw new TemplateError(err.kind, 'environment', err.detail).at(
          err.line ?? 1,
          err.column ?? 1,
        );
      throw err;
    }
    if (raw === null || raw === undefined) return env;
  }
  try {
    if (!isPlainObject(raw))
      throw new TemplateError('ENVIRONMENT', [], 'the environment must be a map');
    for (const key of Object.keys(raw)) {
      if (!SECTIONS.includes(key)) {
        throw new TemplateError(
          'ENVIRONMENT',
          [key],
          `unknown environment section '${key}' (allowed: ${SECTIONS.join(', ')})`,
        );
      }
    }
    const map = (key: string): Record<string, unknown> => {
      const v = raw[key];
      if (v === undefined || v === null) return {};
      if (!isPlainObject(v)) throw new TemplateError('ENVIRONMENT', [key], 'must be a map');
      return v;
    };
    env.parameters = map('parameters');
    env.parameterDefaults = map('parameter_defaults');
    const registry = map('resource_registry');
    for (const [key, value] of Object.entries(registry)) {
      if (key === 'resources') {
        if (!isPlainObject(value))
          throw new TemplateError(
            'ENVIRONMENT',
            ['resource_registry', 'resources'],
            'must be a map',
          );
        for (const [res, mappings] of Object.entries(value)) {
          if (!isPlainObject(mappings)) {
            throw new TemplateError(
              'ENVIRONMENT',
              ['resource_registry', 'resources', res],
              'must be a map',
            );
          }
          // hooks and restricted_actions are for Heat's breakpoints and policy: not types.
          const types = Object.fromEntries(
            Object.entries(mappings).filter(([k]) => k !== 'hooks' && k !== 'restricted_actions'),
          );
          env.resourceRegistry[res] = stringMap(types, ['resource_registry', 'resources', res]);
        }
      } else if (key !== 'base_url') {
        if (typeof value !== 'string') {
          throw new TemplateError(
            'ENVIRONMENT',
            ['resource_registry', key],
            'must be a resource type or a template file name',
          );
        }
        env.registry[key] = value;
      }
    }
  } catch (err) {
    if (err instanceof TemplateError) {
      const located = positions ? locate(err, positions) : err;
      const e = new TemplateError(
        err.kind,
        err.path === '' ? 'environment' : `environment.${err.path}`,
        err.detail,
      );
      if (located.line !== null) e.at(located.line, located.column ?? 1);
      throw e;
    }
    throw err;
  }
  return env;
}

/** Looks like a template file rather than a type name. */
export function isTemplateName(type: string): boolean {
  return /\.(ya?ml|template|json)$/i.test(type) || type.includes('://');
}

export interface RegistryResult {
  /** The type after every alias. */
  type: string;
  /** The `files` key of the template when the resource is a template resource. */
  templateFile: string | null;
}

/** Follows resource_registry mappings (per resource first, then global, then wildcards). */
export function mapType(
  env: Environment,
  resourceName: string,
  type: string,
  files: Readonly<Record<string, string>>,
  path: Path,
): RegistryResult {
  const seen = [type];
  let current = type;
  for (let step = 0; step < 20; step++) {
    if (Object.hasOwn(files, current)) return { type: current, templateFile: current };
    if (isTemplateName(current)) {
      throw new TemplateError(
        'FILE',
        path,
        `the template '${current}' of type '${type}' is not in the request's files`,
      );
    }
    const own = env.resourceRegistry[resourceName];
    let next: string | undefined = own && Object.hasOwn(own, current) ? own[current] : undefined;
    if (next === undefined && Object.hasOwn(env.registry, current)) next = env.registry[current];
    if (next === undefined) {
      const wildcard = Object.keys(env.registry)
        .filter((k) => k.endsWith('*') && current.startsWith(k.slice(0, -1)))
        .sort((a, b) => b.length - a.length)[0];
      if (wildcard) {
        const target = env.registry[wildcard];
        next = target.endsWith('*')
          ? target.slice(0, -1) + current.slice(wildcard.length - 1)
          : target;
      }
    }
    if (next === undefined || next === current) return { type: current, templateFile: null };
    if (seen.includes(next)) {
      throw new TemplateError(
        'ENVIRONMENT',
        path,
        `resource_registry maps '${type}' in a loop: ${[...seen, next].join(' -> ')}`,
      );
    }
    seen.push(next);
    current = next;
  }
  throw new TemplateError(
    'ENVIRONMENT',
    path,
    `resource_registry maps '${type}' through too many aliases`,
  );
}
