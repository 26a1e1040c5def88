import { actionFromEvent, type InstanceActionRow } from '../../resolvers/compute/instance-actions';
import { serverFromEvent } from '../../resolvers/compute/server-events';
import { loadServers } from '../../resolvers/compute/servers';
import { NotFoundError } from '../../resolvers/errors';
import { builder, type GraphQLContext } from '../builder';
import { visibleTo } from '../events';
import { closingWith, rowUpdates, typeUpdates } from '../resource-updates';
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
    subscribe: (_root, args, ctx) => typeUpdates(ctx, 'Server', args.after, serverFromEvent),
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

function serverUpdates(ctx: GraphQLContext, id: string) {
  return rowUpdates(ctx, {
    resourceType: 'Server',
    resource: 'server',
    id,
    load: loadServers,
    fromEvent: serverFromEvent,
  });
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
