import { Logger as GraphileLogger, type Runner, run, type TaskList } from 'graphile-worker';
import type pg from 'pg';
import type { Database } from '../db/connection';
import { asOperationInitiator } from '../resolvers/audit/jobs';
import { actionJob, BUILD_JOB, DELETE_JOB, onHost } from '../resolvers/compute/jobs';
import { ACTION_RULES, type SlowAction } from '../resolvers/compute/server-states';
import { IMPORT_JOB, runImageImport } from '../resolvers/images/images';
import { RETENTION_CRONTAB } from '../resolvers/metering/retention';
import type { NetworkAgent } from '../resolvers/networks/network-agent';
import { finishOperation, TEST_JOB_KIND } from '../resolvers/operations';
import type { Runtime } from '../resolvers/runtime';
import type { Logger } from '../server/logger';
import { registerAlarmTasks } from './tasks/alarms';
import { registerBaremetalTasks } from './tasks/baremetal';
import { registerMeteringTasks } from './tasks/metering-retention';
import { registerNetworkTasks } from './tasks/networks';
import type { ServerJobs } from './tasks/servers';
import { registerStackTasks } from './tasks/stacks';
import { runTestStages } from './tasks/test-stages';
import { registerVolumeTasks, type VolumeJobs } from './tasks/volume-tasks';

export interface WorkerOptions {
  pool: pg.Pool;
  db: Database;
  logger: Logger;
  concurrency: number;
  enableTestJobs: boolean;
  /** What jobs that call services need (image import). */
  runtime: Runtime;
  /** Server jobs, when this process runs a compute host. */
  serverJobs: ServerJobs | null;
  /** The network agent, when this process runs a network driver (data-path sync jobs). */
  networkAgent?: NetworkAgent | null;
  /** Volume jobs, when this process runs a volume backend. */
  volumeJobs: VolumeJobs | null;
}

/** Job kinds the worker runs, each wrapped so an unexpected throw fails its operation visibly. */
function taskList(opts: WorkerOptions): TaskList {
  const tasks: TaskList = {};
  const operationTask =
    (body: (operationId: string) => Promise<void>) =>
    async (payload: unknown): Promise<void> => {
      const { operationId } = payload as { operationId: string };
      try {
        await asOperationInitiator(opts.db, operationId, () => body(operationId));
      } catch (error) {
        opts.logger.error({ err: error, operationId }, 'operation failed unexpectedly');
        await finishOperation(opts.db, operationId, {
          errorCode: 'INTERNAL',
          errorMessage: String(error),
        });
      }
    };
  tasks[IMPORT_JOB] = operationTask((id) => runImageImport(opts.runtime, id));
  if (opts.enableTestJobs) tasks[TEST_JOB_KIND] = operationTask((id) => runTestStages(opts.db, id));
  const jobs = opts.serverJobs;
  if (jobs) {
    // Unsuffixed names run on any compute host; name@host only on that host (resolvers/compute/jobs.ts).
    const anyAndHere = (kind: string) => [kind, onHost(kind, jobs.hostname)];
    tasks[BUILD_JOB] = operationTask((id) => jobs.build(id, false));
    tasks[onHost(BUILD_JOB, jobs.hostname)] = operationTask((id) => jobs.build(id, true));
    for (const name of anyAndHere(DELETE_JOB)) tasks[name] = operationTask((id) => jobs.delete(id));
    for (const action of Object.keys(ACTION_RULES) as SlowAction[]) {
      for (const name of anyAndHere(actionJob(action))) {
        tasks[name] = operationTask((id) => jobs.action(id, action));
      }
    }
  }
  if (opts.networkAgent) registerNetworkTasks(tasks, opts.networkAgent);
  registerMeteringTasks(tasks, opts.runtime);
  registerAlarmTasks(tasks, opts.runtime);
  registerStackTasks(tasks, opts.runtime);
  if (opts.volumeJobs) {
    registerVolumeTasks(tasks, opts.volumeJobs, operationTask, opts.serverJobs !== null);
  }
  if (opts.runtime.baremetal) registerBaremetalTasks(tasks, opts.runtime, operationTask);
  return tasks;
}

/** Routes graphile-worker's own log lines into pino, at debug except for warnings and errors. */
function graphileLogger(logger: Logger): GraphileLogger {
  return new GraphileLogger(() => (level, message, meta) => {
    const pinoLevel = level === 'error' ? 'error' : level === 'warning' ? 'warn' : 'debug';
    logger[pinoLevel]({ worker: meta }, message);
  });
}

/** Starts graphile-worker in this process; jobs survive restarts because they live in PostgreSQL. */
export async function startWorker(
  opts: WorkerOptions,
): Promise<{ runner: Runner; kinds: Set<string> }> {
  const tasks = taskList(opts);
  const runner = await run({
    pgPool: opts.pool,
    taskList: tasks,
    concurrency: opts.concurrency,
    noHandleSignals: true,
    pollInterval: 1000,
    crontab: RETENTION_CRONTAB,
    logger: graphileLogger(opts.logger),
  });
  return { runner, kinds: new Set(Object.keys(tasks)) };
}
