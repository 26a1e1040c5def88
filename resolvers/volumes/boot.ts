import { volumeAttachments } from '../../db/tables';
import type { VolumeConnectionInfo } from '../../drivers/volume/types';
import type { Runtime } from '../runtime';
import { moveVolume } from './states';

/** The device a boot volume is to the guest (the root disk). */
export const ROOT_DEVICE = '/dev/vda';

/**
 * Boot from volume, in the server's build job once its boot volume is `available` (made by
 * `planImageVolume` + `startVolumeCreate` in createServer's transaction): records the volume
 * as the server's root disk (`in-use`, attachment on /dev/vda) and returns what QEMU opens
 * (the compute driver's `VolumeRootDiskSpec.volume`). Throws VolumeSupersededError when the
 * volume is no longer available, and an Error when this process has no volume backend (the
 * volume must be held on the server's host).
 */
export async function claimBootVolume(
  rt: Runtime,
  volumeId: string,
  serverId: string,
  deleteOnTermination: boolean,
): Promise<VolumeConnectionInfo & { volumeId: string }> {
  if (!rt.volume) throw new Error(`host has no volume backend for boot volume ${volumeId}`);
  const connection = await rt.volume.driver.connectionInfo(volumeId);
  await rt.db.transaction(async (tx) => {
    await moveVolume(tx, volumeId, ['available'], { status: 'in-use' });
    await tx.insert(volumeAttachments).values({
      volumeId,
      serverId,
      device: ROOT_DEVICE,
      status: 'attached',
      deleteOnTermination,
      attachedAt: new Date(),
    });
  });
  return { volumeId, ...connection };
}
