import { decodeGlobalID } from '@pothos/plugin-relay';
import { asc, eq } from 'drizzle-orm';
import { stackEvents, stackResources, stacks } from '../../db/stacks';
import type { Runtime, ServiceContext } from '../../resolvers/runtime';
import { ownerContext } from '../../resolvers/stacks/engine/owner';
import type { StackRow } from '../../resolvers/stacks/engine/types';
import type { TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';

/** Engine tests call the engine directly, as a seeded project member (no GraphQL needed). */

export const raw = (id: string) => {
  try {
    return decodeGlobalID(id).id;
  } catch {
    return id;
  }
};

export async function memberContext(
  s: TestStratus,
): Promise<{ svc: ServiceContext; user: SeededUser; projectId: string }> {
  const user = await new Seed(s).member('member');
  const projectId = raw(user.projectId);
  const svc = await ownerContext(s.stratus.runtime, { userId: raw(user.userId), projectId }, s.url);
  return { svc, user, projectId };
}

export async function stackRow(rt: Runtime, id: string): Promise<StackRow | null> {
  const [row] = await rt.db.select().from(stacks).where(eq(stacks.id, id));
  return row ?? null;
}

/** Polls until the stack is in one of `states` (`GONE`: the row is deleted). */
export async function waitForState(
  rt: Runtime,
  id: string,
  states: string[],
  timeoutMs = 45_000,
): Promise<StackRow | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await stackRow(rt, id);
    const state = row ? `${row.action}_${row.status}` : 'GONE';
    if (states.includes(state)) return row;
    if (Date.now() > deadline)
      throw new Error(`stack ${id} is ${state} (${row?.statusReason}), wanted ${states.join('|')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface EventLine {
  id: number;
  resource: string;
  state: string;
  reason: string;
  physicalId: string | null;
}

export async function eventsOf(rt: Runtime, stackId: string): Promise<EventLine[]> {
  const rows = await rt.db
    .select()
    .from(stackEvents)
    .where(eq(stackEvents.stackId, stackId))
    .orderBy(asc(stackEvents.id));
  return rows.map((e) => ({
    id: e.id,
    resource: e.resourceName,
    state: `${e.action}_${e.status}`,
    reason: e.statusReason,
    physicalId: e.physicalId,
  }));
}

export async function resourcesOf(rt: Runtime, stackId: string) {
  return rt.db.select().from(stackResources).where(eq(stackResources.stackId, stackId));
}

/** Index of the first event for `resource` in `state`; -1 when none. */
export const at = (events: EventLine[], resource: string, state: string) =>
  events.findIndex((e) => e.resource === resource && e.state === state);
