import { decodeGlobalID } from '@pothos/plugin-relay';
import { eq } from 'drizzle-orm';
import { stackResources, stacks } from '../../db/stacks';
import type { ServiceContext } from '../../resolvers/runtime';
import {
  type StackRequest,
  type StackRow,
  type StackUpdateRequest,
  signalResource,
  stackOutputs,
  startStackCreate,
  startStackDelete,
  startStackUpdate,
} from '../../resolvers/stacks/engine/index';
import { ownerContext } from '../../resolvers/stacks/engine/owner';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';

/** A real Stratus (fake compute driver) and a member acting through the stacks engine's API. */
export interface CompositeWorld {
  s: TestStratus;
  svc: ServiceContext;
  projectId: string;
}

const raw = (id: string) => decodeGlobalID(id).id;

export async function startCompositeWorld(): Promise<CompositeWorld> {
  const s = await startTestStratus();
  const member = await new Seed(s).member('member');
  const projectId = raw(member.projectId);
  const svc = await ownerContext(
    s.stratus.runtime,
    { userId: raw(member.userId), projectId },
    s.url,
  );
  return { s, svc, projectId };
}

export async function stackRow(w: CompositeWorld, id: string): Promise<StackRow | null> {
  const [row] = await w.s.stratus.runtime.db.select().from(stacks).where(eq(stacks.id, id));
  return row ?? null;
}

/** Polls until the stack leaves IN_PROGRESS (or is gone: null). */
export async function settle(
  w: CompositeWorld,
  id: string,
  timeoutMs = 45_000,
): Promise<StackRow | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await stackRow(w, id);
    if (row?.status !== 'IN_PROGRESS') return row;
    if (Date.now() > deadline)
      throw new Error(`stack ${id} still ${row.action}_${row.status}: ${row.statusReason}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

export async function createStack(w: CompositeWorld, req: StackRequest): Promise<StackRow> {
  const started = await startStackCreate(w.svc, req);
  const row = await settle(w, started.id);
  if (!row) throw new Error('stack vanished during create');
  return row;
}

export async function updateStack(
  w: CompositeWorld,
  id: string,
  req: StackUpdateRequest,
): Promise<StackRow> {
  await startStackUpdate(w.svc, id, req);
  const row = await settle(w, id);
  if (!row) throw new Error('stack vanished during update');
  return row;
}

/** Deletes and waits until the row is gone. */
export async function deleteStack(w: CompositeWorld, id: string): Promise<void> {
  await startStackDelete(w.svc, id);
  const row = await settle(w, id);
  if (row) throw new Error(`delete ended ${row.action}_${row.status}: ${row.statusReason}`);
}

export async function outputs(
  w: CompositeWorld,
  stack: StackRow,
): Promise<Record<string, unknown>> {
  const out = await stackOutputs(w.svc, stack);
  return Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, 'value' in v ? v.value : { error: v.error }]),
  );
}

export function signal(w: CompositeWorld, stackId: string, resource: string, details: unknown) {
  return signalResource(w.svc, stackId, resource, details);
}

/** Current resources of a stack (not the replaced ones), by name. */
export async function resources(w: CompositeWorld, stackId: string) {
  const rows = await w.s.stratus.runtime.db
    .select()
    .from(stackResources)
    .where(eq(stackResources.stackId, stackId));
  return Object.fromEntries(rows.filter((r) => r.replacedBy === null).map((r) => [r.name, r]));
}

/** Stacks (nested included) and resources rows left in the database. */
export async function leftovers(w: CompositeWorld): Promise<{ stacks: number; resources: number }> {
  const q = async (sql: string) => Number((await w.s.stratus.runtime.pool.query(sql)).rows[0].n);
  return {
    stacks: await q('select count(*) as n from stacks'),
    resources: await q('select count(*) as n from stack_resources'),
  };
}
