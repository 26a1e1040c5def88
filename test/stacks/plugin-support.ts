import { randomBytes } from 'node:crypto';
import { decodeGlobalID } from '@pothos/plugin-relay';
import { ownerContext } from '../../resolvers/stacks/engine/owner';
import type {
  EngineServices,
  Progress,
  ResourceContext,
  ResourcePlugin,
  ResourceState,
} from '../../resolvers/stacks/resources/plugin';
import type { TestStratus } from '../support/harness';
import type { SeededUser } from '../support/seed';

/**
 * Drives a resource plugin directly against a real test Stratus, as the engine would, for
 * the type mappings' own tests. The engine services a composite plugin needs are not here:
 * calling one fails the test with a clear message.
 */

const noEngine = (what: string) => () => {
  throw new Error(`${what}: engine services are not available in a plugin test`);
};

const ENGINE_UNAVAILABLE: EngineServices = {
  applyNestedStack: noEngine('applyNestedStack'),
  nestedStatus: noEngine('nestedStatus'),
  nestedOutputs: noEngine('nestedOutputs'),
  deleteNestedStack: noEngine('deleteNestedStack'),
  signalUrl: noEngine('signalUrl'),
};

const raw = (id: string) => {
  try {
    return decodeGlobalID(id).id;
  } catch {
    return id;
  }
};

/** A ResourceContext acting as `user` (a seeded member) for resource `name` of a pretend stack. */
export async function pluginContext(
  s: TestStratus,
  user: SeededUser,
  name: string,
  engine: Partial<EngineServices> = {},
): Promise<ResourceContext> {
  const projectId = raw(user.projectId);
  const svc = await ownerContext(s.stratus.runtime, { userId: raw(user.userId), projectId }, s.url);
  const stack = { id: crypto.randomUUID(), name: 'plugin-test', projectId };
  return {
    svc,
    stack,
    name,
    physicalName: `${stack.name}-${name}-${randomBytes(4).toString('hex')}`,
    path: `resources.${name}.properties`,
    engine: { ...ENGINE_UNAVAILABLE, ...engine },
  };
}

async function until(
  check: (() => Promise<Progress>) | undefined,
  what: string,
  timeoutMs: number,
): Promise<void> {
  if (!check) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const progress = await check();
    if (progress.done) return;
    if (Date.now() > deadline)
      throw new Error(`${what} never completed: ${progress.reason ?? 'no reason given'}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** create, then checkCreateComplete until done: the state the engine would store. */
export async function createResource(
  plugin: ResourcePlugin,
  ctx: ResourceContext,
  properties: Record<string, unknown>,
  timeoutMs = 60_000,
): Promise<ResourceState> {
  const created = await plugin.create(ctx, properties);
  const state: ResourceState = {
    physicalId: created.physicalId,
    properties,
    data: created.data ?? {},
  };
  await until(
    plugin.checkCreateComplete && (() => plugin.checkCreateComplete!(ctx, state)),
    `${plugin.type} create`,
    timeoutMs,
  );
  return state;
}

/** delete, then checkDeleteComplete until done. */
export async function deleteResource(
  plugin: ResourcePlugin,
  ctx: ResourceContext,
  state: ResourceState,
  timeoutMs = 60_000,
): Promise<void> {
  await plugin.delete(ctx, state);
  await until(
    plugin.checkDeleteComplete && (() => plugin.checkDeleteComplete!(ctx, state)),
    `${plugin.type} delete`,
    timeoutMs,
  );
}
