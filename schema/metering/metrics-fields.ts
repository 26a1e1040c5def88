import { InvalidInputError } from '../../resolvers/errors';
import type { MeteredType } from '../../resolvers/metering/samples';
import { type MetricArgs, resourceMetrics } from '../../resolvers/metering/series-api';
import type { ServiceContext } from '../../resolvers/runtime';
import { builder } from '../builder';
import { Project } from '../identity/types';
import { Image } from '../images';
import { Network, Port } from '../networks/types';
import { Container } from '../objects';
import { Server } from '../servers/types';
import { Volume } from '../volumes/types';
import { MetricAggregation, MetricSeriesRef } from './types';

/**
 * `metrics(meter, from, to, granularity, aggregation)` on every type that has meters, and
 * Server.diskMetrics for one device. The parent was loaded with the caller's visibility rules;
 * metrics are further limited to the owner's project and admins.
 */

const metricArgs = builder.args((t) => ({
  meter: t.string({ required: true, description: 'A meter name, e.g. cpu_util' }),
  from: t.field({ type: 'DateTime', description: 'Default: an hour before `to`' }),
  to: t.field({ type: 'DateTime', description: 'Default: now' }),
  granularity: t.int({ description: "Seconds, one of the archive policy's (default: finest)" }),
  aggregation: t.field({ type: MetricAggregation, description: 'Default: MEAN' }),
}));

/** The field's options, for a parent whose id and owning project `pick` reads. */
function metricsField<T>(
  type: MeteredType,
  pick: (parent: T) => { id: string; projectId: string | null },
) {
  return {
    type: MetricSeriesRef,
    // Nullable: a refused or bad request leaves the rest of the resource readable.
    nullable: true,
    description: `A meter of this ${type} over a window (the meters query lists their names)`,
    authScopes: { policy: 'metric:get' as const },
    args: metricArgs,
    resolve: (parent: T, args: MetricArgs, ctx: ServiceContext) =>
      resourceMetrics(ctx, { type, ...pick(parent) }, args),
  };
}

builder.objectFields(Server, (t) => ({
  metrics: t.field(metricsField('server', (s) => s)),
  diskMetrics: t.field({
    type: MetricSeriesRef,
    nullable: true,
    description: 'A disk.device.* meter of one of the server’s disks (vda, vdb, ...)',
    authScopes: { policy: 'metric:get' },
    args: { ...metricArgs, device: t.arg.string({ required: true }) },
    resolve: (s, args, ctx) => {
      if (!/^[a-z][a-z0-9]{1,15}$/.test(args.device)) {
        throw new InvalidInputError('device', 'A device name like vda');
      }
      return resourceMetrics(
        ctx,
        { type: 'server_disk', id: `${s.id}/${args.device}`, projectId: s.projectId },
        args,
      );
    },
  }),
}));
builder.objectFields(Port, (t) => ({ metrics: t.field(metricsField('port', (p) => p)) }));
builder.objectFields(Volume, (t) => ({ metrics: t.field(metricsField('volume', (v) => v)) }));
builder.objectFields(Network, (t) => ({ metrics: t.field(metricsField('network', (n) => n)) }));
builder.objectFields(Container, (t) => ({
  metrics: t.field(metricsField('container', (c) => c)),
}));
builder.objectFields(Image, (t) => ({
  metrics: t.field(metricsField('image', (i) => ({ id: i.id, projectId: i.ownerProjectId }))),
}));
builder.objectFields(Project, (t) => ({
  metrics: t.field(metricsField('project', (p) => ({ id: p.id, projectId: p.id }))),
}));
