import type { ComputeAgent } from '../../resolvers/compute/compute-agent';
import type { SlowAction } from '../../resolvers/compute/server-states';
import type { Runtime } from '../../resolvers/runtime';
import { actionJobs } from './server-actions';
import { buildJobs } from './server-build';
import { jobKit } from './server-job-kit';

export interface ServerJobs {
  /** The host these jobs run on. */
  hostname: string;
  build(operationId: string, resumed: boolean): Promise<void>;
  delete(operationId: string): Promise<void>;
  action(operationId: string, action: SlowAction): Promise<void>;
}

/** The jobs behind createServer, deleteServer and every slow server action. */
/**
 * The jobs behind createServer, deleteServer and every slow server action: build and delete
 * in server-build.ts, actions in server-actions.ts, their shared steps in server-job-kit.ts.
 */
export function serverJobs(rt: Runtime, agent: ComputeAgent): ServerJobs {
  const kit = jobKit(rt, agent);
  const { build, remove } = buildJobs(kit);
  const { action } = actionJobs(kit);
  return { hostname: agent.hostname, build, delete: remove, action };
}
