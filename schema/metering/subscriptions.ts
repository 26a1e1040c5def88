import { liveMetrics } from '../../resolvers/metering/live-stream';
import type { Sample } from '../../resolvers/metering/samples';
import { builder } from '../builder';

/** Live samples of chosen meters (subscription metrics). */

const MetricSample = builder.objectRef<Sample>('MetricSample').implement({
  description: 'One measurement of a meter of a resource, as a poller recorded it',
  fields: (t) => ({
    meter: t.exposeString('meter'),
    resourceType: t.exposeString('resourceType', {
      description: 'server, server_disk, port, volume, network, image, container or project',
    }),
    resourceId: t.exposeString('resourceId', {
      description: 'The raw id (a server disk: `<server id>/<device>`)',
    }),
    projectId: t.exposeString('projectId', { nullable: true }),
    timestamp: t.field({ type: 'DateTime', resolve: (s) => s.timestamp }),
    value: t.exposeFloat('value'),
  }),
});

builder.subscriptionFields((t) => ({
  metrics: t.field({
    type: MetricSample,
    description:
      'Each sample of these meters of these resources as it is recorded (every poll interval); only resources you may see',
    authScopes: { policy: 'metric:subscribe' },
    args: {
      resourceType: t.arg.string({ required: true }),
      resourceIds: t.arg.stringList({
        required: true,
        description: 'Raw or global ids, 1-100 (a server disk: `<server id>/vda`)',
      }),
      meters: t.arg.stringList({ required: true, description: 'Meter names, 1-30' }),
    },
    subscribe: (_root, args, ctx) => liveMetrics(ctx, args),
    resolve: (sample) => sample,
  }),
}));
