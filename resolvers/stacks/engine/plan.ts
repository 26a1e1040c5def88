import { eq } from 'drizzle-orm';
import { stackResources } from '../../../db/stacks';
import type { ServiceContext } from '../../runtime';
import { pluginForResource } from '../resources/registry';
import type { Template } from '../template';
import { parseDefinition } from './context';
import { pluginForRow, resolveProperties, stateOf } from './resolve';
import { currentRows } from './scheduler';
import { changedProperties, checkProperties } from './schema-check';
import { loadStack, mergedDefinition, prepareCreate } from './start';
import type {
  StackPlan,
  StackPlanResource,
  StackRequest,
  StackRow,
  StackUpdateRequest,
} from './types';
import { type CheckedResource, checkResources, problemOf } from './validate';

function quotaOf(
  projectId: string,
  resources: StackPlanResource[],
  checked: CheckedResource[],
): StackPlan['quota'] {
  const byName = new Map(checked.map((c) => [c.name, c]));
  const sums = new Map<string, number>();
  for (const r of resources) {
    if (r.action !== 'CREATE' && r.action !== 'REPLACE') continue;
    for (const q of byName.get(r.name)?.quota ?? [])
      sums.set(q.resource, (sums.get(q.resource) ?? 0) + q.amount);
  }
  return [...sums].map(([resource, amount]) => ({ projectId, resource, amount }));
}

/** Top-level property keys whose value reads one of `names` (get_resource, get_attr). */
function keysReading(properties: unknown, names: ReadonlySet<string>): string[] {
  if (!properties || typeof properties !== 'object' || Array.isArray(properties)) return [];
  const reads = (v: unknown): boolean => {
    if (Array.isArray(v)) return v.some(reads);
    if (!v || typeof v !== 'object') return false;
    return Object.entries(v).some(([k, arg]) => {
      if (k === 'get_resource' && typeof arg === 'string' && names.has(arg)) return true;
      if (k === 'get_attr' && Array.isArray(arg) && names.has(String(arg[0]))) return true;
      return reads(arg);
    });
  };
  return Object.entries(properties)
    .filter(([, v]) => reads(v))
    .map(([k]) => k);
}

/** What an update to `template` would do to each resource, from the live rows; no writes. */
export async function planUpdate(
  svc: ServiceContext,
  stack: StackRow,
  template: Template,
): Promise<StackPlan> {
  const rows = await svc.rt.db
    .select()
    .from(stackResources)
    .where(eq(stackResources.stackId, stack.id));
  const current = currentRows(rows);
  const checked = await checkResources(svc, stack, template);
  const errors = [...checked.problems];
  const resources: StackPlanResource[] = [];
  const add = (
    name: string,
    type: string,
    action: StackPlanResource['action'],
    changed: string[] = [],
    reason: string | null = null,
  ) => {
    resources.push({ name, type, action, changedProperties: changed, reason });
    if (action !== 'UNCHANGED') changing.add(name);
  };
  const changing = new Set<string>();
  for (const name of template.graph.order) {
    const res = template.resources[name];
    const cur = current.get(name);
    const type = res.mappedType;
    if (!cur || cur.action === 'INIT') {
      add(name, type, 'CREATE');
      continue;
    }
    if (cur.type !== type) {
      add(name, type, 'REPLACE', [], `the type changed from ${cur.type}`);
      continue;
    }
    if (cur.status === 'FAILED' && cur.action === 'CREATE') {
      add(name, type, 'REPLACE', [], 'the resource failed');
      continue;
    }
    const plugin = pluginForResource(res) ?? pluginForRow(cur);
    if (!plugin) continue;
    const path = `resources.${name}.properties`;
    try {
      const raw = await resolveProperties(svc, stack, template, name, current);
      const props = checkProperties(plugin, raw, path);
      const changed = changedProperties(cur.properties, props);
      // Values read from resources this update changes are known only when it runs.
      const readsChanging = res.requires.filter((r) => changing.has(r));
      if (readsChanging.length > 0) {
        for (const k of keysReading(res.properties, new Set(readsChanging)))
          if (!changed.includes(k)) changed.push(k);
        changed.sort();
      }
      if (changed.length === 0) {
        add(name, type, 'UNCHANGED');
        continue;
      }
      const immutable = changed.find((k) => plugin.properties[k]?.immutable);
      if (immutable) {
        errors.push({
          path: `${path}.${immutable}`,
          message: `${path}.${immutable}: the property is immutable and cannot be changed`,
        });
        continue;
      }
      const inPlace =
        !!plugin.update &&
        !plugin.openProperties &&
        changed.every((k) => plugin.properties[k]?.updateAllowed) &&
        !plugin.updateReplaces?.(stateOf(cur), props, changed);
      if (inPlace) add(name, type, 'UPDATE', changed);
      else add(name, type, 'REPLACE', changed, `changed: ${changed.join(', ')}`);
    } catch (err) {
      errors.push(problemOf(err));
    }
  }
  for (const [name, cur] of current) {
    if (!template.resources[name]) add(name, cur.type, 'DELETE');
  }
  return { resources, quota: quotaOf(stack.projectId, resources, checked.resources), errors };
}

/** planStack: a create (no stack) or an update (a stack), without writing anything. */
export async function plan(
  ctx: ServiceContext,
  req: StackRequest | StackUpdateRequest,
  stackId?: string,
): Promise<StackPlan> {
  const empty = (err: unknown): StackPlan => ({
    resources: [],
    quota: [],
    errors: [problemOf(err)],
  });
  if (stackId === undefined) {
    const create = req as StackRequest;
    let prepared: Awaited<ReturnType<typeof prepareCreate>>;
    try {
      prepared = await prepareCreate(ctx, create, crypto.randomUUID());
    } catch (err) {
      return empty(err);
    }
    const { template, stackLike } = prepared;
    const checked = await checkResources(ctx, stackLike, template);
    const resources: StackPlanResource[] = template.graph.order.map((name) => ({
      name,
      type: template.resources[name].mappedType,
      action: 'CREATE',
      changedProperties: [],
      reason: null,
    }));
    return {
      resources,
      quota: quotaOf(stackLike.projectId, resources, checked.resources),
      errors: checked.problems,
    };
  }
  const stack = await loadStack(ctx, stackId);
  let template: Template;
  try {
    template = await parseDefinition(ctx, mergedDefinition(stack, req), stack);
  } catch (err) {
    return empty(err);
  }
  return planUpdate(ctx, stack, template);
}
