import type { Task, TaskList } from 'graphile-worker';
import {
  ATTACH_JOB,
  CREATE_JOB,
  DELETE_JOB,
  DELETE_SNAPSHOT_JOB,
  DETACH_JOB,
  EXTEND_JOB,
  onBackend,
  onVolumeHost,
  SNAPSHOT_JOB,
} from '../../resolvers/volumes/jobs';
import type { VolumeJobs } from './volumes';

export type { VolumeJobs };

/**
 * Registers the volume jobs this process runs: creates for any backend, for its backend name
 * and for its host (a volume from a snapshot on it); the rest unsuffixed and `@host`. Attach
 * and detach only where a compute host runs too (QEMU is here).
 */
export function registerVolumeTasks(
  tasks: TaskList,
  jobs: VolumeJobs,
  operationTask: (body: (operationId: string) => Promise<void>) => Task,
  withCompute: boolean,
): void {
  const here = (kind: string) => [kind, onVolumeHost(kind, jobs.hostname)];
  const create = operationTask((id) => jobs.create(id));
  for (const name of [...here(CREATE_JOB), onBackend(jobs.backendName)]) tasks[name] = create;
  const byKind: Array<[string, (id: string) => Promise<void>]> = [
    [DELETE_JOB, jobs.delete],
    [EXTEND_JOB, jobs.extend],
    [SNAPSHOT_JOB, jobs.snapshot],
    [DELETE_SNAPSHOT_JOB, jobs.deleteSnapshot],
    ...(withCompute
      ? ([
          [ATTACH_JOB, jobs.attach],
          [DETACH_JOB, jobs.detach],
        ] as Array<[string, (id: string) => Promise<void>]>)
      : []),
  ];
  for (const [kind, run] of byKind) {
    for (const name of here(kind)) tasks[name] = operationTask((id) => run(id));
  }
}
