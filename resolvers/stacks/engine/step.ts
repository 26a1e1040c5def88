import { eq } from 'drizzle-orm';
import { stackResources } from '../../../db/stacks';
import { InvalidInputError } from '../../errors';
import type { Runtime, ServiceContext } from '../../runtime';
import type { Progress, ResourcePlugin, ResourceState } from '../resources/plugin';
import type { Template } from '../template';
import { resourceContext, stackOwnerContext, stackTemplate } from './context';
import { recordEvent } from './events';
import { failStack } from './failure';
import { pollDelayMs, queueStep, type StepPayload } from './jobs';
import { markOf, pluginData, withMark } from './marks';
import { physicalName } from './names';
import { pluginForRow, resolveProperties, stateOf } from './resolve';
import { advanceAfter, lockStack, rowsByName } from './scheduler';
import { changedProperties, checkProperties } from './schema-check';
import type { StackResourceRow, StackRow } from './types';

type RowAction = 'CREATE' | 'UPDATE' | 'DELETE';

/** Timed out: the action started (stack row last changed) longer ago than timeoutMinutes. */
export function timedOut(stack: StackRow): boolean {
  return (
    stack.timeoutMinutes !== null &&
    stack.timeoutMinutes > 0 &&
    Date.now() - stack.updatedAt.getTime() > stack.timeoutMinutes * 60_000
  );
}

interface Step {
  rt: Runtime;
  p: StepPayload;
  svc: ServiceContext;
  stack: StackRow;
  row: StackResourceRow;
  template: Template;
  plugin: ResourcePlugin;
}

/** Runs one step of one resource; a stale generation or a finished stack stops quietly. */
export async function runStep(rt: Runtime, p: StepPayload): Promise<void> {
  const [stack, row] = await Promise.all([
    rt.db.query.stacks.findFirst({ where: (s, { eq: e }) => e(s.id, p.stackId) }),
    rt.db.query.stackResources.findFirst({ where: (r, { eq: e }) => e(r.id, p.resourceId) }),
  ]);
  if (!stack || !row || stack.generation !== p.generation || stack.status !== 'IN_PROGRESS') return;
  const action: RowAction =
    p.step === 'check' ? (row.action as RowAction) : (p.step.toUpperCase() as RowAction);
  if (timedOut(stack)) {
    await failStack(rt, p, null, action, 'Timed out');
    return;
  }
  try {
    const svc = await stackOwnerContext(rt, stack);
    const template = await stackTemplate(svc, stack);
    const plugin = pluginForRow(row);
    if (!plugin)
      throw new InvalidInputError(`resources.${row.name}.type`, `unknown type ${row.type}`);
    const s: Step = { rt, p, svc, stack, row, template, plugin };
    if (p.step === 'create') await create(s);
    else if (p.step === 'update') await update(s);
    else if (p.step === 'delete') await remove(s);
    else await check(s, action, stateOf(row));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await failStack(rt, p, row, action, message);
  }
}

async function resolvedProps(s: Step): Promise<Record<string, unknown>> {
  const requires = s.template.resources[s.row.name]?.requires ?? [];
  const deps = await rowsByName(s.rt.db, s.stack.id, requires);
  const raw = await resolveProperties(s.svc, s.stack, s.template, s.row.name, deps);
  return checkProperties(s.plugin, raw, `resources.${s.row.name}.properties`);
}

const ctxOf = (s: Step, row: StackResourceRow = s.row) =>
  resourceContext(s.svc, s.stack, row, s.template);

async function create(s: Step): Promise<void> {
  const props = await resolvedProps(s);
  const result = await s.plugin.create(ctxOf(s), props);
  const data = result.data ?? {};
  const state: ResourceState = { physicalId: result.physicalId, properties: props, data };
  const stale = await s.rt.db.transaction(async (tx) => {
    const stack = await lockStack(tx, s.stack.id);
    const [cur] = await tx.select().from(stackResources).where(eq(stackResources.id, s.row.id));
    if (!cur) return 'gone';
    // Recorded even when the action was superseded, so a later delete finds what exists.
    await tx
      .update(stackResources)
      .set({
        physicalId: result.physicalId,
        physicalType: s.plugin.physicalType ?? null,
        properties: props,
        data: withMark(data, {}, markOf(cur)),
      })
      .where(eq(stackResources.id, cur.id));
    return stack?.generation === s.p.generation ? 'ok' : 'stale';
  });
  if (stale === 'gone') {
    // The stack or the resource was deleted meanwhile: do not leave the new thing behind.
    await s.plugin.delete(ctxOf(s), state).catch(() => {});
    return;
  }
  if (stale === 'stale') return;
  await check(s, 'CREATE', state);
}

async function update(s: Step): Promise<void> {
  if (s.row.physicalId === null && s.row.action !== 'UPDATE') {
    // Never created (an earlier create failed before it existed): create it now.
    await s.rt.db.transaction(async (tx) => {
      await tx
        .update(stackResources)
        .set({ action: 'CREATE', status: 'IN_PROGRESS', statusReason: 'state changed' })
        .where(eq(stackResources.id, s.row.id));
      await recordEvent(tx, s.stack, {
        action: 'CREATE',
        status: 'IN_PROGRESS',
        reason: 'state changed',
        resource: { name: s.row.name, type: s.row.type, physicalId: null },
      });
    });
    await create(s);
    return;
  }
  const props = await resolvedProps(s);
  const changed = changedProperties(s.row.properties, props);
  const path = `resources.${s.row.name}.properties`;
  if (changed.length === 0) {
    // Nothing to change; a resource left FAILED or IN_PROGRESS by the failed action is
    // settled with an UPDATE_COMPLETE, so its dependants can go on.
    await finish(s, s.row.status === 'COMPLETE' ? null : 'UPDATE');
    return;
  }
  const immutable = changed.find((k) => s.plugin.properties[k]?.immutable);
  if (immutable)
    throw new InvalidInputError(
      `${path}.${immutable}`,
      `${path}.${immutable}: the property is immutable and cannot be changed`,
    );
  const state = stateOf(s.row);
  const inPlace =
    !!s.plugin.update &&
    !s.plugin.openProperties &&
    changed.every((k) => s.plugin.properties[k]?.updateAllowed) &&
    !s.plugin.updateReplaces?.(state, props, changed);
  if (!inPlace) {
    await replace(s, `update requires replacement (${changed.join(', ')})`);
    return;
  }
  await s.rt.db.transaction(async (tx) => {
    await tx
      .update(stackResources)
      .set({ action: 'UPDATE', status: 'IN_PROGRESS', statusReason: 'state changed' })
      .where(eq(stackResources.id, s.row.id));
    await recordEvent(tx, s.stack, {
      action: 'UPDATE',
      status: 'IN_PROGRESS',
      reason: 'state changed',
      resource: { name: s.row.name, type: s.row.type, physicalId: s.row.physicalId },
    });
  });
  const result = await s.plugin.update!(ctxOf(s), state, props, changed);
  if (result.kind === 'replace') {
    await replace(s, `update requires replacement (${changed.join(', ')})`);
    return;
  }
  const data = result.data ?? state.data;
  await s.rt.db
    .update(stackResources)
    .set({ properties: props, data: withMark(data, {}, markOf(s.row)) })
    .where(eq(stackResources.id, s.row.id));
  await check(s, 'UPDATE', { physicalId: s.row.physicalId, properties: props, data });
}

/** Creates the replacement first; the old resource is deleted in the cleanup, as Heat does. */
async function replace(s: Step, reason: string): Promise<void> {
  await s.rt.db.transaction(async (tx) => {
    const stack = await lockStack(tx, s.stack.id);
    if (!stack || stack.generation !== s.p.generation) return;
    const old = markOf(s.row);
    const [fresh] = await tx
      .insert(stackResources)
      .values({
        stackId: stack.id,
        name: s.row.name,
        type: s.row.type,
        physicalName: physicalName(stack.name, s.row.name),
        requires: s.row.requires,
        action: 'CREATE',
        status: 'IN_PROGRESS',
        statusReason: `replacing ${s.row.physicalId ?? s.row.name}`,
        data: withMark({}, { pending: 'CREATE', queuedGen: stack.generation, retain: old.retain }),
      })
      .returning();
    await tx
      .update(stackResources)
      .set({
        replacedBy: fresh.id,
        data: withMark(s.row.data, { pending: 'DELETE', queuedGen: null }, old),
      })
      .where(eq(stackResources.id, s.row.id));
    await recordEvent(tx, stack, {
      action: 'UPDATE',
      status: 'IN_PROGRESS',
      reason,
      resource: { name: s.row.name, type: s.row.type, physicalId: s.row.physicalId },
    });
    await recordEvent(tx, stack, {
      action: 'CREATE',
      status: 'IN_PROGRESS',
      reason: `replacing ${s.row.physicalId ?? s.row.name}`,
      resource: { name: fresh.name, type: fresh.type, physicalId: null },
    });
    await queueStep(tx, { ...s.p, resourceId: fresh.id, step: 'create', attempt: 0 });
  });
}

async function remove(s: Step): Promise<void> {
  const mark = markOf(s.row);
  const state = stateOf(s.row);
  // Retain: forget it and keep the physical resource; never created: nothing to delete.
  if (mark.retain || s.row.physicalId === null) {
    await finish(s, 'DELETE');
    return;
  }
  await s.plugin.delete(ctxOf(s), state);
  // A plugin may note what it started in the state's data (a deadline, a job id): keep it.
  await s.rt.db
    .update(stackResources)
    .set({ data: withMark(state.data, {}, mark) })
    .where(eq(stackResources.id, s.row.id));
  await check(s, 'DELETE', state);
}

async function check(s: Step, action: RowAction, state: ResourceState): Promise<void> {
  const ctx = ctxOf(s);
  const fn =
    action === 'CREATE'
      ? s.plugin.checkCreateComplete
      : action === 'UPDATE'
        ? s.plugin.checkUpdateComplete
        : s.plugin.checkDeleteComplete;
  const progress: Progress = fn ? await fn.call(s.plugin, ctx, state) : { done: true };
  if (progress.done) {
    await finish(s, action);
    return;
  }
  await s.rt.db.transaction(async (tx) => {
    const stack = await lockStack(tx, s.stack.id);
    if (!stack || stack.generation !== s.p.generation || stack.status !== 'IN_PROGRESS') return;
    await tx
      .update(stackResources)
      .set({ statusReason: progress.reason ?? 'state changed' })
      .where(eq(stackResources.id, s.row.id));
    await queueStep(
      tx,
      { ...s.p, step: 'check', attempt: s.p.attempt + 1 },
      pollDelayMs(s.p.attempt),
    );
  });
}

/** The resource's action is done (null: an update that changed nothing): record it, move on. */
async function finish(s: Step, action: RowAction | null): Promise<void> {
  await s.rt.db.transaction(async (tx) => {
    const stack = await lockStack(tx, s.stack.id);
    if (!stack || stack.generation !== s.p.generation || stack.status !== 'IN_PROGRESS') return;
    const [cur] = await tx.select().from(stackResources).where(eq(stackResources.id, s.row.id));
    // Already finished by a duplicate job.
    if (!cur || markOf(cur).pending === null) return;
    if (action !== null) {
      await recordEvent(tx, stack, {
        action,
        status: 'COMPLETE',
        reason: 'state changed',
        resource: { name: cur.name, type: cur.type, physicalId: cur.physicalId },
      });
    }
    if (action === 'DELETE') {
      await tx.delete(stackResources).where(eq(stackResources.id, cur.id));
    } else {
      await tx
        .update(stackResources)
        .set({
          ...(action ? { action, status: 'COMPLETE' as const, statusReason: 'state changed' } : {}),
          data: withMark(pluginData(cur), { pending: null, queuedGen: null }, markOf(cur)),
        })
        .where(eq(stackResources.id, cur.id));
    }
    await advanceAfter(tx, stack, cur, action);
  });
}
