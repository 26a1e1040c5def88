import { ConditionTable } from './conditions';
import type { CustomConstraint } from './constraints';
import { buildGraph, type DependencyGraph } from './dependencies';
import { type Environment, type EnvironmentInput, mapType, parseEnvironment } from './environment';
import { type Path, TemplateError } from './errors';
import { TemplateChecker, TemplateEvaluator } from './evaluate';
import { isCall } from './functions/args';
import { OMIT, type ResolveHooks, type ResourceRefInfo } from './functions/types';
import { type ParameterSchema, parseParameterSchemas, resolveParameterValues } from './parameters';
import { isPlainObject, locate, parseSource } from './parse';
import {
  checkOutputShape,
  checkParameterGroups,
  checkResourceShape,
  checkSections,
  type DeletionPolicy,
  normalizeDeletionPolicy,
  type ParameterGroup,
  type ResourceShape,
} from './sections';
import { findVersion, type TemplateVersion, VERSION_NAMES } from './versions';

/** What the engine knows of a resource type: its property and attribute names. */
export interface ResourceTypeSchema {
  properties?: Readonly<Record<string, { required?: boolean }>> | null;
  attributes?: readonly string[] | null;
}

export interface StackContext {
  stackName?: string;
  stackId?: string;
  projectId?: string;
}

export interface ParseTemplateOptions {
  /** The request's `files` map: get_file contents and template resources. */
  files?: Readonly<Record<string, string>>;
  environment?: EnvironmentInput;
  /** Parameter values given with the request (win over the environment's). */
  params?: Readonly<Record<string, unknown>>;
  /** custom_constraint validators by name (nova.flavor, glance.image, ...). */
  customConstraints?: Readonly<Record<string, CustomConstraint>>;
  /** The schema of a type, or null when the type does not exist; unset: any type is accepted. */
  resourceTypes?: (type: string) => ResourceTypeSchema | null;
  /** Values of the pseudo parameters OS::stack_name, OS::stack_id, OS::project_id. */
  context?: StackContext;
  /** False: a parameter without a value and default is no error (Heat's template-validate). */
  requireValues?: boolean;
}

export interface TemplateResource {
  name: string;
  /** The type as written in the template. */
  type: string;
  /** The type after the environment's resource_registry. */
  mappedType: string;
  /** For a template resource (nested stack): the `files` key of its template, and it parsed. */
  templateFile: string | null;
  nested: Template | null;
  /** Unresolved: evaluate with `template.resolve`. */
  properties: unknown;
  metadata: unknown;
  updatePolicy: unknown;
  externalId: unknown;
  deletionPolicy: DeletionPolicy;
  /** As written: a condition name, a boolean or an expression; null when none. */
  condition: unknown;
  /** Explicit depends_on. */
  dependsOn: string[];
  /** Every resource it needs: depends_on, get_resource and get_attr. */
  requires: string[];
  line: number | null;
}

export interface TemplateOutput {
  name: string;
  description: string | null;
  value: unknown;
  condition: unknown;
  /** False when its condition is false: the output is not shown. */
  enabled: boolean;
}

export type OutputValue = { value: unknown } | { error: string };

export interface Template {
  version: TemplateVersion;
  description: string;
  parameters: ReadonlyMap<string, ParameterSchema>;
  /** Coerced and checked values; a nested template checked on its own lacks the required ones. */
  parameterValues: ReadonlyMap<string, unknown>;
  parameterGroups: ParameterGroup[];
  conditions: Readonly<Record<string, boolean>>;
  /** The resources the stack has (their condition is true). */
  resources: Readonly<Record<string, TemplateResource>>;
  /** Resources left out by their condition. */
  excludedResources: string[];
  outputs: Readonly<Record<string, TemplateOutput>>;
  graph: DependencyGraph;
  files: Readonly<Record<string, string>>;
  environment: Environment;
  /** Evaluates a value of this template (a property tree, an output) with the engine's hooks. */
  resolve(value: unknown, hooks?: ResolveHooks, path?: Path, context?: StackContext): unknown;
  resolveProperties(
    resource: string,
    hooks?: ResolveHooks,
    context?: StackContext,
  ): Record<string, unknown>;
  resolveOutputs(hooks?: ResolveHooks, context?: StackContext): Record<string, OutputValue>;
}

interface NestingState {
  depth: number;
  /** Template files being parsed above this one, to refuse a template that contains itself. */
  chain: string[];
}

const MAX_NESTING = 5;

/** Parses, validates and prepares a HOT template; throws a TemplateError naming the path. */
export async function parseTemplate(
  text: string,
  options: ParseTemplateOptions = {},
): Promise<Template> {
  return parseInner(text, options, { depth: 0, chain: [] });
}

async function parseInner(
  text: string,
  options: ParseTemplateOptions,
  nesting: NestingState,
): Promise<Template> {
  const source = parseSource(text);
  try {
    return await build(source.value, options, nesting, source.positions);
  } catch (err) {
    if (err instanceof TemplateError && !err.path.startsWith('environment'))
      throw locate(err, source.positions);
    throw err;
  }
}

function readVersion(raw: Record<string, unknown>): TemplateVersion {
  if (!('heat_template_version' in raw)) {
    if ('AWSTemplateFormatVersion' in raw || 'HeatTemplateFormatVersion' in raw) {
      throw new TemplateError(
        'VERSION',
        [],
        'CloudFormation (CFN) templates are not supported: use a HOT template',
      );
    }
    throw new TemplateError('VERSION', [], 'the template has no heat_template_version');
  }
  const value = raw.heat_template_version;
  const name = value instanceof Date ? value.toISOString().slice(0, 10) : String(value);
  const version = findVersion(name);
  if (!version) {
    throw new TemplateError(
      'VERSION',
      ['heat_template_version'],
      `unknown template version '${name}' (valid: ${VERSION_NAMES.join(', ')})`,
    );
  }
  return version;
}

function mapSection(raw: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = raw[key];
  if (v === undefined || v === null) return {};
  if (!isPlainObject(v))
    throw new TemplateError('SECTION', [key], `the ${key} section must be a map`);
  return v;
}

async function build(
  value: unknown,
  options: ParseTemplateOptions,
  nesting: NestingState,
  positions: Map<string, { line: number }>,
): Promise<Template> {
  if (!isPlainObject(value))
    throw new TemplateError('SECTION', [], 'the template must be a map of sections');
  const version = readVersion(value);
  checkSections(value, version);
  const files = options.files ?? {};
  const environment = parseEnvironment(options.environment);
  const nested = nesting.depth > 0;

  // Parameters: the request's values win over the environment's, then parameter_defaults.
  const schemas = parseParameterSchemas(value.parameters, version);
  const parameterGroups = checkParameterGroups(value.parameter_groups, new Set(schemas.keys()));
  const given = { ...environment.parameters, ...(options.params ?? {}) };
  const parameterValues = await resolveParameterValues(schemas, {
    given,
    givenPath: (name) =>
      options.params && Object.hasOwn(options.params, name)
        ? ['parameters', name]
        : ['environment', 'parameters', name],
    defaults: environment.parameterDefaults,
    custom: options.customConstraints,
    requireValues: !nested && options.requireValues !== false,
  });

  const conditionDefs = mapSection(value, 'conditions');
  const conditions = new ConditionTable(conditionDefs);
  const context = options.context ?? {};
  const scopeFor = (ctx: StackContext) => ({
    version,
    files,
    params: parameterValues,
    pseudo: {
      'OS::stack_name': ctx.stackName ?? context.stackName ?? null,
      'OS::stack_id': ctx.stackId ?? context.stackId ?? null,
      'OS::project_id': ctx.projectId ?? context.projectId ?? null,
    },
    conditions,
  });
  const staticEvaluator = new TemplateEvaluator(scopeFor({}));

  // Resources: shapes, conditions, types.
  const rawResources = mapSection(value, 'resources');
  const shapes = new Map<string, ResourceShape>();
  for (const [name, raw] of Object.entries(rawResources))
    shapes.set(name, checkResourceShape(name, raw, version));

  const resourceInfo = new Map<string, ResourceRefInfo>();
  const checker = new TemplateChecker({
    version,
    parameters: new Set(schemas.keys()),
    resources: resourceInfo,
    conditions,
    files,
    evaluator: staticEvaluator,
  });
  for (const [name, def] of Object.entries(conditionDefs))
    checker.checkCondition(def, ['conditions', name]);
  // A nested template checked on its own may not know the values its conditions need.
  const conditionValues = nested ? {} : conditions.all(staticEvaluator);

  const isActive = (cond: unknown, path: Path): boolean => {
    if (cond === null || cond === undefined) return true;
    checker.checkCondition(cond, path);
    if (nested) return cond !== false;
    return staticEvaluator.condition(cond, path);
  };

  const nestedTemplates = new Map<string, Template>();
  const resources: Record<string, TemplateResource> = {};
  const excluded: string[] = [];
  const typeSchemas = new Map<string, ResourceTypeSchema | null>();
  for (const [name, shape] of shapes) {
    const path = ['resources', name];
    const active = isActive(shape.condition, [...path, 'condition']);
    const mapped = mapType(environment, name, shape.type, files, [...path, 'type']);
    let attributes: ReadonlySet<string> | null = null;
    let nestedTemplate: Template | null = null;
    if (mapped.templateFile !== null) {
      const file = mapped.templateFile;
      if (nesting.chain.includes(file) || nesting.depth >= MAX_NESTING) {
        throw new TemplateError(
          'RESOURCE',
          [...path, 'type'],
          `the template resource '${file}' nests too deep or contains itself (${[...nesting.chain, file].join(' -> ')})`,
        );
      }
      nestedTemplate = nestedTemplates.get(file) ?? null;
      if (!nestedTemplate) {
        try {
          nestedTemplate = await parseInner(
            files[file],
            {
              files,
              environment: { resource_registry: registryOf(environment) },
              resourceTypes: options.resourceTypes,
              customConstraints: options.customConstraints,
            },
            { depth: nesting.depth + 1, chain: [...nesting.chain, file] },
          );
        } catch (err) {
          if (err instanceof TemplateError) {
            const where = err.line === null ? '' : ` (line ${err.line}, column ${err.column})`;
            throw new TemplateError(
              err.kind,
              [...path, 'type'],
              `in the template '${file}': ${err.path === '' ? '' : `${err.path}: `}${err.detail}${where}`,
            );
          }
          throw err;
        }
        nestedTemplates.set(file, nestedTemplate);
      }
      attributes = new Set(Object.keys(nestedTemplate.outputs));
      checkNestedProperties(nestedTemplate, shape.properties, path);
    } else if (options.resourceTypes) {
      let schema = typeSchemas.get(mapped.type);
      if (schema === undefined) {
        schema = options.resourceTypes(mapped.type);
        typeSchemas.set(mapped.type, schema);
      }
      if (!schema) {
        const alias = mapped.type === shape.type ? '' : ` (mapped from '${shape.type}')`;
        throw new TemplateError(
          'RESOURCE',
          [...path, 'type'],
          `unknown resource type '${mapped.type}'${alias}`,
        );
      }
      if (schema.attributes) attributes = new Set(schema.attributes);
      if (schema.properties)
        checkTypeProperties(schema.properties, shape.properties, mapped.type, path);
    }
    resourceInfo.set(name, {
      type: mapped.type,
      active,
      condition: shape.condition as ResourceRefInfo['condition'],
      attributes,
      nested: nestedTemplate !== null,
    });
    if (!active) excluded.push(name);
    resources[name] = {
      name,
      type: shape.type,
      mappedType: mapped.type,
      templateFile: mapped.templateFile,
      nested: nestedTemplate,
      properties: shape.properties,
      metadata: shape.metadata,
      updatePolicy: shape.updatePolicy,
      externalId: shape.externalId,
      deletionPolicy: 'Delete',
      condition: shape.condition,
      dependsOn: shape.dependsOn,
      requires: [],
      line: positions.get(`resources.${name}`)?.line ?? null,
    };
  }

  // Functions and references; dependencies of the resources the stack has.
  const edges = new Map<string, Set<string>>();
  for (const [name, res] of Object.entries(resources)) {
    const path = ['resources', name];
    const active = resourceInfo.get(name)!.active;
    const deps = checker.collect(res.properties, [...path, 'properties'], active);
    for (const d of checker.collect(res.metadata, [...path, 'metadata'], active)) deps.add(d);
    checker.collect(res.updatePolicy, [...path, 'update_policy'], false);
    checker.collect(res.externalId, [...path, 'external_id'], false);
    res.dependsOn.forEach((d, i) => {
      const info = resourceInfo.get(d);
      if (!info) {
        throw new TemplateError(
          'REFERENCE',
          [...path, 'depends_on', ...(Array.isArray(rawDepends(rawResources, name)) ? [i] : [])],
          `depends_on: the resource '${d}' is not defined`,
        );
      }
      // A resource its condition leaves out is not waited for (Heat drops the edge too).
      if (info.active) deps.add(d);
    });
    let policy = shapes.get(name)!.deletionPolicy;
    if (isCall(policy)) {
      checker.collect(policy, [...path, 'deletion_policy'], false);
      policy = staticEvaluator.resolve(policy, [...path, 'deletion_policy']);
    }
    res.deletionPolicy = normalizeDeletionPolicy(policy, version, [...path, 'deletion_policy']);
    if (!active) continue;
    res.requires = [...deps].sort();
    edges.set(name, deps);
  }

  // Outputs.
  const outputs: Record<string, TemplateOutput> = {};
  for (const [name, raw] of Object.entries(mapSection(value, 'outputs'))) {
    const shape = checkOutputShape(name, raw, version);
    const enabled = isActive(shape.condition, ['outputs', name, 'condition']);
    checker.collect(shape.value, ['outputs', name, 'value'], enabled);
    outputs[name] = {
      name,
      description: shape.description,
      value: shape.value,
      condition: shape.condition,
      enabled,
    };
  }

  const graph = buildGraph(edges);
  for (const name of excluded) delete resources[name];

  const resolve = (
    v: unknown,
    hooks: ResolveHooks = {},
    path: Path = [],
    ctx: StackContext = {},
  ): unknown => {
    const out = new TemplateEvaluator(scopeFor(ctx), hooks).resolve(v, path);
    return out === OMIT ? null : out;
  };
  return {
    version,
    description: typeof value.description === 'string' ? value.description : '',
    parameters: schemas,
    parameterValues,
    parameterGroups,
    conditions: conditionValues,
    resources,
    excludedResources: excluded,
    outputs,
    graph,
    files,
    environment,
    resolve,
    resolveProperties(resource, hooks, ctx) {
      const res = resources[resource];
      if (!res)
        throw new TemplateError(
          'REFERENCE',
          ['resources', resource],
          `the resource '${resource}' is not in the stack`,
        );
      const out = resolve(res.properties, hooks, ['resources', resource, 'properties'], ctx);
      return isPlainObject(out) ? out : {};
    },
    resolveOutputs(hooks, ctx) {
      const out: Record<string, OutputValue> = {};
      for (const o of Object.values(outputs)) {
        if (!o.enabled) continue;
        try {
          out[o.name] = { value: resolve(o.value, hooks, ['outputs', o.name, 'value'], ctx) };
        } catch (err) {
          // Heat shows a failing output's error in place of its value; the others still show.
          out[o.name] = { error: (err as Error).message };
        }
      }
      return out;
    },
  };
}

function rawDepends(rawResources: Record<string, unknown>, name: string): unknown {
  const r = rawResources[name];
  return isPlainObject(r) ? r.depends_on : undefined;
}

/** The environment's registry passed down to nested templates, as Heat does. */
function registryOf(env: Environment): Record<string, unknown> {
  return { ...env.registry, resources: env.resourceRegistry };
}

/** A template resource's properties are its template's parameters. */
function checkNestedProperties(nested: Template, properties: unknown, path: Path): void {
  if (!isPlainObject(properties) || isCall(properties)) return;
  for (const key of Object.keys(properties)) {
    if (!nested.parameters.has(key)) {
      throw new TemplateError(
        'RESOURCE',
        [...path, 'properties', key],
        `unknown property '${key}' (the template has no parameter of that name)`,
      );
    }
  }
  for (const [name, schema] of nested.parameters) {
    if (!schema.hasDefault && !Object.hasOwn(properties, name)) {
      throw new TemplateError(
        'RESOURCE',
        [...path, 'properties'],
        `the required property '${name}' is missing`,
      );
    }
  }
}

function checkTypeProperties(
  schema: Readonly<Record<string, { required?: boolean }>>,
  properties: unknown,
  type: string,
  path: Path,
): void {
  if (!isPlainObject(properties) || isCall(properties)) return;
  for (const key of Object.keys(properties)) {
    if (!Object.hasOwn(schema, key)) {
      throw new TemplateError(
        'RESOURCE',
        [...path, 'properties', key],
        `unknown property '${key}' for the type ${type}`,
      );
    }
  }
  for (const [name, p] of Object.entries(schema)) {
    if (p.required && !Object.hasOwn(properties, name)) {
      throw new TemplateError(
        'RESOURCE',
        [...path, 'properties'],
        `the required property '${name}' of ${type} is missing`,
      );
    }
  }
}
