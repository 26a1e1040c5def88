import { type Path, TemplateError } from './errors';
import { isCall } from './functions/args';
import { isPlainObject } from './parse';
import type { TemplateVersion } from './versions';

export type DeletionPolicy = 'Delete' | 'Retain' | 'Snapshot';

const POLICIES: Record<string, DeletionPolicy> = {
  Delete: 'Delete',
  Retain: 'Retain',
  Snapshot: 'Snapshot',
};

/** The version a section first appeared in, for "needs a later version" messages. */
const SECTION_SINCE: Record<string, string> = { conditions: '2016-10-14' };
const RESOURCE_KEY_SINCE: Record<string, string> = {
  external_id: '2016-10-14',
  condition: '2016-10-14',
};

export function checkSections(template: Record<string, unknown>, version: TemplateVersion): void {
  for (const key of Object.keys(template)) {
    if (version.sections.has(key)) continue;
    const since = SECTION_SINCE[key];
    throw new TemplateError(
      'SECTION',
      [key],
      since
        ? `the section '${key}' needs heat_template_version ${since} or later (this template is ${version.name})`
        : `unknown section '${key}' (allowed: ${[...version.sections].join(', ')})`,
    );
  }
  const d = template.description;
  if (d !== undefined && d !== null && typeof d !== 'string') {
    throw new TemplateError('SECTION', ['description'], 'must be a string');
  }
}

/** The raw shape of one resource, after its keys are checked. */
export interface ResourceShape {
  type: string;
  properties: unknown;
  metadata: unknown;
  dependsOn: string[];
  deletionPolicy: unknown;
  updatePolicy: unknown;
  externalId: unknown;
  condition: unknown;
}

function objectOrCall(value: unknown, path: Path, what: string): void {
  if (value === undefined || value === null) return;
  if (!isPlainObject(value)) throw new TemplateError('RESOURCE', path, `${what} must be a map`);
}

export function checkResourceShape(
  name: string,
  raw: unknown,
  version: TemplateVersion,
): ResourceShape {
  const path = ['resources', name];
  if (!isPlainObject(raw))
    throw new TemplateError('RESOURCE', path, `the resource '${name}' must be a map with a type`);
  for (const key of Object.keys(raw)) {
    if (version.resourceKeys.has(key)) continue;
    const since = RESOURCE_KEY_SINCE[key];
    throw new TemplateError(
      'RESOURCE',
      [...path, key],
      since
        ? `'${key}' needs heat_template_version ${since} or later`
        : `unknown resource key '${key}' (allowed: ${[...version.resourceKeys].join(', ')})`,
    );
  }
  if (!('type' in raw))
    throw new TemplateError('RESOURCE', path, `the resource '${name}' has no type`);
  if (typeof raw.type !== 'string' || raw.type.trim() === '') {
    throw new TemplateError('RESOURCE', [...path, 'type'], 'the type must be a non-empty string');
  }
  objectOrCall(raw.properties, [...path, 'properties'], 'properties');
  objectOrCall(raw.metadata, [...path, 'metadata'], 'metadata');
  objectOrCall(raw.update_policy, [...path, 'update_policy'], 'update_policy');
  let dependsOn: string[] = [];
  const d = raw.depends_on;
  if (typeof d === 'string') dependsOn = [d];
  else if (Array.isArray(d)) {
    d.forEach((x, i) => {
      if (typeof x !== 'string')
        throw new TemplateError('RESOURCE', [...path, 'depends_on', i], 'must be a resource name');
    });
    dependsOn = d as string[];
  } else if (d !== undefined && d !== null) {
    throw new TemplateError(
      'RESOURCE',
      [...path, 'depends_on'],
      'must be a resource name or a list of them',
    );
  }
  const dp = raw.deletion_policy;
  if (dp !== undefined && dp !== null && typeof dp !== 'string' && !isCall(dp)) {
    throw new TemplateError('RESOURCE', [...path, 'deletion_policy'], 'must be a string');
  }
  const ext = raw.external_id;
  if (ext !== undefined && ext !== null && typeof ext !== 'string' && !isCall(ext)) {
    throw new TemplateError('RESOURCE', [...path, 'external_id'], 'must be a string');
  }
  return {
    type: raw.type,
    properties: raw.properties ?? {},
    metadata: raw.metadata ?? {},
    dependsOn,
    deletionPolicy: dp ?? null,
    updatePolicy: raw.update_policy ?? {},
    externalId: ext ?? null,
    condition: raw.condition ?? null,
  };
}

/** Delete | Retain | Snapshot (lower case too from 2016-10-14). */
export function normalizeDeletionPolicy(
  value: unknown,
  version: TemplateVersion,
  path: Path,
): DeletionPolicy {
  if (value === null || value === undefined) return 'Delete';
  if (typeof value === 'string') {
    if (Object.hasOwn(POLICIES, value)) return POLICIES[value];
    const cap = value.charAt(0).toUpperCase() + value.slice(1);
    if (
      version.features.lowerCaseDeletionPolicies &&
      value === value.toLowerCase() &&
      Object.hasOwn(POLICIES, cap)
    ) {
      return POLICIES[cap];
    }
  }
  throw new TemplateError(
    'RESOURCE',
    path,
    `invalid deletion policy ${JSON.stringify(value)} (Delete, Retain or Snapshot)`,
  );
}

export interface OutputShape {
  description: string | null;
  value: unknown;
  condition: unknown;
}

export function checkOutputShape(
  name: string,
  raw: unknown,
  version: TemplateVersion,
): OutputShape {
  const path = ['outputs', name];
  if (!isPlainObject(raw))
    throw new TemplateError('SECTION', path, `the output '${name}' must be a map with a value`);
  for (const key of Object.keys(raw)) {
    if (!version.outputKeys.has(key)) {
      throw new TemplateError(
        'SECTION',
        [...path, key],
        `unknown output key '${key}' (allowed: ${[...version.outputKeys].join(', ')})`,
      );
    }
  }
  if (!('value' in raw))
    throw new TemplateError('SECTION', path, `the output '${name}' has no value`);
  const d = raw.description;
  if (d !== undefined && d !== null && typeof d !== 'string')
    throw new TemplateError('SECTION', [...path, 'description'], 'must be a string');
  return {
    description: (d as string | undefined) ?? null,
    value: raw.value,
    condition: raw.condition ?? null,
  };
}

export interface ParameterGroup {
  label: string | null;
  description: string | null;
  parameters: string[];
}

export function checkParameterGroups(
  section: unknown,
  declared: ReadonlySet<string>,
): ParameterGroup[] {
  if (section === undefined || section === null) return [];
  if (!Array.isArray(section))
    throw new TemplateError('SECTION', ['parameter_groups'], 'must be a list of groups');
  const placed = new Map<string, number>();
  return section.map((g, i) => {
    const path = ['parameter_groups', i];
    if (!isPlainObject(g))
      throw new TemplateError('SECTION', path, 'a parameter group must be a map');
    for (const key of Object.keys(g)) {
      if (!['label', 'description', 'parameters'].includes(key)) {
        throw new TemplateError(
          'SECTION',
          [...path, key],
          `unknown key '${key}' (label, description, parameters)`,
        );
      }
    }
    if (!Array.isArray(g.parameters))
      throw new TemplateError(
        'SECTION',
        [...path, 'parameters'],
        'must be a list of parameter names',
      );
    g.parameters.forEach((p, j) => {
      const at = [...path, 'parameters', j];
      if (typeof p !== 'string' || !declared.has(p)) {
        throw new TemplateError(
          'REFERENCE',
          at,
          `the parameter ${JSON.stringify(p)} is not defined`,
        );
      }
      if (placed.has(p))
        throw new TemplateError(
          'SECTION',
          at,
          `the parameter '${p}' is already in group ${placed.get(p)}`,
        );
      placed.set(p, i);
    });
    return {
      label: typeof g.label === 'string' ? g.label : null,
      description: typeof g.description === 'string' ? g.description : null,
      parameters: g.parameters as string[],
    };
  });
}
