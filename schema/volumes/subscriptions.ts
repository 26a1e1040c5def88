import { type VolumeRow, volumeFromEvent } from '../../resolvers/volumes/events';
import { loadVolumes } from '../../resolvers/volumes/volumes';
import { builder, type GraphQLContext } from '../builder';
import { rowUpdates, typeUpdates } from '../resource-updates';
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
    subscribe: (_root, args, ctx) => typeUpdates(ctx, 'Volume', args.after, volumeFromEvent),
    resolve: (volume) => volume,
  }),
}));

function volumeUpdates(ctx: GraphQLContext, id: string) {
  return rowUpdates<VolumeRow>(ctx, {
    resourceType: 'Volume',
    resource: 'volume',
    id,
    load: loadVolumes,
    fromEvent: volumeFromEvent,
    // The delete's event carries the last row and ends the stream.
    endKind: 'VOLUME_DELETED',
  });
}
