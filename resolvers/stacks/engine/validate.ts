import type { ServiceContext } from '../../runtime';
import type { QuotaUse } from '../resources/plugin';
import { pluginForResource } from '../resources/registry';
import type { Template } from '../template';
import { isCall } from '../template/functions/args';
import { resourceContext } from './context';
import { checkProperties } from './schema-check';
import type { StackRow } from './types';

export interface ProblemAt {
  path: string;
  message: string;
  /** The error itself, so a refusal (Forbidden) reaches the caller as the domain typed it. */
  error?: unknown;
}

/** A typed error's path: the field it names, else the template path, else none. */
export function problemOf(err: unknown): ProblemAt {
  const e = err as { field?: unknown; path?: unknown; message?: unknown };
  const path = typeof e.field === 'string' ? e.field : typeof e.path === 'string' ? e.path : '';
  return { path, message: err instanceof Error ? err.message : String(err), error: err };
}

const REFS = new Set(['get_resource', 'get_attr', 'Ref', 'Fn::GetAtt']);

/** True when a value refers to another resource, so it is known only at run time. */
function refersToResource(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(refersToResource);
  if (value && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => REFS.has(k) || refersToResource(v));
  }
  return false;
}

export interface CheckedResource {
  name: string;
  properties: Record<string, unknown>;
  quota: QuotaUse[];
}

/**
 * Checks every resource against the live system without writing: properties resolved as far
 * as they can be before anything exists (those naming other resources are left out), then
 * the schema and the plugin's own validate. Problems are collected, not thrown.
 */
export async function checkResources(
  svc: ServiceContext,
  stack: StackRow,
  template: Template,
  only?: ReadonlySet<string>,
): Promise<{ problems: ProblemAt[]; resources: CheckedResource[] }> {
  const problems: ProblemAt[] = [];
  const resources: CheckedResource[] = [];
  const context = { stackName: stack.name, stackId: stack.id, projectId: stack.projectId };
  for (const name of template.graph.order) {
    if (only && !only.has(name)) continue;
    const res = template.resources[name];
    const plugin = pluginForResource(res);
    const path = `resources.${name}.properties`;
    if (!plugin) {
      problems.push({
        path: `resources.${name}.type`,
        message: `unknown resource type '${res.mappedType}'`,
      });
      continue;
    }
    const raw = res.properties;
    const deferred = new Set<string>();
    if (raw && typeof raw === 'object' && !Array.isArray(raw) && !isCall(raw)) {
      for (const [k, v] of Object.entries(raw)) if (refersToResource(v)) deferred.add(k);
    }
    try {
      const resolved = template.resolveProperties(
        name,
        { getResource: () => null, getAttr: () => null },
        context,
      );
      for (const k of deferred) delete resolved[k];
      const props = checkProperties(plugin, resolved, path, deferred);
      if (plugin.validate) {
        const row = { id: '', name, physicalName: `${stack.name}-${name}` };
        await plugin.validate(resourceContext(svc, stack, row, template), props);
      }
      resources.push({ name, properties: props, quota: plugin.quota?.(props) ?? [] });
    } catch (err) {
      // A plugin's own check may fail untyped on a value it cannot know yet: still a problem.
      problems.push(problemOf(err));
    }
  }
  return { problems, resources };
}
