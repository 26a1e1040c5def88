import { actionFromEvent, type InstanceActionRow } from '../../resolvers/compute/instance-actions';
import { serverFromEvent } from '../../resolvers/compute/server-events';
import type { ServerRow } from '../../resolvers/compute/server-states';
import { loadServers } from '../../resolvers/compute/servers';
import { InvalidInputError, NotFoundError } from '../../resolvers/errors';
import { builder, type GraphQLContext } from '../builder';
import { visibleTo } from '../events';

import { InstanceAction, Server } from './types';

/** Server subscriptions: one server, a project's servers, a server's instance actions. */

builder.subscriptionFields((t) => ({
  server: t.field({
    type: Server,
    description:
      'One server now, then each change as it happens (status, task, power state, …), in order',
    authScopes: { policy: 'compute:list_servers' },
    args: { id: t.arg.globalID({ for: Server, required: true }) },
    subscribe: (_root, args, ctx) => serverUpdates(ctx, args.id.id),
    resolve: (server) => server,
  }),
  servers: t.field({
    type: Server,
    description: "Every change to your project's servers (admins: all), as it happens",
    authScopes: { policy: 'compute:list_servers' },
    args: { after: t.arg.string({ description: 'Resume after this event cursor' }) },
    subscribe: (_root, args, ctx) => projectServerUpdates(ctx, args.after ?? null),
    resolve: (server) => server,
  }),
  instanceActions: t.field({
    type: InstanceAction,
    description: 'Instance actions of one server as they start and finish',
    authScopes: { policy: 'compute:list_servers' },
    args: { serverId: t.arg.globalID({ for: Server, required: true }) },
    subscribe: (_root, args, ctx) => actionUpdates(ctx, args.serverId.id),
    resolve: (action) => action,
  }),
}));

/*
 * Each subscription checks what it can before returning its stream: an error thrown by
 * `subscribe` itself reaches the client with its code (NOT_FOUND, BAD_USER_INPUT), while one
 * thrown later, inside the stream, would arrive as an internal error.
 */

type EventStream = ReturnType<GraphQLContext['rt']['events']['stream']>;

/**
 * `inner` as an iterator whose return (or throw) first closes the event stream it reads,
 * which also ends an inner generator waiting for the next event.
 */
function closingWith<T>(stream: EventStream, inner: AsyncGenerator<T>): AsyncIterableIterator<T> {
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

/** The server's current row, then the row each server event carried. */
async function serverUpdates(
  ctx: GraphQLContext,
  id: string,
): Promise<AsyncIterableIterator<ServerRow>> {
  // Listening starts before the first read, so no change falls between the two.
  const stream = ctx.rt.events.stream({
    after: null,
    accept: (e) => e.resourceType === 'Server' && e.resourceId === id && visibleTo(ctx, e),
  });
  let current: ServerRow | null;
  try {
    [current] = await loadServers(ctx, [id]);
    if (!current) throw new NotFoundError('server', id);
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
        const row = serverFromEvent(event);
        // Changes committed before the first read are already in it.
        if (row.updatedAt.getTime() < last) continue;
        last = row.updatedAt.getTime();
        yield row;
      }
    })(),
  );
}

function projectServerUpdates(
  ctx: GraphQLContext,
  after: string | null,
): AsyncIterableIterator<ServerRow> {
  if (after !== null && !/^\d+$/.test(after)) {
    throw new InvalidInputError('after', `after must be an event cursor, got "${after}"`);
  }
  const stream = ctx.rt.events.stream({
    after: after === null ? null : Number(after),
    accept: (e) => e.resourceType === 'Server' && visibleTo(ctx, e),
  });
  return closingWith(
    stream,
    (async function* () {
      for await (const event of stream) yield serverFromEvent(event);
    })(),
  );
}

async function actionUpdates(
  ctx: GraphQLContext,
  serverId: string,
): Promise<AsyncIterableIterator<InstanceActionRow>> {
  const [server] = await loadServers(ctx, [serverId]);
  if (!server) throw new NotFoundError('server', serverId);
  const stream = ctx.rt.events.stream({
    after: null,
    accept: (e) =>
      e.resourceType === 'InstanceAction' &&
      (e.payload as { serverId?: string }).serverId === serverId &&
      visibleTo(ctx, e),
  });
  return closingWith(
    stream,
    (async function* () {
      for await (const event of stream) yield actionFromEvent(event);
    })(),
  );
}
