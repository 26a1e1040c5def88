import { ARCHIVE_POLICIES, type ArchivePolicy } from '../../resolvers/metering/archive-policies';
import type { MeterDefinition } from '../../resolvers/metering/meters';
import type { Aggregation, MeteredType, SeriesPoint } from '../../resolvers/metering/samples';
import {
  gapsOf,
  type MetricGap,
  type MetricGroup,
  type MetricSeries,
} from '../../resolvers/metering/series-api';
import type { ServerUsage, UsageReport, VolumeUsage } from '../../resolvers/metering/usage';
import { builder } from '../builder';

/** Metering's GraphQL types: the meter catalog, series, groups and usage reports. */

export const MetricAggregation = builder.enumType('MetricAggregation', {
  description: "Gnocchi's aggregation methods (see docs/metering.md for how each is computed)",
  values: {
    MEAN: { value: 'mean' },
    MIN: { value: 'min' },
    MAX: { value: 'max' },
    SUM: { value: 'sum' },
    COUNT: { value: 'count' },
    RATE: { value: 'rate', description: 'Per-second change of a cumulative meter, reset-aware' },
    P95: { value: 'p95', description: '95th percentile of the finest stored points' },
  } as const satisfies Record<string, { value: Aggregation; description?: string }>,
});

export const MeteredResourceType = builder.enumType('MeteredResourceType', {
  values: {
    SERVER: { value: 'server' },
    SERVER_DISK: { value: 'server_disk' },
    PORT: { value: 'port' },
    VOLUME: { value: 'volume' },
    NETWORK: { value: 'network' },
    IMAGE: { value: 'image' },
    CONTAINER: { value: 'container' },
    PROJECT: { value: 'project' },
  } as const satisfies Record<string, { value: MeteredType }>,
});

export const MeterKindEnum = builder.enumType('MeterKind', {
  values: { GAUGE: { value: 'gauge' }, CUMULATIVE: { value: 'cumulative' } } as const,
});

export const MetricGroupBy = builder.enumType('MetricGroupBy', {
  values: {
    NONE: { value: 'none' },
    FLAVOR: { value: 'flavor', description: "Servers by their flavor's name" },
    HOST: { value: 'host', description: 'Servers by compute host' },
  } as const,
});

export const Meter = builder.objectRef<MeterDefinition>('Meter').implement({
  description: 'A meter of the catalog (Ceilometer names)',
  fields: (t) => ({
    name: t.exposeString('name'),
    unit: t.exposeString('unit'),
    kind: t.field({ type: MeterKindEnum, resolve: (m) => m.kind }),
    resourceTypes: t.field({ type: [MeteredResourceType], resolve: (m) => m.resourceTypes }),
    description: t.exposeString('description'),
  }),
});

const ArchiveLevelRef = builder
  .objectRef<{ granularity: number; timespan: number }>('ArchivePolicyLevel')
  .implement({
    fields: (t) => ({
      granularity: t.exposeInt('granularity', { description: 'Bucket size, seconds' }),
      timespan: t.exposeInt('timespan', { description: 'How long buckets are kept, seconds' }),
    }),
  });

export const ArchivePolicyRef = builder.objectRef<ArchivePolicy>('ArchivePolicy').implement({
  description: "Gnocchi's archive policy: raw retention and rollup levels",
  fields: (t) => ({
    name: t.exposeString('name'),
    rawTimespan: t.exposeInt('rawTimespan', { description: 'How long raw samples stay, seconds' }),
    levels: t.field({ type: [ArchiveLevelRef], resolve: (p) => [...p.levels] }),
  }),
});
export const allPolicies = () => Object.values(ARCHIVE_POLICIES);

const MetricPoint = builder.objectRef<SeriesPoint>('MetricPoint').implement({
  fields: (t) => ({
    timestamp: t.field({
      type: 'DateTime',
      description: 'Start of the bucket',
      resolve: (p) => p.timestamp,
    }),
    value: t.exposeFloat('value'),
  }),
});

const MetricGapRef = builder.objectRef<MetricGap>('MetricGap').implement({
  description: 'A poll that could not read the resource, and why',
  fields: (t) => ({
    timestamp: t.field({ type: 'DateTime', resolve: (g) => g.timestamp }),
    reason: t.exposeString('reason'),
  }),
});

export const MetricSeriesRef = builder.objectRef<MetricSeries>('MetricSeries').implement({
  description: 'A meter over a window, one point per bucket that has samples',
  fields: (t) => ({
    meter: t.exposeString('meter'),
    unit: t.exposeString('unit'),
    kind: t.field({ type: MeterKindEnum, resolve: (s) => s.kind }),
    resourceType: t.field({ type: MeteredResourceType, resolve: (s) => s.resourceType }),
    granularity: t.exposeInt('granularity'),
    aggregation: t.field({ type: MetricAggregation, resolve: (s) => s.aggregation }),
    from: t.field({ type: 'DateTime', resolve: (s) => s.from }),
    to: t.field({ type: 'DateTime', resolve: (s) => s.to }),
    points: t.field({ type: [MetricPoint], resolve: (s) => s.points }),
    gaps: t.field({
      type: [MetricGapRef],
      description: 'Polls in the window that could not read the resource',
      resolve: (s, _args, ctx) => gapsOf(ctx, s),
    }),
  }),
});

export const MetricGroupRef = builder.objectRef<MetricGroup>('MetricGroup').implement({
  description: 'The resources of one group, combined bucket by bucket',
  fields: (t) => ({
    key: t.exposeString('key', {
      nullable: true,
      description: 'Flavor name or host; null for NONE, or servers without one',
    }),
    resourceCount: t.exposeInt('resourceCount'),
    series: t.field({ type: MetricSeriesRef, resolve: (g) => g.series }),
  }),
});

const ServerUsageRef = builder.objectRef<ServerUsage>('ServerUsage').implement({
  fields: (t) => ({
    serverId: t.exposeID('serverId'),
    name: t.exposeString('name'),
    flavorName: t.exposeString('flavorName'),
    vcpus: t.exposeInt('vcpus'),
    ramMib: t.exposeInt('ramMib'),
    rootDiskGib: t.exposeInt('rootDiskGib'),
    state: t.exposeString('state'),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (u) => u.startedAt }),
    endedAt: t.field({ type: 'DateTime', nullable: true, resolve: (u) => u.endedAt }),
    hours: t.exposeFloat('hours'),
    vcpuHours: t.exposeFloat('vcpuHours'),
    ramMibHours: t.exposeFloat('ramMibHours'),
    diskGibHours: t.exposeFloat('diskGibHours'),
  }),
});

const VolumeUsageRef = builder.objectRef<VolumeUsage>('VolumeUsage').implement({
  fields: (t) => ({
    volumeId: t.exposeID('volumeId'),
    name: t.exposeString('name'),
    sizeGib: t.exposeInt('sizeGib'),
    hours: t.exposeFloat('hours'),
    gibHours: t.exposeFloat('gibHours'),
  }),
});

export const UsageReportRef = builder.objectRef<UsageReport>('UsageReport').implement({
  description:
    "A project's usage over a period (Nova's simple tenant usage, plus volumes and objects)",
  fields: (t) => ({
    projectId: t.exposeID('projectId'),
    from: t.field({ type: 'DateTime', resolve: (u) => u.from }),
    to: t.field({ type: 'DateTime', description: 'The period end, or now', resolve: (u) => u.to }),
    servers: t.field({ type: [ServerUsageRef], resolve: (u) => u.servers }),
    volumes: t.field({ type: [VolumeUsageRef], resolve: (u) => u.volumes }),
    totalHours: t.exposeFloat('totalHours', { description: 'Server hours' }),
    vcpuHours: t.exposeFloat('vcpuHours'),
    ramMibHours: t.exposeFloat('ramMibHours'),
    diskGibHours: t.exposeFloat('diskGibHours', { description: 'Root disks of servers' }),
    volumeGibHours: t.exposeFloat('volumeGibHours'),
    objectGibHours: t.exposeFloat('objectGibHours'),
  }),
});
