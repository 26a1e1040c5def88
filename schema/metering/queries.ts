import { METERS, metersOf } from '../../resolvers/metering/meters';
import { aggregateMetrics } from '../../resolvers/metering/series-api';
import { usageReport } from '../../resolvers/metering/usage';
import { builder } from '../builder';
import { Project } from '../identity/types';
import {
  ArchivePolicyRef,
  allPolicies,
  Meter,
  MeteredResourceType,
  MetricAggregation,
  MetricGroupBy,
  MetricGroupRef,
  UsageReportRef,
} from './types';

/** Metering queries: meters, archivePolicies, metricsAggregate, usageReport. */

builder.queryFields((t) => ({
  meters: t.field({
    type: [Meter],
    nullable: true,
    description: 'The meter catalog, optionally for one resource type',
    authScopes: { policy: 'metric:list_meters' },
    args: { resourceType: t.arg({ type: MeteredResourceType }) },
    resolve: (_root, args) => (args.resourceType ? metersOf(args.resourceType) : [...METERS]),
  }),
  archivePolicies: t.field({
    type: [ArchivePolicyRef],
    nullable: true,
    description: 'Archive policies: how long samples and each rollup level are kept',
    authScopes: { policy: 'metric:list_meters' },
    resolve: () => allPolicies(),
  }),
  metricsAggregate: t.field({
    type: [MetricGroupRef],
    nullable: true,
    description:
      "One meter across the resources of your project (admins: `projectId`, or all projects), optionally grouped by the servers' flavor or host",
    authScopes: { policy: 'metric:aggregate' },
    args: {
      meter: t.arg.string({ required: true }),
      resourceType: t.arg({ type: MeteredResourceType, required: true }),
      from: t.arg({ type: 'DateTime' }),
      to: t.arg({ type: 'DateTime' }),
      granularity: t.arg.int(),
      aggregation: t.arg({ type: MetricAggregation }),
      groupBy: t.arg({ type: MetricGroupBy }),
      projectId: t.arg.globalID({ for: Project }),
    },
    resolve: (_root, args, ctx) =>
      aggregateMetrics(ctx, { ...args, projectId: args.projectId?.id }),
  }),
  usageReport: t.field({
    type: UsageReportRef,
    nullable: true,
    description:
      "A project's usage over a period: server vCPU/RAM/disk hours (Nova's simple tenant usage), volume and object GiB-hours",
    authScopes: { policy: 'metric:usage_report' },
    args: {
      projectId: t.arg.globalID({ for: Project, description: 'Default: your project' }),
      from: t.arg({ type: 'DateTime', required: true }),
      to: t.arg({ type: 'DateTime', required: true }),
    },
    resolve: (_root, args, ctx) =>
      usageReport(ctx, { projectId: args.projectId?.id, from: args.from, to: args.to }),
  }),
}));
