import { NotFoundError } from '../../resolvers/errors';
import type { StratusEvent } from '../../resolvers/events';
import { type StackEventRow, stackEventsAfter } from '../../resolvers/stacks/api/resources';
import { loadStacks, type StackRow, stackTreeIds } from '../../resolvers/stacks/api/stacks';
import { builder, type GraphQLContext } from '../builder';
import { visibleTo } from '../events';
import { closingWith, type EventStream, eventCursor } from '../resource-updates';
import { Stack, StackEvent } from './types';

/** Stack subscriptions: one stack's state, a stack's events (nested stacks' too). */

/**
 * Event types the engine publishes for stacks (resolvers/stacks/engine/events.ts: 'stack',
 * resourceId the stack id, the stack_events row in the payload); any of them wakes a stream.
 */
const STACK_EVENT_TYPES = new Set(['stack', 'Stack']);
/** Re-read this often even without a notification (an engine step that published nothing). */
const POLL_MS = 1000;

const sleep = (ms: number) => new Promise<null>((r) => setTimeout(() => r(null), ms));

/**
 * Yields once per wake-up: a stack event the caller may see in the project, or null after
 * POLL_MS without one. Ends when the event stream is closed.
 */
async function* wakeups(stream: EventStream): AsyncGenerator<StratusEvent | null> {
  const it = stream[Symbol.asyncIterator]();
  let pending = it.next();
  for (;;) {
    const woke = await Promise.race([pending, sleep(POLL_MS)]);
    if (woke) {
      if (woke.done) return;
      pending = it.next();
      yield woke.value;
    } else yield null;
  }
}

/** The stack_events row an engine event carries (for rows a stack's deletion took along). */
function eventRow(e: StratusEvent): StackEventRow | null {
  const p = e.payload as Record<string, unknown>;
  if (typeof p.eventId !== 'number' || typeof p.action !== 'string') return null;
  return {
    id: p.eventId,
    stackId: e.resourceId,
    projectId: e.projectId ?? '',
    resourceName: String(p.resourceName ?? ''),
    resourceType: String(p.resourceType ?? ''),
    physicalId: typeof p.physicalId === 'string' ? p.physicalId : null,
    action: p.action as StackEventRow['action'],
    status: p.status as StackEventRow['status'],
    statusReason: String(p.reason ?? ''),
    createdAt: new Date(e.createdAt),
  };
}

function stackStream(ctx: GraphQLContext, projectId: string): EventStream {
  return ctx.rt.events.stream({
    after: null,
    accept: (e: StratusEvent) =>
      STACK_EVENT_TYPES.has(e.resourceType) && e.projectId === projectId && visibleTo(ctx, e),
  });
}

async function visibleStack(ctx: GraphQLContext, id: string): Promise<StackRow> {
  const [row] = await loadStacks(ctx, [id]);
  if (!row) throw new NotFoundError('stack', id);
  return row;
}

/** The stack now, then again each time its state changes; a deleted stack ends the stream. */
async function stackUpdates(
  ctx: GraphQLContext,
  id: string,
): Promise<AsyncIterableIterator<StackRow>> {
  const first = await visibleStack(ctx, id);
  const stream = stackStream(ctx, first.projectId);
  return closingWith(
    stream,
    (async function* () {
      let last = first;
      yield first;
      for await (const _ of wakeups(stream)) {
        const [row] = await loadStacks(ctx, [id]);
        if (!row) {
          // The row goes at DELETE_COMPLETE (or the caller lost access): say so, then end.
          yield { ...last, action: 'DELETE', status: 'COMPLETE', updatedAt: new Date() };
          return;
        }
        const key = (r: StackRow) =>
          `${r.action}_${r.status}:${r.statusReason}:${r.updatedAt.getTime()}`;
        if (key(row) === key(last)) continue;
        last = row;
        yield row;
      }
    })(),
  );
}

/** The stack's stored events after the cursor, then each new one, nested stacks' included. */
async function stackEventUpdates(
  ctx: GraphQLContext,
  id: string,
  after: string | null | undefined,
): Promise<AsyncIterableIterator<StackEventRow>> {
  let cursor = eventCursor(after) ?? 0;
  const root = await visibleStack(ctx, id);
  const stream = stackStream(ctx, root.projectId);
  // Every stack of the tree seen so far: a nested stack deleted since still counts.
  const tree = new Set<string>([id]);
  return closingWith(
    stream,
    (async function* () {
      const drain = async function* () {
        for (const member of await stackTreeIds(ctx, id)) tree.add(member);
        for (;;) {
          const rows = await stackEventsAfter(ctx, [...tree], cursor);
          for (const row of rows) {
            cursor = row.id;
            yield row;
          }
          if (rows.length < 500) return;
        }
      };
      yield* drain();
      const missed: StackEventRow[] = [];
      for await (const event of wakeups(stream)) {
        const carried = event && tree.has(event.resourceId) ? eventRow(event) : null;
        if (carried) missed.push(carried);
        yield* drain();
        // Rows a deletion took with it (the stack's row goes at DELETE_COMPLETE): from the event.
        for (const row of missed.splice(0)) {
          if (row.id <= cursor) continue;
          cursor = row.id;
          yield row;
        }
        const [row] = await loadStacks(ctx, [id]);
        if (!row) return;
      }
    })(),
  );
}

builder.subscriptionFields((t) => ({
  stack: t.field({
    type: Stack,
    description:
      'The stack now, then each change of its status; DELETE_COMPLETE last when it is deleted',
    authScopes: { policy: 'stack:list' },
    args: { id: t.arg.globalID({ for: Stack, required: true }) },
    subscribe: (_root, args, ctx) => stackUpdates(ctx, args.id.id),
    resolve: (stack) => stack,
  }),
  stackEvents: t.field({
    type: StackEvent,
    description:
      "The stack's events (and its nested stacks'), stored ones after the cursor first, then live",
    authScopes: { policy: 'stack:list' },
    args: {
      stackId: t.arg.globalID({ for: Stack, required: true }),
      after: t.arg.string({ description: 'A StackEvent id: resume after it' }),
    },
    subscribe: (_root, args, ctx) => stackEventUpdates(ctx, args.stackId.id, args.after),
    resolve: (event) => event,
  }),
}));
