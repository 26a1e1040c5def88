/**
 * Child process of bench/servers.ts: one Stratus (`startStratus` with the config overrides it
 * is sent over IPC), so the benchmark's clients never share its event loop and its CPU time
 * can be read from /proc/<pid>/stat. Answers the job with `{ type: 'ready', url }`; then
 * `{ type: 'elu' }` with its event-loop utilization since start, and `{ type: 'stop' }` by
 * stopping Stratus and exiting.
 */
import { performance } from 'node:perf_hooks';
import type { StratusConfig } from '../server/config';

export interface ServersChildJob {
  databaseUrl: string;
  overrides: Partial<StratusConfig>;
}

export type ServersChildCommand = { type: 'stop' } | { type: 'elu' };

export type ServersChildMessage =
  | { type: 'ready'; url: string }
  | { type: 'elu'; idle: number; active: number; utilization: number };

process.once('message', async (job: ServersChildJob) => {
  try {
    const { startStratus } = await import('../server/app');
    const { benchConfig } = await import('./support');
    const stratus = await startStratus(benchConfig(job.databaseUrl, job.overrides));
    process.on('message', async (command: ServersChildCommand) => {
      if (command.type === 'elu') {
        const elu = performance.eventLoopUtilization();
        process.send?.({ type: 'elu', ...elu } satisfies ServersChildMessage);
      } else if (command.type === 'stop') {
        await stratus.stop().catch((error) => console.error(error));
        process.exit(0);
      }
    });
    process.send?.({ type: 'ready', url: stratus.url } satisfies ServersChildMessage);
  } catch (error) {
    console.error(error);
    process.exit(1);
  }
});
