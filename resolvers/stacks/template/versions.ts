/**
 * Heat's HOT versions and what each allows, after heat/engine/hot/template.py: the intrinsic
 * functions, the condition functions (2016-10-14 on), the sections and the keys of resources,
 * outputs and parameters.
 */

/** How a function behaves in a given version (Heat changed some in place). */
export interface VersionFeatures {
  /** get_attr with only a resource name returns every attribute (2015-10-15, GetAttAllAttributes). */
  getAttrAll: boolean;
  /** list_join takes several lists (2015-10-15, JoinMultiple) and json-encodes non-strings. */
  listJoinMultiple: boolean;
  /** str_replace params may be any JSON value (2015-10-15, ReplaceJson). */
  replaceJson: boolean;
  /** repeat's for_each values may be maps (2016-10-14, RepeatWithMap). */
  repeatMaps: boolean;
  /** repeat takes `permutations` (2017-09-01, RepeatWithNestedLoop). */
  repeatPermutations: boolean;
  /** `if` may leave out its false value (2021-04-16). */
  ifNullable: boolean;
  /** Lower-case deletion policies (2016-10-14). */
  lowerCaseDeletionPolicies: boolean;
}

export interface TemplateVersion {
  /** The canonical date, e.g. `2016-10-14`. */
  name: string;
  alias: string | null;
  functions: ReadonlySet<string>;
  /** Functions this version rejects as removed, with the version that removed them. */
  removed: ReadonlyMap<string, string>;
  /** Empty before 2016-10-14 (no conditions at all). */
  conditionFunctions: ReadonlySet<string>;
  sections: ReadonlySet<string>;
  resourceKeys: ReadonlySet<string>;
  outputKeys: ReadonlySet<string>;
  parameterKeys: ReadonlySet<string>;
  constraintKinds: ReadonlySet<string>;
  features: VersionFeatures;
}

const CFN_2013 = [
  'Fn::GetAZs',
  'Ref',
  'Fn::Join',
  'Fn::Split',
  'Fn::Replace',
  'Fn::Base64',
  'Fn::MemberListToMap',
  'Fn::ResourceFacade',
];
const BASE = ['get_attr', 'get_file', 'get_param', 'get_resource', 'list_join'];
const BASE2 = [...BASE, 'resource_facade', 'str_replace'];

interface Step {
  name: string;
  alias?: string;
  add?: string[];
  remove?: string[];
  conditionAdd?: string[];
  sections?: string[];
  resourceKeys?: string[];
  outputKeys?: string[];
  parameterKeys?: string[];
  constraints?: string[];
  features?: Partial<VersionFeatures>;
}

/** Each version as the change from the one before it. */
const STEPS: Step[] = [
  {
    name: '2013-05-23',
    add: [...BASE2, 'Fn::Select', ...CFN_2013],
    sections: [
      'heat_template_version',
      'description',
      'parameter_groups',
      'parameters',
      'resources',
      'outputs',
    ],
    resourceKeys: [
      'type',
      'properties',
      'metadata',
      'depends_on',
      'deletion_policy',
      'update_policy',
    ],
    outputKeys: ['description', 'value'],
    parameterKeys: [
      'type',
      'description',
      'label',
      'default',
      'hidden',
      'constraints',
      'immutable',
    ],
    constraints: ['range', 'length', 'allowed_values', 'allowed_pattern', 'custom_constraint'],
  },
  { name: '2014-10-16', remove: CFN_2013 },
  { name: '2015-04-30', add: ['digest', 'repeat'] },
  {
    name: '2015-10-15',
    add: ['str_split'],
    remove: ['Fn::Select'],
    features: { getAttrAll: true, listJoinMultiple: true, replaceJson: true },
  },
  { name: '2016-04-08', add: ['map_merge'] },
  {
    name: '2016-10-14',
    alias: 'newton',
    add: ['yaql', 'map_replace', 'if'],
    conditionAdd: ['get_param', 'equals', 'not', 'and', 'or'],
    sections: ['conditions'],
    resourceKeys: ['external_id', 'condition'],
    outputKeys: ['condition'],
    features: { repeatMaps: true, lowerCaseDeletionPolicies: true },
  },
  {
    name: '2017-02-24',
    alias: 'ocata',
    add: ['filter', 'str_replace_strict'],
    constraints: ['modulo'],
  },
  {
    name: '2017-09-01',
    alias: 'pike',
    add: ['make_url', 'list_concat', 'str_replace_vstrict', 'list_concat_unique', 'contains'],
    conditionAdd: ['yaql', 'contains'],
    features: { repeatPermutations: true },
  },
  { name: '2018-03-02', alias: 'queens', parameterKeys: ['tags'] },
  { name: '2018-08-31', alias: 'rocky' },
  { name: '2021-04-16', alias: 'wallaby', features: { ifNullable: true } },
];

function build(): Map<string, TemplateVersion> {
  const out = new Map<string, TemplateVersion>();
  const functions = new Set<string>();
  const removed = new Map<string, string>();
  const conditionFunctions = new Set<string>();
  const sections = new Set<string>();
  const resourceKeys = new Set<string>();
  const outputKeys = new Set<string>();
  const parameterKeys = new Set<string>();
  const constraintKinds = new Set<string>();
  let features: VersionFeatures = {
    getAttrAll: false,
    listJoinMultiple: false,
    replaceJson: false,
    repeatMaps: false,
    repeatPermutations: false,
    ifNullable: false,
    lowerCaseDeletionPolicies: false,
  };
  for (const step of STEPS) {
    for (const f of step.add ?? []) functions.add(f);
    for (const f of step.remove ?? []) {
      functions.delete(f);
      removed.set(f, step.name);
    }
    for (const f of step.conditionAdd ?? []) conditionFunctions.add(f);
    for (const s of step.sections ?? []) sections.add(s);
    for (const k of step.resourceKeys ?? []) resourceKeys.add(k);
    for (const k of step.outputKeys ?? []) outputKeys.add(k);
    for (const k of step.parameterKeys ?? []) parameterKeys.add(k);
    for (const c of step.constraints ?? []) constraintKinds.add(c);
    features = { ...features, ...step.features };
    const version: TemplateVersion = {
      name: step.name,
      alias: step.alias ?? null,
      functions: new Set(functions),
      removed: new Map(removed),
      conditionFunctions: new Set(conditionFunctions),
      sections: new Set(sections),
      resourceKeys: new Set(resourceKeys),
      outputKeys: new Set(outputKeys),
      parameterKeys: new Set(parameterKeys),
      constraintKinds: new Set(constraintKinds),
      features,
    };
    out.set(step.name, version);
    if (step.alias) out.set(step.alias, version);
  }
  return out;
}

const VERSIONS = build();

/** Every accepted `heat_template_version` value, dates and release names. */
export const VERSION_NAMES: readonly string[] = [...VERSIONS.keys()];

/** Every function name any version knows, to tell a misspelt or out-of-version one from data. */
export const ALL_FUNCTIONS: ReadonlySet<string> = new Set(
  [...VERSIONS.values()].flatMap((v) => [...v.functions, ...v.conditionFunctions]),
);

export function findVersion(name: string): TemplateVersion | undefined {
  return VERSIONS.get(name);
}

/** The first version that has `fn`, for "needs 2017-09-01 or later" messages. */
export function firstVersionWith(fn: string): string | null {
  for (const step of STEPS) {
    const v = VERSIONS.get(step.name)!;
    if (v.functions.has(fn) || v.conditionFunctions.has(fn)) return step.name;
  }
  return null;
}
