import { NotFoundError } from '../../resolvers/errors';
import type { StratusEvent } from '../../resolvers/events';
import { type StackEventRow, stackEventsAfter } from '../../resolvers/stacks/api/resources';
import { loadStacks, type StackRow, stackTreeIds } from '../../resolvers/stacks/api/stacks';
import { builder, type GraphQLContext } from '../builder';
import { visibleTo } from '../events';
import { closingWith, type EventStream, eventCursor } from '../resource-updates';
import { Stack, StackEvent } from './types';

/** Stack subscriptions: one stack's state, a stack's events (nested stacks' too). */

/** Event types the engine publishes for stacks; any of them wakes a stream to re-read. */
const STACK_EVENT_TYPES = new Set(['Stack', 'StackResource', 'StackEvent']);
/** Re-read this often even without a notification (an engine step that published nothing). */
const POLL_MS = 1000;

const sleep = (ms: number) => new Promise<null>((r) => setTimeout(() => r(null), ms));

/**
 * Yields once per wake-up: a stack event the caller may see in the project, or POLL_MS
 * without one. Ends when the event stream is closed.
 */
async function* wakeups(stream: EventStream): AsyncGenerator<void> {
  const it = stream[Symbol.asyncIterator]();
  let pending = it.next();
  for (;;) {
    const woke = await Promise.race([pending, sleep(POLL_MS)]);
    if (woke) {
      if (woke.done) return;
      pending = it.next();
    }
    yield;
  }
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
  return closingWith(
    stream,
    (async function* () {
      const drain = async function* () {
        const ids = await stackTreeIds(ctx, id);
        for (;;) {
          const rows = await stackEventsAfter(ctx, ids, cursor);
          for (const row of rows) {
            cursor = row.id;
            yield row;
          }
          if (rows.length < 500) return;
        }
      };
      yield* drain();
      for await (const _ of wakeups(stream)) {
        yield* drain();
        // The stack is gone (deleted) once its row is: its last events were drained above.
        const [row] = await loadStacks(ctx, [id]);
        if (!row) {
          // Its stored events went with the row; end with the stack's own DELETE_COMPLETE.
          yield {
            id: cursor,
            stackId: id,
            projectId: root.projectId,
            resourceName: root.name,
            resourceType: 'OS::Heat::Stack',
            physicalId: id,
            action: 'DELETE',
            status: 'COMPLETE',
            statusReason: 'Stack deleted',
            createdAt: new Date(),
          } satisfies StackEventRow;
          return;
        }
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
