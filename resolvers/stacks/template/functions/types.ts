import type { Path } from '../errors';
import type { TemplateVersion } from '../versions';

/** What static validation knows about a resource another value refers to. */
export interface ResourceRefInfo {
  type: string;
  /** False when its `condition` is false: the resource is not part of the stack. */
  active: boolean;
  condition: string | boolean | null;
  /** Known attribute names, or null when the type's attributes are not known. */
  attributes: ReadonlySet<string> | null;
  /** A template resource (nested stack): its outputs are attributes, and `resource.<name>...`. */
  nested: boolean;
}

/** Static checks: argument shapes and references, collecting dependencies on the way. */
export interface Checker {
  readonly version: TemplateVersion;
  readonly parameters: ReadonlySet<string>;
  readonly resources: ReadonlyMap<string, ResourceRefInfo>;
  readonly conditionNames: ReadonlySet<string>;
  readonly files: Readonly<Record<string, string>>;
  /** Resources the value being checked needs; null inside a branch `if` does not take. */
  deps: Set<string> | null;
  /** True while checking a condition expression (only condition functions allowed). */
  inCondition: boolean;
  check(value: unknown, path: Path): void;
  checkCondition(value: unknown, path: Path): void;
  /** The statically known value of an `if` condition, or null when it depends on runtime. */
  conditionValue(value: unknown, path: Path): boolean | null;
}

/** Values the engine supplies when it evaluates a property tree. */
export interface ResolveHooks {
  /** The physical ID of a resource (get_resource, Ref). */
  getResource?(name: string): unknown;
  /** One attribute of a resource; `null` asks for all attributes (get_attr: [r]). */
  getAttr?(name: string, attribute: string | null): unknown;
  /** The facade resource of a nested stack: metadata, deletion_policy or update_policy. */
  resourceFacade?(kind: 'metadata' | 'deletion_policy' | 'update_policy'): unknown;
  /** Fn::GetAZs (2013-05-23 only). */
  availabilityZones?(): string[];
}

export interface Evaluator {
  readonly version: TemplateVersion;
  readonly files: Readonly<Record<string, string>>;
  readonly hooks: ResolveHooks;
  resolve(value: unknown, path: Path): unknown;
  condition(value: unknown, path: Path): boolean;
  /** A parameter's value (pseudo parameters included); throws for unknown names. */
  param(name: string, path: Path): unknown;
}

export interface FunctionDef {
  check(args: unknown, c: Checker, path: Path): void;
  evaluate(args: unknown, e: Evaluator, path: Path): unknown;
}

/** Returned by a 2021-04-16 `if` without a false value: the key or item is left out. */
export const OMIT: unique symbol = Symbol('omit');

export const PSEUDO_PARAMETERS = ['OS::stack_name', 'OS::stack_id', 'OS::project_id'] as const;
