import { NotFoundError } from '../../resolvers/errors';
import {
  loadFloatingIps,
  loadNetworks,
  loadPorts,
  loadRouters,
} from '../../resolvers/networks/access';
import type { ServiceContext } from '../../resolvers/runtime';
import { builder, type GraphQLContext } from '../builder';
import { visibleTo } from '../events';
import { eventCursor } from '../resource-updates';
import { FloatingIp, Network, Port, Router } from './types';

/** Network subscriptions: one object or a project's objects of a type, as they change. */

type Loader<T> = (ctx: ServiceContext, ids: readonly string[]) => Promise<Array<T | null>>;

/**
 * The object now, then its state after each change, until it is deleted. Changes are read
 * again at delivery (events carry only the id and status), so quick successions may merge.
 */
async function objectUpdates<T>(
  ctx: GraphQLContext,
  resourceType: string,
  resource: string,
  id: string,
  load: Loader<T>,
): Promise<AsyncIterableIterator<T>> {
  const stream = ctx.rt.events.stream({
    after: null,
    accept: (e) => e.resourceType === resourceType && e.resourceId === id && visibleTo(ctx, e),
  });
  const [first] = await load(ctx, [id]).catch(async (error) => {
    await stream.return?.();
    throw error;
  });
  if (!first) {
    await stream.return?.();
    throw new NotFoundError(resource, id);
  }
  return (async function* () {
    try {
      yield first;
      for await (const event of stream) {
        const [row] = await load(ctx, [event.resourceId]);
        if (!row) return;
        yield row;
      }
    } finally {
      await stream.return?.();
    }
  })();
}

/** Each changed object of a type the caller may see (deleted ones are not delivered). */
function typeUpdates<T>(
  ctx: GraphQLContext,
  resourceType: string,
  after: string | null | undefined,
  load: Loader<T>,
): AsyncIterableIterator<T> {
  const stream = ctx.rt.events.stream({
    after: eventCursor(after),
    accept: (e) => e.resourceType === resourceType && visibleTo(ctx, e),
  });
  return (async function* () {
    try {
      for await (const event of stream) {
        const [row] = await load(ctx, [event.resourceId]);
        if (row) yield row;
      }
    } finally {
      await stream.return?.();
    }
  })();
}

builder.subscriptionFields((t) => ({
  network: t.field({
    type: Network,
    description: 'One network now, then after each change, until it is deleted',
    authScopes: { policy: 'network:list' },
    args: { id: t.arg.globalID({ for: Network, required: true }) },
    subscribe: (_root, args, ctx) =>
      objectUpdates(ctx, 'Network', 'network', args.id.id, loadNetworks),
    resolve: (n) => n,
  }),
  networks: t.field({
    type: Network,
    description: "Each change to your project's networks (admins: all)",
    authScopes: { policy: 'network:list' },
    args: { after: t.arg.string({ description: 'Resume after this event cursor' }) },
    subscribe: (_root, args, ctx) => typeUpdates(ctx, 'Network', args.after, loadNetworks),
    resolve: (n) => n,
  }),
  port: t.field({
    type: Port,
    description: 'One port now, then after each change (status DOWN → BUILD → ACTIVE, …)',
    authScopes: { policy: 'network:list' },
    args: { id: t.arg.globalID({ for: Port, required: true }) },
    subscribe: (_root, args, ctx) => objectUpdates(ctx, 'Port', 'port', args.id.id, loadPorts),
    resolve: (p) => p,
  }),
  ports: t.field({
    type: Port,
    description: "Each change to your project's ports (admins: all)",
    authScopes: { policy: 'network:list' },
    args: { after: t.arg.string({ description: 'Resume after this event cursor' }) },
    subscribe: (_root, args, ctx) => typeUpdates(ctx, 'Port', args.after, loadPorts),
    resolve: (p) => p,
  }),
  router: t.field({
    type: Router,
    authScopes: { policy: 'network:list' },
    args: { id: t.arg.globalID({ for: Router, required: true }) },
    subscribe: (_root, args, ctx) =>
      objectUpdates(ctx, 'Router', 'router', args.id.id, loadRouters),
    resolve: (r) => r,
  }),
  floatingIp: t.field({
    type: FloatingIp,
    authScopes: { policy: 'network:list' },
    args: { id: t.arg.globalID({ for: FloatingIp, required: true }) },
    subscribe: (_root, args, ctx) =>
      objectUpdates(ctx, 'FloatingIp', 'floating IP', args.id.id, loadFloatingIps),
    resolve: (f) => f,
  }),
}));
