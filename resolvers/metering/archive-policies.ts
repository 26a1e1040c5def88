/**
 * Archive policies, as in Gnocchi: how long raw samples stay, and which fixed-size buckets
 * they are rolled up into, each kept for its own timespan. Policies live in code (they change
 * with a release, not at run time); every meter uses `default` unless the table says otherwise.
 * See docs/metering.md.
 */
export interface ArchiveLevel {
  /** Bucket size, seconds. */
  granularity: number;
  /** How long buckets of this size are kept, seconds. */
  timespan: number;
}

export interface ArchivePolicy {
  name: string;
  /** How long raw samples stay (they feed p95 and fine-grained reads). */
  rawTimespan: number;
  levels: readonly ArchiveLevel[];
}

const HOUR = 3600;
const DAY = 24 * HOUR;

export const ARCHIVE_POLICIES: Record<string, ArchivePolicy> = {
  /** Pollers at 1..10 s: 10 s for a day, 1 min for a week, 1 h for a year. */
  default: {
    name: 'default',
    rawTimespan: DAY,
    levels: [
      { granularity: 10, timespan: DAY },
      { granularity: 60, timespan: 7 * DAY },
      { granularity: HOUR, timespan: 365 * DAY },
    ],
  },
  /** Gnocchi's "low": 5 min for 30 days. */
  low: {
    name: 'low',
    rawTimespan: HOUR,
    levels: [{ granularity: 300, timespan: 30 * DAY }],
  },
  /** Gnocchi's "high": 1 s for an hour, 1 min for a week, 1 h for a year. */
  high: {
    name: 'high',
    rawTimespan: HOUR,
    levels: [
      { granularity: 1, timespan: HOUR },
      { granularity: 60, timespan: 7 * DAY },
      { granularity: HOUR, timespan: 365 * DAY },
    ],
  },
};

/** Meters that use another policy than `default` (none yet: room for operators' choices). */
const METER_POLICY: Record<string, string> = {};

export function policyOf(meter: string): ArchivePolicy {
  return ARCHIVE_POLICIES[METER_POLICY[meter] ?? 'default'] as ArchivePolicy;
}

/**
 * A level kept no longer than the raw samples is read from them (grouped at query time)
 * instead of being written as buckets: it would hold the same points, at twice the write cost.
 */
export function isFromRaw(policy: ArchivePolicy, level: ArchiveLevel): boolean {
  return level.timespan <= policy.rawTimespan;
}

/** The levels written as rollup buckets when samples arrive. */
export function storedLevels(policy: ArchivePolicy): readonly ArchiveLevel[] {
  return policy.levels.filter((l) => !isFromRaw(policy, l));
}

export function levelOf(policy: ArchivePolicy, granularity: number): ArchiveLevel | undefined {
  return policy.levels.find((l) => l.granularity === granularity);
}
