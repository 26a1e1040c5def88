import type { StratusEvent } from '../resolvers/events';
import type { EventBus } from './event-bus';

const REPLAY_BATCH = 500;
/** Events queued for one slow subscriber before it is cut off rather than exhausting memory. */
const MAX_QUEUED = 10_000;

/**
 * The events one subscriber may see, as an async iterator: first those stored after `after`
 * (when given), then live ones, each exactly once and in cursor order. `return()` ends it at
 * once, even while it waits, so an unsubscribe never hangs.
 */
export function eventStream(
  bus: EventBus,
  options: { after: number | null; accept: (event: StratusEvent) => boolean },
): AsyncIterableIterator<StratusEvent> {
  const queue: StratusEvent[] = [];
  let waiting: ((result: IteratorResult<StratusEvent>) => void) | null = null;
  let lastCursor = options.after ?? -1;
  let done = false;
  let overflow = false;

  const push = (event: StratusEvent) => {
    if (done || !options.accept(event)) return;
    if (waiting) {
      const resolve = waiting;
      waiting = null;
      if (Number(event.cursor) > lastCursor) {
        lastCursor = Number(event.cursor);
        resolve({ value: event, done: false });
      } else {
        waiting = resolve;
      }
      return;
    }
    if (queue.length >= MAX_QUEUED) overflow = true;
    else queue.push(event);
  };
  // Listen before replaying, so nothing published during the replay falls in between.
  const unlisten = bus.listen(push);
  let replay: Promise<void> | null =
    options.after === null
      ? null
      : (async () => {
          let cursor = options.after!;
          const replayed: StratusEvent[] = [];
          for (;;) {
            const batch = await bus.readAfter(cursor, REPLAY_BATCH);
            replayed.push(...batch.filter(options.accept));
            if (batch.length < REPLAY_BATCH) break;
            cursor = Number(batch[batch.length - 1].cursor);
          }
          queue.unshift(...replayed);
        })();

  const finish = (): Promise<IteratorResult<StratusEvent>> => {
    done = true;
    unlisten();
    queue.length = 0;
    if (waiting) waiting({ value: undefined, done: true });
    waiting = null;
    return Promise.resolve({ value: undefined, done: true });
  };

  const iterator: AsyncIterableIterator<StratusEvent> = {
    async next() {
      if (replay) {
        const pending = replay;
        replay = null;
        await pending;
      }
      if (overflow)
        throw new Error(
          'Subscriber too slow: more than 10000 events queued; resubscribe with `after`',
        );
      while (!done && queue.length > 0) {
        const event = queue.shift()!;
        if (Number(event.cursor) <= lastCursor) continue;
        lastCursor = Number(event.cursor);
        return { value: event, done: false };
      }
      if (done) return { value: undefined, done: true };
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return: finish,
    throw: (error?: unknown) => {
      void finish();
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
