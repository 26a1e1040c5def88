import type { TaskList } from 'graphile-worker';
import { enforceRetention, RETENTION_JOB } from '../../resolvers/metering/retention';
import type { Runtime } from '../../resolvers/runtime';

/**
 * Metering retention, run by graphile-worker's crontab every minute (RETENTION_CRONTAB): one
 * job at a time across every replica, and a minute missed while Stratus was down is not
 * replayed (the next run deletes everything overdue anyway).
 */
export function registerMeteringTasks(tasks: TaskList, rt: Runtime): void {
  tasks[RETENTION_JOB] = async () => {
    const deleted = await enforceRetention(rt.db);
    if (deleted.samples + deleted.rollups + deleted.gaps > 0) {
      rt.logger.debug({ job: RETENTION_JOB, deleted }, 'metering retention');
    }
  };
}
