import { attachmentsOfVolumes } from '../../../volumes/attachments';
import {
  createVolume,
  deleteVolume,
  extendVolume,
  planVolume,
  requireVolumes,
  updateVolume,
  type VolumeRow,
} from '../../../volumes/volumes';
import type { Progress, ResourceContext, ResourcePlugin, ResourceState } from '../plugin';
import { imageIdFor, volumeRow, volumeTypeIdFor, volumeTypeName } from './lookup';
import {
  asProperties,
  badProperty,
  bool,
  map,
  num,
  type Props,
  plain,
  ResourceFailedError,
  str,
} from './props';

/**
 * OS::Cinder::Volume onto Stratus volumes. What Stratus volumes lack is refused by name:
 * source_volid (no clones), multiattach and read_only (one read-write attachment), zones other
 * than `nova`, and a change of volume_type (no retype). Volumes hold no metadata in Stratus:
 * `metadata` is kept with the stack resource and shown by the `metadata` attribute only.
 */

/** A job is working on the volume: its delete starts once the job ended. */
const BUSY: readonly string[] = ['creating', 'attaching', 'detaching', 'extending'];

const FIELDS = {
  sizeGib: 'size',
  name: 'name',
  description: 'description',
  imageId: 'image',
  snapshotId: 'snapshot_id',
  volumeTypeId: 'volume_type',
  newSizeGib: 'size',
};

/** Refusals of what Stratus volumes cannot be; no writes. */
function checkSupported(ctx: ResourceContext, p: Props): void {
  if (str(p, 'source_volid'))
    throw badProperty(
      ctx,
      'source_volid',
      'Stratus cannot clone a volume; snapshot it and give snapshot_id',
    );
  if (bool(p, 'multiattach'))
    throw badProperty(ctx, 'multiattach', 'Stratus volumes attach to one server at a time');
  if (bool(p, 'read_only'))
    throw badProperty(ctx, 'read_only', 'Stratus attaches volumes read-write only');
  const zone = str(p, 'availability_zone');
  if (zone && zone !== 'nova')
    throw badProperty(ctx, 'availability_zone', `Stratus has one zone, "nova" (not "${zone}")`);
}

/** The volume service's create input, names resolved to ids. */
async function createInput(ctx: ResourceContext, p: Props): Promise<Record<string, unknown>> {
  checkSupported(ctx, p);
  const image = str(p, 'image');
  const type = str(p, 'volume_type');
  return {
    name: str(p, 'name') ?? ctx.physicalName,
    description: str(p, 'description') ?? '',
    sizeGib: num(p, 'size') ?? null,
    imageId: image ? await imageIdFor(ctx, image, 'image') : null,
    snapshotId: str(p, 'snapshot_id') ?? null,
    volumeTypeId: type ? await volumeTypeIdFor(ctx, type, 'volume_type') : null,
  };
}

async function show(ctx: ResourceContext, row: VolumeRow, state: ResourceState) {
  const [attachments] = await attachmentsOfVolumes(ctx.svc.rt, [row.id]);
  const list = attachments.map((a) => ({
    id: a.id,
    server_id: a.serverId,
    volume_id: a.volumeId,
    device: a.device,
    attached_at: a.attachedAt?.toISOString() ?? null,
  }));
  return {
    ...plain(row as unknown as Record<string, unknown>),
    size: row.sizeGib,
    display_name: row.name,
    display_description: row.description,
    volume_type: await volumeTypeName(ctx, row.volumeTypeId),
    availability_zone: 'nova',
    multiattach: false,
    metadata: map(state.properties, 'metadata'),
    attachments: list,
  };
}

export const cinderVolume: ResourcePlugin = {
  type: 'OS::Cinder::Volume',
  physicalType: 'Volume',
  properties: {
    size: { type: 'integer', updateAllowed: true, description: 'GiB' },
    name: { type: 'string', updateAllowed: true },
    description: { type: 'string', updateAllowed: true },
    image: { type: 'string', description: 'Image name or id to fill the volume with' },
    source_volid: { type: 'string' },
    snapshot_id: { type: 'string' },
    volume_type: { type: 'string', updateAllowed: true },
    metadata: { type: 'map', updateAllowed: true, default: {} },
    availability_zone: { type: 'string' },
    multiattach: { type: 'boolean' },
    read_only: { type: 'boolean', updateAllowed: true },
  },
  attributes: [
    'size',
    'status',
    'display_name',
    'display_description',
    'attachments',
    'attachments_list',
    'bootable',
    'metadata',
    'metadata_values',
    'volume_type',
    'availability_zone',
    'snapshot_id',
    'source_volid',
    'created_at',
    'multiattach',
    'encrypted',
  ],

  async validate(ctx, p) {
    requireVolumes(ctx.svc);
    const input = await createInput(ctx, p);
    // No size and no source: the source may name a resource still to be made (the engine
    // leaves such properties out of validate); create checks the size then.
    if (input.sizeGib == null && !input.imageId && !input.snapshotId) return;
    await asProperties(ctx, FIELDS, () => planVolume(ctx.svc, input));
  },

  quota(p) {
    const size = num(p, 'size');
    return [
      { resource: 'volumes', amount: 1 },
      ...(size ? [{ resource: 'gigabytes', amount: size }] : []),
    ];
  },

  async create(ctx, p) {
    const input = await createInput(ctx, p);
    const started = await asProperties(ctx, FIELDS, () => createVolume(ctx.svc, input));
    return { physicalId: started.volume.id };
  },

  async checkCreateComplete(ctx, state): Promise<Progress> {
    const row = await volumeRow(ctx, state.physicalId);
    if (!row) throw new ResourceFailedError('Volume', String(state.physicalId), 'deleted', null);
    if (row.status === 'creating') return { done: false, reason: 'volume is creating' };
    if (row.status === 'available') return { done: true };
    throw new ResourceFailedError('Volume', row.id, row.status, row.fault?.message ?? null);
  },

  async update(ctx, state, p, changed) {
    const id = String(state.physicalId);
    checkSupported(ctx, p);
    if (changed.includes('volume_type')) {
      const before = str(state.properties, 'volume_type');
      const after = str(p, 'volume_type');
      const [a, b] = await Promise.all([
        before ? volumeTypeIdFor(ctx, before, 'volume_type') : null,
        after ? volumeTypeIdFor(ctx, after, 'volume_type') : null,
      ]);
      if (a !== b)
        throw badProperty(ctx, 'volume_type', 'Stratus cannot retype a volume (no retype)');
    }
    const row = await volumeRow(ctx, id);
    if (!row) throw new ResourceFailedError('Volume', id, 'deleted', null);
    const size = num(p, 'size');
    if (changed.includes('size') && size != null && size !== row.sizeGib) {
      if (size < row.sizeGib)
        throw badProperty(
          ctx,
          'size',
          `a volume only grows (${row.sizeGib} GiB now, ${size} GiB asked)`,
        );
    }
    if (changed.includes('name') || changed.includes('description')) {
      await asProperties(ctx, FIELDS, () =>
        updateVolume(ctx.svc, {
          id,
          name: str(p, 'name') ?? ctx.physicalName,
          description: str(p, 'description') ?? '',
        }),
      );
    }
    if (changed.includes('size') && size != null && size > row.sizeGib) {
      await asProperties(ctx, FIELDS, () => extendVolume(ctx.svc, { id, newSizeGib: size }));
    }
    return { kind: 'updated', data: { ...state.data, targetSizeGib: size ?? row.sizeGib } };
  },

  async checkUpdateComplete(ctx, state): Promise<Progress> {
    const row = await volumeRow(ctx, state.physicalId);
    if (!row) throw new ResourceFailedError('Volume', String(state.physicalId), 'deleted', null);
    if (row.status === 'extending') return { done: false, reason: 'volume is extending' };
    const target = Number(state.data.targetSizeGib ?? row.sizeGib);
    if (row.sizeGib >= target) return { done: true };
    throw new ResourceFailedError('Volume', row.id, row.status, row.fault?.message ?? null);
  },

  async delete(ctx, state) {
    const row = await volumeRow(ctx, state.physicalId);
    // Gone, already on its way out (a retry), or busy: checkDeleteComplete starts it later.
    // Anything else is the domain's to refuse (in use: VolumeStateError).
    if (!row || row.status === 'deleting' || BUSY.includes(row.status)) return;
    await deleteVolume(ctx.svc, row.id, false);
  },

  async checkDeleteComplete(ctx, state): Promise<Progress> {
    const row = await volumeRow(ctx, state.physicalId);
    if (!row) return { done: true };
    if (row.status === 'deleting') return { done: false, reason: 'volume is deleting' };
    if (row.status === 'error_deleting')
      throw new ResourceFailedError('Volume', row.id, row.status, row.fault?.message ?? null);
    if (BUSY.includes(row.status))
      return { done: false, reason: `waiting for the volume to leave ${row.status}` };
    // A job was still running when the delete came (a rollback) and has ended since: the
    // delete starts now (or the domain refuses it, e.g. in use).
    await deleteVolume(ctx.svc, row.id, false);
    return { done: false, reason: 'volume is deleting' };
  },

  async attribute(ctx, state, name) {
    const row = await volumeRow(ctx, state.physicalId);
    if (!row) return null;
    const all = await show(ctx, row, state);
    switch (name) {
      case 'show':
        return all;
      case 'status':
        return row.status;
      case 'bootable':
        return row.bootable;
      case 'attachments':
        return JSON.stringify(all.attachments);
      case 'attachments_list':
        return all.attachments;
      case 'metadata':
        return JSON.stringify(all.metadata);
      case 'metadata_values':
        return all.metadata;
      case 'snapshot_id':
        return row.sourceSnapshotId;
      case 'source_volid':
        return null;
      case 'encrypted':
        return false;
      case 'created_at':
        return row.createdAt.toISOString();
      default:
        return (all as Record<string, unknown>)[name] ?? null;
    }
  },
};
