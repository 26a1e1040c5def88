import { InvalidInputError, NotFoundError } from '../../resolvers/errors';
import { type VolumeRow, volumeFromEvent } from '../../resolvers/volumes/events';
import { loadVolumes } from '../../resolvers/volumes/volumes';
import { builder, type GraphQLContext } from '../builder';
import { visibleTo } from '../events';
import { Volume } from './types';

/** Volume subscriptions: one volume, a project's volumes. */

builder.subscriptionFields((t) => ({
  volume: t.field({
    type: Volume,
    description: 'One volume now, then each change as it happens (status, size, fault), in order',
    authScopes: { policy: 'volume:list' },
    args: { id: t.arg.globalID({ for: Volume, required: true }) },
    subscribe: (_root, args, ctx) => volumeUpdates(ctx, args.id.id),
    resolve: (volume) => volume,
  }),
  volumes: t.field({
    type: Volume,
    description:
      "Every change to your project's volumes (admins: all), as it happens; a deleted volume comes last with its final row",
    authScopes: { policy: 'volume:list' },
    args: { after: t.arg.string({ description: 'Resume after this event cursor' }) },
    subscribe: (_root, args, ctx) => projectVolumeUpdates(ctx, args.after ?? null),
    resolve: (volume) => volume,
  }),
}));

type EventStream = ReturnType<GraphQLContext['rt']['events']['stream']>;

/** `inner`, whose return (or throw) first closes the event stream it reads. */
function closingWith<T>(stream: EventStream, inner: AsyncGenerator<T>): AsyncIterableIterator<T> {
  return {
    next: () => inner.next(),
    return: async (value?: unknown) => {
      await stream.return?.();
      return inner.return(value as T);
    },
    throw: async (error?: unknown) => {
      await stream.return?.();
      return inner.throw(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** The volume's current row, then the row each of its events carried (the delete's last). */
async function volumeUpdates(
  ctx: GraphQLContext,
  id: string,
): Promise<AsyncIterableIterator<VolumeRow>> {
  // Listening starts before the first read, so no change falls between the two.
  const stream = ctx.rt.events.stream({
    after: null,
    accept: (e) => e.resourceType === 'Volume' && e.resourceId === id && visibleTo(ctx, e),
  });
  let current: VolumeRow | null;
  try {
    [current] = await loadVolumes(ctx, [id]);
    if (!current) throw new NotFoundError('volume', id);
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
        const row = volumeFromEvent(event);
        // Changes committed before the first read are already in it.
        if (row.updatedAt.getTime() < last && event.kind !== 'VOLUME_DELETED') continue;
        last = row.updatedAt.getTime();
        yield row;
        if (event.kind === 'VOLUME_DELETED') return;
      }
    })(),
  );
}

function projectVolumeUpdates(
  ctx: GraphQLContext,
  after: string | null,
): AsyncIterableIterator<VolumeRow> {
  if (after !== null && !/^\d+$/.test(after)) {
    throw new InvalidInputError('after', `after must be an event cursor, got "${after}"`);
  }
  const stream = ctx.rt.events.stream({
    after: after === null ? null : Number(after),
    accept: (e) => e.resourceType === 'Volume' && visibleTo(ctx, e),
  });
  return closingWith(
    stream,
    (async function* () {
      for await (const event of stream) yield volumeFromEvent(event);
    })(),
  );
}
