import { InvalidInputError } from '../../../errors';
import type { ResourceContext, ResourcePlugin, ResourceState } from '../plugin';
import { groupTemplate } from './group-template';
import {
  attributesByName,
  memberDefinition,
  memberQuota,
  refsMap,
  resourceDotAttribute,
} from './members';
import {
  applyNested,
  deleteNested,
  memberAttribute,
  nestedDeleteProgress,
  nestedProgress,
} from './nested';

interface GroupProps {
  count: number;
  indexVar: string;
  removal: unknown[];
  mode: 'append' | 'update';
}

function groupProps(ctx: ResourceContext, props: Record<string, unknown>): GroupProps {
  const count = props.count === undefined || props.count === null ? 1 : Number(props.count);
  if (!Number.isInteger(count) || count < 0)
    throw new InvalidInputError(
      `${ctx.path}.count`,
      `${ctx.path}.count: must be an integer of at least 0`,
    );
  const indexVar = props.index_var ?? '%index%';
  if (typeof indexVar !== 'string' || indexVar === '')
    throw new InvalidInputError(
      `${ctx.path}.index_var`,
      `${ctx.path}.index_var: must be a non-empty string`,
    );
  const mode = props.removal_policies_mode ?? 'append';
  if (mode !== 'append' && mode !== 'update')
    throw new InvalidInputError(
      `${ctx.path}.removal_policies_mode`,
      `${ctx.path}.removal_policies_mode: must be append or update`,
    );
  const policies = props.removal_policies ?? [];
  if (!Array.isArray(policies))
    throw new InvalidInputError(
      `${ctx.path}.removal_policies`,
      `${ctx.path}.removal_policies: must be a list`,
    );
  const removal: unknown[] = [];
  for (const [i, policy] of policies.entries()) {
    const at = `${ctx.path}.removal_policies[${i}]`;
    const list = (policy as { resource_list?: unknown } | null)?.resource_list ?? [];
    if (!policy || typeof policy !== 'object' || !Array.isArray(list))
      throw new InvalidInputError(
        `${at}.resource_list`,
        `${at}.resource_list: must be a list of member names or ids`,
      );
    removal.push(...list);
  }
  return { count, indexVar, removal, mode };
}

/** The first `count` indices not removed: Heat's member names. */
export function memberNames(count: number, removed: ReadonlySet<string>): string[] {
  const names: string[] = [];
  for (let i = 0; names.length < count; i++) if (!removed.has(String(i))) names.push(String(i));
  return names;
}

function stored(state: ResourceState): { removed: string[]; members: string[] } {
  return {
    removed: (state.data.removed as string[] | undefined) ?? [],
    members: (state.data.members as string[] | undefined) ?? [],
  };
}

/** Heat's _update_name_blacklist: entries are member names or members' physical IDs. */
async function removedNames(
  ctx: ResourceContext,
  state: ResourceState,
  group: GroupProps,
): Promise<Set<string>> {
  const removed = new Set(group.mode === 'update' ? [] : stored(state).removed);
  if (group.removal.length === 0) return removed;
  const refs = await refsMap(ctx, state);
  for (const entry of group.removal) {
    const key = String(entry);
    const byRef = Object.entries(refs).find(([, ref]) => ref === key)?.[0];
    removed.add(Object.hasOwn(refs, key) ? key : (byRef ?? key));
  }
  return removed;
}

/** OS::Heat::ResourceGroup: `count` identical members (`%index%` numbered), as a nested stack. */
export const resourceGroup: ResourcePlugin = {
  type: 'OS::Heat::ResourceGroup',
  properties: {
    count: { type: 'integer', default: 1, updateAllowed: true },
    index_var: { type: 'string', default: '%index%' },
    resource_def: { type: 'map', required: true, updateAllowed: true },
    removal_policies: { type: 'list', default: [], updateAllowed: true },
    removal_policies_mode: { type: 'string', default: 'append', updateAllowed: true },
  },
  attributes: ['refs', 'refs_map', 'attributes', 'removed_rsrc_list'],
  physicalType: 'Stack',
  dynamicAttributes: true,
  async validate(ctx, props) {
    groupProps(ctx, props);
    // Absent here when it names another resource (known at run time).
    if (props.resource_def !== undefined) memberDefinition(ctx, props.resource_def, 'resource_def');
  },
  quota(props) {
    const count = props.count === undefined ? 1 : Number(props.count);
    const def = props.resource_def as { type?: unknown; properties?: unknown } | undefined;
    if (!def || typeof def.type !== 'string') return [];
    return memberQuota(
      { type: def.type, properties: (def.properties ?? {}) as Record<string, unknown> },
      count,
    );
  },
  async create(ctx, props) {
    const group = groupProps(ctx, props);
    const def = memberDefinition(ctx, props.resource_def, 'resource_def');
    const members = memberNames(group.count, new Set());
    const id = await applyNested(ctx, groupTemplate(members, def, group.indexVar));
    return { physicalId: id, data: { members, removed: [] } };
  },
  checkCreateComplete: nestedProgress,
  async update(ctx, state, props) {
    const group = groupProps(ctx, props);
    const def = memberDefinition(ctx, props.resource_def, 'resource_def');
    const removed = await removedNames(ctx, state, group);
    const members = memberNames(group.count, removed);
    await applyNested(ctx, groupTemplate(members, def, group.indexVar));
    return { kind: 'updated', data: { members, removed: [...removed].sort() } };
  },
  checkUpdateComplete: nestedProgress,
  delete: deleteNested,
  checkDeleteComplete: nestedDeleteProgress,
  async attribute(ctx, state, name) {
    const { members, removed } = stored(state);
    const stackId = state.physicalId;
    if (!stackId) return null;
    if (name === 'removed_rsrc_list') return removed;
    if (name === 'refs_map' || name === 'refs' || name === 'show') {
      const refs = await refsMap(ctx, state);
      const ordered = Object.fromEntries(members.map((m) => [m, refs[m] ?? null]));
      if (name === 'refs_map') return ordered;
      if (name === 'refs') return Object.values(ordered);
      return { id: stackId, refs_map: ordered, removed_rsrc_list: removed };
    }
    if (name === 'attributes') return attributesByName(ctx, stackId, members);
    if (name.startsWith('resource.')) return resourceDotAttribute(ctx, stackId, name);
    // Any other name: that attribute of every member, in member order.
    const values: unknown[] = [];
    for (const m of members) values.push(await memberAttribute(ctx, stackId, m, name));
    return values;
  },
};
