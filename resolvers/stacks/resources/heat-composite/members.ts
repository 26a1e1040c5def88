import { InvalidInputError } from '../../../errors';
import type { QuotaUse, ResourceContext, ResourceState } from '../plugin';
import { findPlugin } from '../registry';
import type { MemberDefinition } from './group-template';
import { memberAttribute, nestedOutputs } from './nested';

/** Checks a member definition map (`resource_def`, `resource`) and names the bad field. */
export function memberDefinition(
  ctx: ResourceContext,
  value: unknown,
  key: string,
): MemberDefinition {
  const at = `${ctx.path}.${key}`;
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidInputError(at, `${at}: must be a map with a type`);
  const def = value as Record<string, unknown>;
  for (const k of Object.keys(def)) {
    if (!['type', 'properties', 'metadata'].includes(k))
      throw new InvalidInputError(
        `${at}.${k}`,
        `${at}.${k}: unknown key (allowed: type, properties, metadata)`,
      );
  }
  if (typeof def.type !== 'string' || def.type === '')
    throw new InvalidInputError(`${at}.type`, `${at}.type: the member's resource type is required`);
  if (!knownType(ctx, def.type))
    throw new InvalidInputError(`${at}.type`, `${at}.type: unknown resource type '${def.type}'`);
  const props = def.properties ?? {};
  if (typeof props !== 'object' || Array.isArray(props))
    throw new InvalidInputError(`${at}.properties`, `${at}.properties: must be a map`);
  const metadata = def.metadata;
  if (
    metadata !== undefined &&
    metadata !== null &&
    (typeof metadata !== 'object' || Array.isArray(metadata))
  )
    throw new InvalidInputError(`${at}.metadata`, `${at}.metadata: must be a map`);
  return {
    type: def.type,
    properties: props as Record<string, unknown>,
    ...(metadata ? { metadata: metadata as Record<string, unknown> } : {}),
  };
}

/** A registered type, a file of the stack (template resource) or a resource_registry alias. */
function knownType(ctx: ResourceContext, type: string): boolean {
  if (findPlugin(type)) return true;
  if (ctx.files && Object.hasOwn(ctx.files, type)) return true;
  const env = ctx.environment;
  if (env && typeof env === 'object' && 'resource_registry' in env) {
    const registry = (env as { resource_registry?: unknown }).resource_registry;
    if (registry && typeof registry === 'object' && Object.hasOwn(registry, type)) return true;
  }
  return false;
}

export function memberQuota(def: MemberDefinition | null, count: number): QuotaUse[] {
  if (!def || count <= 0) return [];
  const use = findPlugin(def.type)?.quota?.(def.properties) ?? [];
  return use.map((u) => ({ resource: u.resource, amount: u.amount * count }));
}

export async function refsMap(
  ctx: ResourceContext,
  state: ResourceState,
): Promise<Record<string, unknown>> {
  const outputs = await nestedOutputs(ctx, state).catch(() => ({}) as Record<string, unknown>);
  const map = outputs.refs_map;
  return map && typeof map === 'object' ? (map as Record<string, unknown>) : {};
}

/** Every attribute of every member, turned round: { attr: { member: value } }. */
export async function attributesByName(
  ctx: ResourceContext,
  stackId: string,
  members: readonly string[],
): Promise<Record<string, Record<string, unknown>>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const member of members) {
    const all = await memberAttribute(ctx, stackId, member, null);
    if (!all || typeof all !== 'object') continue;
    for (const [attr, value] of Object.entries(all)) {
      out[attr] ??= {};
      out[attr][member] = value;
    }
  }
  return out;
}

/** `resource.<member>` or `resource.<member>.<attribute>`. */
export async function resourceDotAttribute(
  ctx: ResourceContext,
  stackId: string,
  name: string,
): Promise<unknown> {
  const rest = name.slice('resource.'.length);
  const dot = rest.indexOf('.');
  const member = dot < 0 ? rest : rest.slice(0, dot);
  return memberAttribute(ctx, stackId, member, dot < 0 ? null : rest.slice(dot + 1));
}
