import { createHash } from 'node:crypto';
import type { Runtime, ServiceContext } from '../../runtime';
import type { ResourceContext } from '../resources/plugin';
import { resourceTypeSchema } from '../resources/registry';
import { type EnvironmentInput, parseTemplate, type Template } from '../template';
import { customConstraints } from './constraints';
import { withImplicitDependencies } from './implicit-deps';
import { engineServices } from './nested';
import { ownerContext } from './owner';
import type { StackResourceRow, StackRow } from './types';

const baseUrls = new WeakMap<Runtime, string>();

/** Remembers where clients reach this Stratus (signal URLs handed to guests). */
export function setEngineBaseUrl(rt: Runtime, url: string): void {
  baseUrls.set(rt, url);
}

export function engineBaseUrl(rt: Runtime): string {
  return baseUrls.get(rt) ?? `http://${rt.config.host}:${rt.config.port}`;
}

// Owner contexts for a few seconds: a big stack's steps do not re-read the roles each time.
const owners = new WeakMap<Runtime, Map<string, { at: number; ctx: Promise<ServiceContext> }>>();
const OWNER_TTL_MS = 5_000;

/** Drops the remembered owner contexts, so the next step re-reads the roles at once. */
export function forgetOwnerContexts(rt: Runtime): void {
  owners.delete(rt);
}

/** The stack owner's context, with the roles they hold now (re-read every few seconds). */
export function stackOwnerContext(rt: Runtime, stack: StackRow): Promise<ServiceContext> {
  let byOwner = owners.get(rt);
  if (!byOwner) {
    byOwner = new Map();
    owners.set(rt, byOwner);
  }
  const key = `${stack.ownerUserId}:${stack.projectId}`;
  const hit = byOwner.get(key);
  if (hit && Date.now() - hit.at < OWNER_TTL_MS) return hit.ctx;
  const ctx = ownerContext(
    rt,
    { userId: stack.ownerUserId, projectId: stack.projectId },
    engineBaseUrl(rt),
  );
  byOwner.set(key, { at: Date.now(), ctx });
  ctx.catch(() => byOwner.delete(key));
  return ctx;
}

type Definition = StackRow['definition'];

/** Parses a definition as the engine does everywhere: registry types, owner-visible lookups. */
export function parseDefinition(
  svc: ServiceContext,
  def: Definition,
  stack: { id: string; name: string; projectId: string },
): Promise<Template> {
  return parseTemplate(def.template, {
    files: def.files,
    environment: (def.environment ?? undefined) as EnvironmentInput | undefined,
    params: def.parameters,
    customConstraints: customConstraints(svc),
    resourceTypes: resourceTypeSchema,
    context: { stackName: stack.name, stackId: stack.id, projectId: stack.projectId },
  }).then(withImplicitDependencies);
}

// Parsed templates by stack and definition: a 1000-resource stack is not parsed per step.
const cache = new Map<string, Promise<Template>>();
const CACHE_SIZE = 32;

export function stackTemplate(svc: ServiceContext, stack: StackRow): Promise<Template> {
  const digest = createHash('sha256').update(JSON.stringify(stack.definition)).digest('hex');
  const key = `${stack.id}:${digest}`;
  let found = cache.get(key);
  if (!found) {
    found = parseDefinition(svc, stack.definition, stack);
    found.catch(() => cache.delete(key));
    cache.set(key, found);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  }
  return found;
}

/** What every plugin call gets. */
export function resourceContext(
  svc: ServiceContext,
  stack: StackRow,
  row: Pick<StackResourceRow, 'id' | 'name' | 'physicalName'>,
  template: Template | null,
): ResourceContext {
  const res = template?.resources[row.name];
  return {
    svc,
    stack: { id: stack.id, name: stack.name, projectId: stack.projectId },
    name: row.name,
    physicalName: row.physicalName,
    path: `resources.${row.name}.properties`,
    engine: engineServices(svc, stack, row),
    templateFile: res?.templateFile ?? null,
    files: stack.definition.files,
    environment: stack.definition.environment,
  };
}
