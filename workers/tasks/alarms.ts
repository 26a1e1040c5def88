import type { TaskList } from 'graphile-worker';
import { deliverWebhook, WEBHOOK_JOB, type WebhookJob } from '../../resolvers/metering/webhooks';
import type { Runtime } from '../../resolvers/runtime';

/**
 * Alarm webhook deliveries. A failed POST throws: graphile-worker retries it with its
 * exponential backoff until STRATUS_WEBHOOK_MAX_ATTEMPTS (set on the job when it is queued).
 */
export function registerAlarmTasks(tasks: TaskList, rt: Runtime): void {
  tasks[WEBHOOK_JOB] = async (payload, helpers) => {
    const job = payload as WebhookJob;
    await deliverWebhook(
      rt.config.alarms,
      rt.tempUrlSecret,
      job,
      rt.logger.child({ job: WEBHOOK_JOB, attempt: helpers.job.attempts }),
    );
  };
}
