import type { ServiceContext } from '../../runtime';
import type { ResourcePlugin, ResourceState } from '../resources/plugin';
import { findPlugin, TEMPLATE_RESOURCE_TYPE } from '../resources/registry';
import type { Path, ResolveHooks, Template } from '../template';
import { resourceContext } from './context';
import { pluginData } from './marks';
import type { StackResourceRow, StackRow } from './types';

/** The plugin that runs a row: its type, or the template-resource plugin for a file type. */
export function pluginForRow(row: Pick<StackResourceRow, 'type'>): ResourcePlugin | null {
  return findPlugin(row.type) ?? findPlugin(TEMPLATE_RESOURCE_TYPE);
}

export function stateOf(row: StackResourceRow): ResourceState {
  return { physicalId: row.physicalId, properties: row.properties, data: pluginData(row) };
}

/** Thrown by the attribute hook when a value is not fetched yet (the hooks are synchronous). */
class NeedAttribute {
  constructor(
    readonly name: string,
    readonly attribute: string | null,
  ) {}
}

/**
 * Evaluates something of the template against the stack's resources: get_resource gives the
 * physical id, get_attr the plugin's attribute. Attributes are fetched as evaluation asks
 * for them, then evaluation runs again with them known.
 */
export async function resolveWith<T>(
  svc: ServiceContext,
  stack: StackRow,
  template: Template,
  rows: ReadonlyMap<string, StackResourceRow>,
  run: (hooks: ResolveHooks) => T,
): Promise<T> {
  const known = new Map<string, unknown>();
  const hooks: ResolveHooks = {
    getResource: (name) => rows.get(name)?.physicalId ?? null,
    getAttr: (name, attribute) => {
      const key = `${name}\u0000${attribute ?? ''}`;
      if (known.has(key)) return known.get(key);
      throw new NeedAttribute(name, attribute);
    },
  };
  for (;;) {
    try {
      return run(hooks);
    } catch (err) {
      if (!(err instanceof NeedAttribute)) throw err;
      const key = `${err.name}\u0000${err.attribute ?? ''}`;
      known.set(key, await readAttribute(svc, stack, template, rows.get(err.name), err.attribute));
    }
  }
}

async function readAttribute(
  svc: ServiceContext,
  stack: StackRow,
  template: Template,
  row: StackResourceRow | undefined,
  attribute: string | null,
): Promise<unknown> {
  if (!row || row.physicalId === null) return null;
  const plugin = pluginForRow(row);
  if (!plugin) return null;
  const ctx = resourceContext(svc, stack, row, template);
  const state = stateOf(row);
  if (attribute !== null) return plugin.attribute(ctx, state, attribute);
  const all: Record<string, unknown> = {};
  for (const name of plugin.attributes) all[name] = await plugin.attribute(ctx, state, name);
  return all;
}

/** A resource's resolved properties. */
export function resolveProperties(
  svc: ServiceContext,
  stack: StackRow,
  template: Template,
  name: string,
  rows: ReadonlyMap<string, StackResourceRow>,
): Promise<Record<string, unknown>> {
  const context = { stackName: stack.name, stackId: stack.id, projectId: stack.projectId };
  return resolveWith(svc, stack, template, rows, (hooks) =>
    template.resolveProperties(name, hooks, context),
  );
}

/** One value (an output) resolved. */
export function resolveValue(
  svc: ServiceContext,
  stack: StackRow,
  template: Template,
  rows: ReadonlyMap<string, StackResourceRow>,
  value: unknown,
  path: Path,
): Promise<unknown> {
  const context = { stackName: stack.name, stackId: stack.id, projectId: stack.projectId };
  return resolveWith(svc, stack, template, rows, (hooks) =>
    template.resolve(value, hooks, path, context),
  );
}
