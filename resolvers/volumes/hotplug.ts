import type { ComputeDriver } from '../../drivers/compute/types';
import type { ServerRow } from '../compute/server-states';
import { FeatureDisabledError } from '../errors';
import type { ServiceContext } from '../runtime';

/** Why `driver` cannot hot-plug volumes (attach, detach, online extend), or null when it can. */
export function hotplugUnsupported(driver: ComputeDriver): string | null {
  const info = driver.info();
  return info.capabilities.volumes
    ? null
    : `the ${info.name} compute driver cannot attach, detach or resize volumes`;
}

/**
 * Refuses an attach, detach or online extend the server's hypervisor cannot do. Only this
 * process's host can be asked; a server on another host is trusted to its process.
 */
export function requireHotplug(ctx: ServiceContext, server: ServerRow, what: string): void {
  const agent = ctx.rt.compute;
  if (!agent || server.host !== agent.hostname) return;
  const why = hotplugUnsupported(agent.driver);
  if (why) throw new FeatureDisabledError(what, why);
}
