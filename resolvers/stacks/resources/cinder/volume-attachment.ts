import { loadServers } from '../../../compute/servers';
import { isUuid } from '../../../validation';
import {
  type AttachmentRow,
  attachmentsOfVolumes,
  attachVolume,
  detachVolume,
} from '../../../volumes/attachments';
import type { Progress, ResourceContext, ResourcePlugin, ResourceState } from '../plugin';
import { volumeIdFor, volumeRow } from './lookup';
import { asProperties, badProperty, type Props, plain, ResourceFailedError, str } from './props';

/**
 * OS::Cinder::VolumeAttachment onto attachVolume / detachVolume. The physical id is the
 * attachment row; `data` holds the volume and server it joins, which an update (a new
 * instance_uuid or volume_id) changes in place as Heat does: detach, then attach the new pair.
 * `mountpoint` is a hint Heat says may not be honoured; Stratus's hypervisor picks the device.
 */

const FIELDS = { volumeId: 'volume_id', serverId: 'instance_uuid' };

interface Pair {
  volumeId: string;
  serverId: string;
}

async function pairFor(ctx: ResourceContext, p: Props): Promise<Pair> {
  const serverRef = str(p, 'instance_uuid') ?? '';
  const [server] = isUuid(serverRef) ? await loadServers(ctx.svc, [serverRef]) : [null];
  if (!server || server.vmState === 'deleted')
    throw badProperty(ctx, 'instance_uuid', `no server with id "${serverRef}" in this project`);
  const volumeId = await volumeIdFor(ctx, str(p, 'volume_id') ?? '', 'volume_id');
  return { volumeId, serverId: server.id };
}

const pairOf = (state: ResourceState): Pair => ({
  volumeId: String(state.data.volumeId),
  serverId: String(state.data.serverId),
});

async function attachmentOf(ctx: ResourceContext, pair: Pair): Promise<AttachmentRow | null> {
  const [rows] = await attachmentsOfVolumes(ctx.svc.rt, [pair.volumeId]);
  return rows.find((a) => a.serverId === pair.serverId) ?? null;
}

function startAttach(ctx: ResourceContext, pair: Pair) {
  return asProperties(ctx, FIELDS, () => attachVolume(ctx.svc, pair));
}

/** Attached: done; attaching: wait; the job gave up (volume back to available): its fault. */
async function attachProgress(ctx: ResourceContext, pair: Pair): Promise<Progress> {
  const attachment = await attachmentOf(ctx, pair);
  if (attachment?.status === 'attached') return { done: true };
  if (attachment) return { done: false, reason: `attachment is ${attachment.status}` };
  const row = await volumeRow(ctx, pair.volumeId);
  throw new ResourceFailedError(
    'Volume attachment',
    pair.volumeId,
    row?.status ?? 'deleted',
    row?.fault?.message ?? 'the attachment is gone',
  );
}

/**
 * Detached (or volume or server gone): done; detaching: wait; still attaching (a rollback):
 * wait, then detach; attached again with a fault: the guest held on, the fault is the error.
 */
async function detachProgress(ctx: ResourceContext, pair: Pair): Promise<Progress> {
  const attachment = await attachmentOf(ctx, pair);
  if (!attachment) return { done: true };
  if (attachment.status === 'detaching') return { done: false, reason: 'volume is detaching' };
  if (attachment.status === 'attaching')
    return { done: false, reason: 'waiting for the attach to end before detaching' };
  const row = await volumeRow(ctx, pair.volumeId);
  if (row && !row.fault) {
    await detachVolume(ctx.svc, pair);
    return { done: false, reason: 'volume is detaching' };
  }
  throw new ResourceFailedError(
    'Volume attachment',
    pair.volumeId,
    row?.status ?? 'in-use',
    row?.fault?.message ?? 'the detach did not happen',
  );
}

async function startDetach(ctx: ResourceContext, pair: Pair): Promise<void> {
  const attachment = await attachmentOf(ctx, pair);
  // Gone, already detaching (a retry), or still attaching (detachProgress detaches it later).
  if (attachment?.status !== 'attached') return;
  await detachVolume(ctx.svc, pair);
}

export const cinderVolumeAttachment: ResourcePlugin = {
  type: 'OS::Cinder::VolumeAttachment',
  physicalType: 'VolumeAttachment',
  properties: {
    instance_uuid: { type: 'string', required: true, updateAllowed: true },
    volume_id: { type: 'string', required: true, updateAllowed: true },
    mountpoint: { type: 'string', updateAllowed: true },
  },
  attributes: [],

  /** Each of the pair that is known yet (one made by the same stack is left out of validate). */
  async validate(ctx, p) {
    const server = str(p, 'instance_uuid');
    const volume = str(p, 'volume_id');
    if (server) {
      const [row] = isUuid(server) ? await loadServers(ctx.svc, [server]) : [null];
      if (!row || row.vmState === 'deleted')
        throw badProperty(ctx, 'instance_uuid', `no server with id "${server}" in this project`);
    }
    if (volume) await volumeIdFor(ctx, volume, 'volume_id');
  },

  async create(ctx, p) {
    const pair = await pairFor(ctx, p);
    await startAttach(ctx, pair);
    const attachment = await attachmentOf(ctx, pair);
    return { physicalId: attachment?.id ?? null, data: { ...pair } };
  },

  checkCreateComplete(ctx, state) {
    return attachProgress(ctx, pairOf(state));
  },

  async update(ctx, state, p, changed) {
    const next = await pairFor(ctx, p);
    const current = pairOf(state);
    const moved = next.volumeId !== current.volumeId || next.serverId !== current.serverId;
    if (!moved || !changed.some((c) => c !== 'mountpoint')) return { kind: 'updated' };
    await startDetach(ctx, current);
    return { kind: 'updated', data: { ...next, previous: current } };
  },

  /** Heat's order: the old pair detached first, then the new one attached. */
  async checkUpdateComplete(ctx, state): Promise<Progress> {
    const previous = state.data.previous as Pair | undefined;
    const next = pairOf(state);
    if (previous) {
      const detached = await detachProgress(ctx, previous);
      if (!detached.done) return detached;
    }
    if (!(await attachmentOf(ctx, next))) {
      await startAttach(ctx, next);
      return { done: false, reason: 'attaching the new volume' };
    }
    return attachProgress(ctx, next);
  },

  delete(ctx, state) {
    return startDetach(ctx, pairOf(state));
  },

  checkDeleteComplete(ctx, state) {
    return detachProgress(ctx, pairOf(state));
  },

  async attribute(ctx, state, name) {
    if (name !== 'show') return null;
    const pair = pairOf(state);
    const attachment = await attachmentOf(ctx, pair);
    if (!attachment) return null;
    return {
      ...plain(attachment as unknown as Record<string, unknown>),
      volume_id: attachment.volumeId,
      server_id: attachment.serverId,
    };
  },
};
