import type { TaskList } from 'graphile-worker';
import { onHost } from '../../resolvers/compute/jobs';
import type { NetworkAgent } from '../../resolvers/networks/network-agent';
import { NETWORK_SYNC_JOB, PORT_SYNC_JOB, ROUTER_SYNC_JOB } from '../../resolvers/networks/sync';

/**
 * The data-path sync jobs (resolvers/networks/sync.ts). A failure throws: graphile-worker
 * retries with backoff (5 attempts), and the next change or a restart's reconcile syncs again.
 * Networks and routers sync on any process with a network driver; ports only on their host.
 */
export function registerNetworkTasks(tasks: TaskList, agent: NetworkAgent): void {
  tasks[NETWORK_SYNC_JOB] = async (payload) => {
    await agent.syncNetwork((payload as { networkId: string }).networkId);
  };
  tasks[ROUTER_SYNC_JOB] = async (payload) => {
    await agent.syncRouter((payload as { routerId: string }).routerId);
  };
  tasks[onHost(PORT_SYNC_JOB, agent.hostname)] = async (payload) => {
    await agent.syncPort((payload as { portId: string }).portId);
  };
}
