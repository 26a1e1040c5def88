import { InvalidInputError, NotFoundError } from '../resolvers/errors';
import type { StratusEvent } from '../resolvers/events';
import type { GraphQLContext } from './builder';
import { visibleTo } from './events';

/**
 * The streams behind "one resource now, then each change" and "every change of a type"
 * subscriptions, for domains whose events carry the row (servers, volumes).
 *
 * Each checks what it can before returning its stream: an error thrown by `subscribe` itself
 * reaches the client with its code (NOT_FOUND, BAD_USER_INPUT), while one thrown later, inside
 * the stream, would arrive as an internal error.
 */

export type EventStream = ReturnType<GraphQLContext['rt']['events']['stream']>;

/**
 * `inner` as an iterator whose return (or throw) first closes the event stream it reads,
 * which also ends an inner generator waiting for the next event.
 */
export function closingWith<T>(
  stream: EventStream,
  inner: AsyncGenerator<T>,
): AsyncIterableIterator<T> {
  const close = async () => {
    await stream.return?.();
  };
  return {
    next: () => inner.next(),
    return: async (value?: unknown) => {
      await close();
      return inner.return(value as T);
    },
    throw: async (error?: unknown) => {
      await close();
      return inner.throw(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** An `after` argument as an event cursor, or BAD_USER_INPUT. */
export function eventCursor(after: string | null | undefined): number | null {
  if (after == null) return null;
  if (!/^\d+$/.test(after)) {
    throw new InvalidInputError('after', `after must be an event cursor, got "${after}"`);
  }
  return Number(after);
}

export interface RowUpdates<Row> {
  /** The events' resourceType, e.g. `Server`. */
  resourceType: string;
  /** For NotFoundError, e.g. `server`. */
  resource: string;
  id: string;
  /** Loads rows the caller may see (missing ones: null or absent). */
  load: (ctx: GraphQLContext, ids: string[]) => Promise<(Row | null | undefined)[]>;
  /** The row an event carried. */
  fromEvent: (event: StratusEvent) => Row;
  /** The event kind after which the stream ends (the resource is gone), if any. */
  endKind?: string;
}

/** The resource's current row, then the row each of its events carried, in order. */
export async function rowUpdates<Row extends { updatedAt: Date }>(
  ctx: GraphQLContext,
  spec: RowUpdates<Row>,
): Promise<AsyncIterableIterator<Row>> {
  // Listening starts before the first read, so no change falls between the two.
  const stream = ctx.rt.events.stream({
    after: null,
    accept: (e) =>
      e.resourceType === spec.resourceType && e.resourceId === spec.id && visibleTo(ctx, e),
  });
  let current: Row | null | undefined;
  try {
    [current] = await spec.load(ctx, [spec.id]);
    if (!current) throw new NotFoundError(spec.resource, spec.id);
  } catch (error) {
    await stream.return?.();
    throw error;
  }
  const first = current;
  return closingWith(
    stream,
    (async function* () {
      let last = first.updatedAt.getTime();
      yield first;
      for await (const event of stream) {
        const row = spec.fromEvent(event);
        const ends = event.kind === spec.endKind;
        // Changes committed before the first read are already in it.
        if (row.updatedAt.getTime() < last && !ends) continue;
        last = row.updatedAt.getTime();
        yield row;
        if (ends) return;
      }
    })(),
  );
}

/** Every event of `resourceType` the caller may see, as the row it carried, from `after`. */
export function typeUpdates<Row>(
  ctx: GraphQLContext,
  resourceType: string,
  after: string | null | undefined,
  fromEvent: (event: StratusEvent) => Row,
): AsyncIterableIterator<Row> {
  const stream = ctx.rt.events.stream({
    after: eventCursor(after),
    accept: (e) => e.resourceType === resourceType && visibleTo(ctx, e),
  });
  return closingWith(
    stream,
    (async function* () {
      for await (const event of stream) yield fromEvent(event);
    })(),
  );
}
