import type { ConditionTable } from './conditions';
import { type Path, TemplateError } from './errors';
import { FUNCTIONS } from './functions/index';
import {
  type Checker,
  type Evaluator,
  type FunctionDef,
  OMIT,
  PSEUDO_PARAMETERS,
  type ResolveHooks,
  type ResourceRefInfo,
} from './functions/types';
import { isPlainObject } from './parse';
import { ALL_FUNCTIONS, firstVersionWith, type TemplateVersion } from './versions';

/** Keys that look like a function although no version has them: a typo, not data. */
const FUNCTION_LIKE = /^(get|str|list|map)_|^Fn::/;

/** The function a one-key map calls in this version and context, or null for plain data. */
function lookup(
  version: TemplateVersion,
  key: string,
  inCondition: boolean,
  path: Path,
): FunctionDef | null {
  const at = [...path, key];
  if (inCondition) {
    if (version.conditionFunctions.has(key)) return FUNCTIONS[key];
    if (version.functions.has(key)) {
      throw new TemplateError(
        'CONDITION',
        at,
        `the function '${key}' is not allowed in a condition (allowed: ${[...version.conditionFunctions].join(', ')})`,
      );
    }
  } else {
    if (version.functions.has(key)) return FUNCTIONS[key];
    if (version.conditionFunctions.has(key)) {
      throw new TemplateError(
        'FUNCTION',
        at,
        `'${key}' is a condition function: use it in the conditions section or as the condition of 'if'`,
      );
    }
  }
  const removedIn = version.removed.get(key);
  if (removedIn) {
    throw new TemplateError(
      'FUNCTION',
      at,
      `the function '${key}' was removed in heat_template_version ${removedIn}`,
    );
  }
  if (ALL_FUNCTIONS.has(key)) {
    throw new TemplateError(
      'FUNCTION',
      at,
      `the function '${key}' is not available in heat_template_version ${version.name} (it needs ${firstVersionWith(key)} or later)`,
    );
  }
  if (FUNCTION_LIKE.test(key)) throw new TemplateError('FUNCTION', at, `unknown function '${key}'`);
  return null;
}

export interface EvaluationScope {
  version: TemplateVersion;
  files: Readonly<Record<string, string>>;
  /** Parameter values by name; null when not known (a nested template checked on its own). */
  params: ReadonlyMap<string, unknown> | null;
  pseudo: Readonly<Record<(typeof PSEUDO_PARAMETERS)[number], unknown>>;
  conditions: ConditionTable;
}

export class TemplateEvaluator implements Evaluator {
  private inCondition = false;
  readonly version: TemplateVersion;
  readonly files: Readonly<Record<string, string>>;

  constructor(
    private readonly scope: EvaluationScope,
    readonly hooks: ResolveHooks = {},
  ) {
    this.version = scope.version;
    this.files = scope.files;
  }

  resolve(value: unknown, path: Path): unknown {
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      value.forEach((item, i) => {
        const r = this.resolve(item, [...path, i]);
        if (r !== OMIT) out.push(r);
      });
      return out;
    }
    if (!isPlainObject(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const fn = lookup(this.version, keys[0], this.inCondition, path);
      if (fn) return fn.evaluate(value[keys[0]], this, [...path, keys[0]]);
    }
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const r = this.resolve(value[key], [...path, key]);
      if (r !== OMIT) out[key] = r;
    }
    return out;
  }

  condition(value: unknown, path: Path): boolean {
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string') return this.scope.conditions.value(value, this, path);
    const before = this.inCondition;
    this.inCondition = true;
    try {
      const result = this.resolve(value, path);
      if (typeof result !== 'boolean') {
        throw new TemplateError(
          'CONDITION',
          path,
          `a condition must evaluate to true or false, not ${JSON.stringify(result)}`,
        );
      }
      return result;
    } finally {
      this.inCondition = before;
    }
  }

  param(name: string, path: Path): unknown {
    if ((PSEUDO_PARAMETERS as readonly string[]).includes(name)) {
      return this.scope.pseudo[name as (typeof PSEUDO_PARAMETERS)[number]] ?? null;
    }
    if (!this.scope.params)
      throw new TemplateError('PARAMETER', path, 'parameter values are not known here');
    if (!this.scope.params.has(name)) {
      throw new TemplateError(
        'REFERENCE',
        path,
        `get_param: the parameter '${name}' is not defined`,
      );
    }
    return this.scope.params.get(name);
  }
}

export interface CheckScope {
  version: TemplateVersion;
  parameters: ReadonlySet<string>;
  resources: ReadonlyMap<string, ResourceRefInfo>;
  conditions: ConditionTable;
  files: Readonly<Record<string, string>>;
  /** Evaluates conditions with the known parameters, to follow only the branch `if` takes. */
  evaluator: TemplateEvaluator;
}

export class TemplateChecker implements Checker {
  deps: Set<string> | null = null;
  inCondition = false;
  readonly version: TemplateVersion;
  readonly parameters: ReadonlySet<string>;
  readonly resources: ReadonlyMap<string, ResourceRefInfo>;
  readonly conditionNames: ReadonlySet<string>;
  readonly files: Readonly<Record<string, string>>;

  constructor(private readonly scope: CheckScope) {
    this.version = scope.version;
    this.parameters = scope.parameters;
    this.resources = scope.resources;
    this.conditionNames = new Set(scope.conditions.names());
    this.files = scope.files;
  }

  /** Checks `value` and returns the resources it needs (null: collect nothing). */
  collect(value: unknown, path: Path, collect = true): Set<string> {
    const deps = new Set<string>();
    this.deps = collect ? deps : null;
    try {
      this.check(value, path);
    } finally {
      this.deps = null;
    }
    return deps;
  }

  check(value: unknown, path: Path): void {
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        this.check(item, [...path, i]);
      });
      return;
    }
    if (!isPlainObject(value)) return;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const fn = lookup(this.version, keys[0], this.inCondition, path);
      if (fn) {
        fn.check(value[keys[0]], this, [...path, keys[0]]);
        return;
      }
    }
    for (const key of keys) this.check(value[key], [...path, key]);
  }

  checkCondition(value: unknown, path: Path): void {
    if (typeof value === 'boolean') return;
    if (typeof value === 'string') {
      if (!this.conditionNames.has(value)) {
        throw new TemplateError('REFERENCE', path, `the condition '${value}' is not defined`);
      }
      return;
    }
    if (!isPlainObject(value) || Object.keys(value).length !== 1) {
      throw new TemplateError(
        'CONDITION',
        path,
        'a condition must be a condition name, true/false or one condition function',
      );
    }
    const before = this.inCondition;
    this.inCondition = true;
    try {
      const key = Object.keys(value)[0];
      const fn = lookup(this.version, key, true, path);
      if (!fn)
        throw new TemplateError(
          'CONDITION',
          [...path, key],
          `'${key}' is not a condition function`,
        );
      fn.check(value[key], this, [...path, key]);
    } finally {
      this.inCondition = before;
    }
  }

  conditionValue(value: unknown, path: Path): boolean | null {
    try {
      return this.scope.evaluator.condition(value, path);
    } catch {
      return null;
    }
  }
}
