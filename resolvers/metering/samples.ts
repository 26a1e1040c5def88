/**
 * The metering contract shared by the store (resolvers/metering/store*), the pollers
 * (workers/metering*) and the alarms (resolvers/metering/alarms*). Meter names follow
 * Ceilometer's; the catalog of meters lives in resolvers/metering/meters.ts.
 */

/** Kinds of resources that have meters. Per-device disks and ports are resources of their own. */
export type MeteredType =
  | 'server'
  | 'server_disk'
  | 'port'
  | 'volume'
  | 'network'
  | 'image'
  | 'container'
  | 'project';

/** One measurement, as a poller reads it. */
export interface Sample {
  meter: string;
  resourceType: MeteredType;
  /** The resource's id (a server_disk is `<serverId>/<device>`, e.g. `…/vda`). */
  resourceId: string;
  /** Owner, for tenant isolation; null for admin-only resources. */
  projectId: string | null;
  timestamp: Date;
  value: number;
}

/** A resource a poller could not read this round: stored as a gap, never skipped silently. */
export interface SampleGap {
  meter: string;
  resourceType: MeteredType;
  resourceId: string;
  projectId: string | null;
  timestamp: Date;
  reason: string;
}

/** Gnocchi's aggregation methods. */
export type Aggregation = 'mean' | 'min' | 'max' | 'sum' | 'count' | 'rate' | 'p95';

export interface SeriesQuery {
  meter: string;
  resourceType: MeteredType;
  /** One resource, or several whose points are combined (`aggregation` across them too). */
  resourceIds: string[];
  from: Date;
  to: Date;
  /** Seconds; must be one of the archive policy's granularities. */
  granularity: number;
  aggregation: Aggregation;
}

export interface SeriesPoint {
  timestamp: Date;
  value: number;
}
