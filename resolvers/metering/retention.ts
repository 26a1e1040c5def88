import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/connection';
import { ARCHIVE_POLICIES, storedLevels } from './archive-policies';

/** The retention job's graphile-worker task name, and its schedule (every minute). */
export const RETENTION_JOB = 'metering_retention';
export const RETENTION_CRONTAB = `* * * * * ${RETENTION_JOB} ?max=1`;

export interface RetentionResult {
  samples: number;
  rollups: number;
  gaps: number;
}

/**
 * Deletes what each archive policy no longer keeps: raw samples and gaps older than the raw
 * timespan, rollup buckets older than their granularity's timespan. Idempotent, so several
 * replicas running it at once only repeat work.
 */
export async function enforceRetention(db: DbOrTx, now = new Date()): Promise<RetentionResult> {
  const result: RetentionResult = { samples: 0, rollups: 0, gaps: 0 };
  const at = (seconds: number) => new Date(now.getTime() - seconds * 1000).toISOString();
  for (const policy of Object.values(ARCHIVE_POLICIES)) {
    const ofPolicy = sql`(select id from metering_series where policy = ${policy.name})`;
    const rawCutoff = at(policy.rawTimespan);
    const samples = await db.execute(sql`
      delete from metering_samples where ts < ${rawCutoff}::timestamptz and series_id in ${ofPolicy}`);
    const gaps = await db.execute(sql`
      delete from metering_gaps where ts < ${rawCutoff}::timestamptz and series_id in ${ofPolicy}`);
    result.samples += samples.rowCount ?? 0;
    result.gaps += gaps.rowCount ?? 0;
    for (const level of storedLevels(policy)) {
      const rollups = await db.execute(sql`
        delete from metering_rollups where granularity = ${level.granularity}
          and bucket < ${at(level.timespan)}::timestamptz and series_id in ${ofPolicy}`);
      result.rollups += rollups.rowCount ?? 0;
    }
  }
  return result;
}
