import type { ComputeDriver } from '../../drivers/compute/types';
import type { ServerRow } from '../compute/server-states';
import { FeatureDisabledError } from '../errors';
import type { ServiceContext } from '../runtime';

/**
 * The compute driver's volume hot-plug operations (QMP blockdev-add/device_add, device_del,
 * block_resize), seen through their names so this module works with drivers that lack them:
 * the API then refuses attach, detach and online extend with FeatureDisabledError.
 */
export interface VolumeHotplug {
  attachVolume(
    instanceId: string,
    spec: { volumeId: string; driver: 'qcow2' | 'raw'; path: string },
  ): Promise<unknown>;
  detachVolume(
    instanceId: string,
    volumeId: string,
    options: { timeoutMs: number },
  ): Promise<unknown>;
  extendVolume(instanceId: string, volumeId: string, newSizeBytes: number): Promise<unknown>;
}

export type HotplugMethod = keyof VolumeHotplug;

/** The driver's hot-plug operations, or why it has none. */
export function hotplugOf(driver: ComputeDriver): VolumeHotplug | string {
  const caps = driver.info().capabilities as { volumes?: boolean };
  const d = driver as unknown as Partial<VolumeHotplug>;
  if (caps.volumes === false)
    return `the ${driver.info().name} compute driver cannot hot-plug volumes`;
  if (
    typeof d.attachVolume !== 'function' ||
    typeof d.detachVolume !== 'function' ||
    typeof d.extendVolume !== 'function'
  ) {
    return `the ${driver.info().name} compute driver has no volume hot-plug (not built yet)`;
  }
  return d as VolumeHotplug;
}

/**
 * Refuses an attach, detach or online extend the server's hypervisor cannot do. Only this
 * process's host can be asked; a server on another host is trusted to its process.
 */
export function requireHotplug(ctx: ServiceContext, server: ServerRow, what: string): void {
  const agent = ctx.rt.compute;
  if (!agent || server.host !== agent.hostname) return;
  const hotplug = hotplugOf(agent.driver);
  if (typeof hotplug === 'string') throw new FeatureDisabledError(what, hotplug);
}

/** A device name the driver's attach answer carries (`{ device: 'vdb' }` or `'vdb'`), if any. */
export function deviceOf(result: unknown): string | null {
  if (typeof result === 'string' && result) return result;
  if (result && typeof result === 'object') {
    const r = result as { device?: unknown; target?: unknown };
    if (typeof r.device === 'string') return r.device;
    if (typeof r.target === 'string') return r.target;
  }
  return null;
}

/** Whether `error` is the compute driver's VolumeDetachTimeoutError (the guest never let go). */
export function isDetachTimeout(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'VolumeDetachTimeoutError' ||
      (error as { code?: string }).code === 'VOLUME_DETACH_TIMEOUT')
  );
}
