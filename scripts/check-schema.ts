/**
 * `npm run schema:check` (part of `npm test`):
 *  (a) schema.graphql must be what `npm run schema:print` writes now;
 *  (b) against the previous schema.graphql in git, no breaking change that was not deprecated
 *      first. See docs/schema-evolution.md.
 *
 * The base of (b) is `git show <rev>:schema.graphql`, where rev is
 *  - $SCHEMA_BASE when set (e.g. origin/main in a pull request);
 *  - HEAD when schema.graphql has uncommitted changes (checks your change locally);
 *  - otherwise the parent of the latest commit that changed schema.graphql (checks the latest
 *    schema change, e.g. in CI on a clean clone).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type Change,
  ChangeType,
  CriticalityLevel,
  DiffRule,
  diff,
  type Rule,
} from '@graphql-inspector/core';
import {
  buildSchema,
  type GraphQLNamedType,
  type GraphQLSchema,
  getNamedType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isUnionType,
} from 'graphql';

export interface SchemaComparison {
  /** Changes that break existing clients: the check fails on any. */
  breaking: Change[];
  /** Allowed, but worth a look (e.g. removal of a deprecated field). */
  dangerous: Change[];
  safe: Change[];
}

function downgrade(change: Change): Change {
  return { ...change, criticality: { ...change.criticality, level: CriticalityLevel.Dangerous } };
}

function isDeprecated(thing: { deprecationReason?: string | null }): boolean {
  return thing.deprecationReason !== null && thing.deprecationReason !== undefined;
}

/**
 * Whether every use of `typeName` in the old schema was deprecated, or belongs to a type that is
 * gone too. A type cannot carry @deprecated itself; it is deprecated through its uses.
 */
function onlyUsedDeprecated(old: GraphQLSchema, typeName: string, now: GraphQLSchema): boolean {
  const roots = [old.getQueryType(), old.getMutationType(), old.getSubscriptionType()];
  if (roots.some((root) => root?.name === typeName)) return false;
  const refersTo = (t: Parameters<typeof getNamedType>[0]) => getNamedType(t)?.name === typeName;
  for (const user of Object.values(old.getTypeMap()) as GraphQLNamedType[]) {
    if (user.name.startsWith('__') || user.name === typeName || !now.getType(user.name)) continue;
    if (isObjectType(user) || isInterfaceType(user)) {
      for (const field of Object.values(user.getFields())) {
        if (isDeprecated(field)) continue;
        if (refersTo(field.type)) return false;
        if (field.args.some((arg) => refersTo(arg.type) && !isDeprecated(arg))) return false;
      }
    } else if (isInputObjectType(user)) {
      for (const field of Object.values(user.getFields()))
        if (refersTo(field.type) && !isDeprecated(field)) return false;
    } else if (isUnionType(user)) {
      if (user.getTypes().some((member) => member.name === typeName)) return false;
    }
  }
  return true;
}

/**
 * Deprecate-first, on top of inspector's `suppressRemovalOfDeprecatedField` (fields, input fields
 * and enum values deprecated in the old schema may go):
 *  - an argument deprecated in the old schema may go too;
 *  - inspector downgrades *every* removed type (v8 looks the type up in the new schema, where it
 *    never is); here a removed type stays breaking unless all its uses were deprecated.
 */
const deprecateFirst: Rule = ({ changes, oldSchema, newSchema }) =>
  changes.map((change) => {
    if (!change.path || !oldSchema || !newSchema) return change;
    if (
      change.type === ChangeType.FieldArgumentRemoved &&
      change.criticality.level === CriticalityLevel.Breaking
    ) {
      const [typeName, fieldName, argName] = change.path.split('.');
      const type = oldSchema.getType(typeName);
      if (isObjectType(type) || isInterfaceType(type)) {
        const arg = type.getFields()[fieldName]?.args.find((a) => a.name === argName);
        if (arg && isDeprecated(arg)) return downgrade(change);
      }
    }
    if (change.type === ChangeType.TypeRemoved) {
      const level = onlyUsedDeprecated(oldSchema, change.path, newSchema)
        ? CriticalityLevel.Dangerous
        : CriticalityLevel.Breaking;
      return { ...change, criticality: { ...change.criticality, level } };
    }
    return change;
  });

/** Diffs two SDLs and sorts the changes by criticality, deprecate-first rules applied. */
export async function compareSchemas(oldSdl: string, newSdl: string): Promise<SchemaComparison> {
  const changes = await diff(buildSchema(oldSdl), buildSchema(newSdl), [
    DiffRule.suppressRemovalOfDeprecatedField,
    deprecateFirst,
  ]);
  const of = (level: CriticalityLevel) => changes.filter((c) => c.criticality.level === level);
  return {
    breaking: of(CriticalityLevel.Breaking),
    dangerous: of(CriticalityLevel.Dangerous),
    safe: of(CriticalityLevel.NonBreaking),
  };
}

function git(args: string[], cwd: string): string | null {
  try {
    return execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch {
    return null;
  }
}

export interface SchemaBase {
  rev: string;
  sdl: string;
  why: string;
}

/** The committed schema to compare against, or why there is none (`error`: the check fails). */
export function findBase(
  root: string,
  file: string,
  workingTree: string | null,
  env: NodeJS.ProcessEnv = process.env,
): SchemaBase | { none: string; error?: boolean } {
  const show = (rev: string) => git(['show', `${rev}:${file}`], root);
  if (env.SCHEMA_BASE) {
    const rev = env.SCHEMA_BASE;
    if (git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], root) === null)
      return { none: `SCHEMA_BASE=${rev} is not a commit here (fetched?)`, error: true };
    const sdl = show(rev);
    return sdl === null
      ? { none: `${file} is not in SCHEMA_BASE=${rev}` }
      : { rev, sdl, why: 'SCHEMA_BASE' };
  }
  const head = show('HEAD');
  if (head === null) return { none: `${file} is not committed yet` };
  if (head !== workingTree) return { rev: 'HEAD', sdl: head, why: `uncommitted ${file}` };
  const latest = git(['log', '-1', '--format=%H', 'HEAD', '--', file], root)?.trim();
  const sdl = latest ? show(`${latest}^`) : null;
  if (!latest || sdl === null) {
    const shallow = git(['rev-parse', '--is-shallow-repository'], root)?.trim() === 'true';
    if (shallow) return { none: 'shallow clone: fetch more history or set SCHEMA_BASE' };
    return {
      none: latest ? `${file} was added by ${latest.slice(0, 12)}` : `${file} has no history`,
    };
  }
  const short = latest.slice(0, 12);
  return { rev: `${short}^`, sdl, why: `before the latest change to ${file}, in ${short}` };
}

function describe(change: Change): string {
  return `  - ${change.message}${change.path ? ` (at ${change.path})` : ''}`;
}

async function main(): Promise<number> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const file = 'schema.graphql';
  const filePath = path.join(root, file);
  // Imported here, so that tests of compareSchemas do not build the whole schema.
  const { currentSdl } = await import('./print-schema');
  const now = currentSdl();
  const committed = existsSync(filePath) ? readFileSync(filePath, 'utf8') : null;
  let failed = false;

  if (committed !== now) {
    console.error(`${file} is stale: run npm run schema:print`);
    failed = true;
  } else {
    console.log(`${file} is up to date`);
  }

  const base = findBase(root, file, committed);
  if ('none' in base && base.error) {
    console.error(`Cannot check for breaking changes: ${base.none}`);
    failed = true;
  } else if ('none' in base) {
    console.log(
      `Note: no previous ${file} to compare with (${base.none}); breaking-change check skipped`,
    );
  } else {
    const { breaking, dangerous, safe } = await compareSchemas(base.sdl, now);
    console.log(
      `Compared with ${file} at ${base.rev} (${base.why}): ${breaking.length} breaking, ${dangerous.length} dangerous, ${safe.length} safe change(s)`,
    );
    if (dangerous.length)
      console.log(`Dangerous changes (allowed):\n${dangerous.map(describe).join('\n')}`);
    if (breaking.length) {
      console.error(
        `Breaking schema changes that were not deprecated first:\n${breaking.map(describe).join('\n')}\n` +
          'Deprecate first (@deprecated / deprecationReason), ship, then remove: see docs/schema-evolution.md',
      );
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
