import { computeHosts } from '../../db/tables';
import { authorize } from '../authorize';
import type { ServiceContext } from '../runtime';
import { type HostUsage, hostUsage } from './scheduler';

export type ComputeHostRow = typeof computeHosts.$inferSelect;

export interface Hypervisor extends ComputeHostRow {
  used: HostUsage;
}

/** Every compute host with what its live servers use (Nova's os-hypervisors, admins only). */
export async function listHypervisors(ctx: ServiceContext): Promise<Hypervisor[]> {
  authorize(ctx, 'compute:list_hypervisors');
  const hosts = await ctx.rt.db.select().from(computeHosts).orderBy(computeHosts.hostname);
  const usage = await hostUsage(
    ctx.rt.db,
    hosts.map((h) => h.hostname),
  );
  return hosts.map((h) => ({
    ...h,
    used: usage.get(h.hostname) ?? { vcpus: 0, ramMib: 0, diskGib: 0, servers: 0 },
  }));
}
