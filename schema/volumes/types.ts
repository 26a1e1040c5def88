import type { VolumeFault } from '../../db/tables';
import { attachmentsOfServers, attachmentsOfVolumes } from '../../resolvers/volumes/attachments';
import { VolumeHasSnapshotsError, VolumeStateError } from '../../resolvers/volumes/errors';
import type { AttachmentRow } from '../../resolvers/volumes/events';
import {
  loadSnapshots,
  type SnapshotRow,
  snapshotsOfVolumes,
} from '../../resolvers/volumes/snapshots';
import {
  BACKEND_SPEC,
  loadVolumeTypes,
  type VolumeTypeRow,
} from '../../resolvers/volumes/volume-types';
import { loadVolumes, type VolumeRow } from '../../resolvers/volumes/volumes';
import { builder } from '../builder';
import { ErrorInterface } from '../errors';
import { Project, User } from '../identity/types';
import { Image } from '../images';
import { Server } from '../servers/types';

/** Volume types of the schema: Volume, VolumeSnapshot, VolumeType, attachments, faults, errors. */

builder.objectType(VolumeStateError, {
  interfaces: [ErrorInterface],
  name: 'VolumeStateError',
  description: "The volume's (or snapshot's) status does not allow this action",
  fields: (t) => ({
    resource: t.exposeString('resource', { description: 'volume or snapshot' }),
    id: t.exposeString('resourceId'),
    action: t.exposeString('action'),
    status: t.exposeString('status', { description: 'The current status (Cinder spelling)' }),
    expected: t.exposeStringList('expected', { description: 'Statuses the action needs' }),
  }),
});
builder.objectType(VolumeHasSnapshotsError, {
  interfaces: [ErrorInterface],
  name: 'VolumeHasSnapshotsError',
  description: 'The volume has snapshots: delete them first, or delete with cascade',
  fields: (t) => ({ snapshotCount: t.exposeInt('snapshotCount') }),
});

export const VolumeStatus = builder.enumType('VolumeStatus', {
  description: "Cinder's volume status",
  values: {
    CREATING: { value: 'creating' },
    AVAILABLE: { value: 'available' },
    ATTACHING: { value: 'attaching' },
    IN_USE: { value: 'in-use' },
    DETACHING: { value: 'detaching' },
    EXTENDING: { value: 'extending' },
    DELETING: { value: 'deleting' },
    ERROR: { value: 'error' },
    ERROR_DELETING: { value: 'error_deleting' },
  } as const,
});
export const VolumeSnapshotStatus = builder.enumType('VolumeSnapshotStatus', {
  values: {
    CREATING: { value: 'creating' },
    AVAILABLE: { value: 'available' },
    DELETING: { value: 'deleting' },
    ERROR: { value: 'error' },
  } as const,
});
const AttachmentStatus = builder.enumType('VolumeAttachmentStatus', {
  values: {
    ATTACHING: { value: 'attaching' },
    ATTACHED: { value: 'attached' },
    DETACHING: { value: 'detaching' },
  } as const,
});

const Fault = builder.objectRef<VolumeFault>('VolumeFault').implement({
  description: 'Why the volume or snapshot is in error, or why its last action failed',
  fields: (t) => ({
    code: t.exposeString('code', { description: 'e.g. DETACH_TIMEOUT, VOLUME_COMMAND_FAILED' }),
    message: t.exposeString('message'),
    createdAt: t.field({ type: 'DateTime', resolve: (f) => f.createdAt }),
  }),
});

export const VolumeType = builder.loadableNodeRef<VolumeTypeRow, string>('VolumeType', {
  id: { resolve: (v) => v.id },
  load: async (ids, ctx) =>
    (await loadVolumeTypes(ctx, ids)) as unknown as Array<VolumeTypeRow | Error>,
});
VolumeType.implement({
  description: 'A kind of volume users pick, mapped to a backend (Cinder volume type)',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    isPublic: t.exposeBoolean('isPublic'),
    extraSpecs: t.field({
      type: 'JSON',
      nullable: true,
      description: 'Backend properties, volume_backend_name among them (admins only)',
      authScopes: { policy: 'volume:manage_types' },
      resolve: (v) => v.extraSpecs,
    }),
    backendName: t.string({
      nullable: true,
      description: 'The backend its volumes go to (volume_backend_name); null: any backend',
      authScopes: { policy: 'volume:manage_types' },
      resolve: (v) => v.extraSpecs[BACKEND_SPEC] ?? null,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const Volume = builder.loadableNodeRef<VolumeRow, string>('Volume', {
  id: { resolve: (v) => v.id },
  load: async (ids, ctx) => (await loadVolumes(ctx, ids)) as unknown as Array<VolumeRow | Error>,
});
export const VolumeSnapshot = builder.loadableNodeRef<SnapshotRow, string>('VolumeSnapshot', {
  id: { resolve: (s) => s.id },
  load: async (ids, ctx) =>
    (await loadSnapshots(ctx, ids)) as unknown as Array<SnapshotRow | Error>,
});

export const VolumeAttachment = builder.objectRef<AttachmentRow>('VolumeAttachment').implement({
  description: 'A volume attached (or being attached or detached) to a server',
  fields: (t) => ({
    id: t.exposeID('id'),
    volume: t.field({ type: Volume, nullable: true, resolve: (a) => a.volumeId }),
    server: t.field({ type: Server, nullable: true, resolve: (a) => a.serverId }),
    device: t.exposeString('device', {
      nullable: true,
      description: "The guest's device as the hypervisor guesses it (/dev/vdb, ...)",
    }),
    status: t.field({ type: AttachmentStatus, resolve: (a) => a.status }),
    deleteOnTermination: t.exposeBoolean('deleteOnTermination'),
    attachedAt: t.expose('attachedAt', { type: 'DateTime', nullable: true }),
  }),
});

Volume.implement({
  description: 'A block volume (Cinder volume)',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    sizeGib: t.exposeInt('sizeGib'),
    status: t.field({ type: VolumeStatus, resolve: (v) => v.status }),
    bootable: t.exposeBoolean('bootable'),
    volumeType: t.field({ type: VolumeType, nullable: true, resolve: (v) => v.volumeTypeId }),
    project: t.field({ type: Project, nullable: true, resolve: (v) => v.projectId }),
    user: t.field({ type: User, nullable: true, resolve: (v) => v.userId }),
    sourceImage: t.field({
      type: Image,
      nullable: true,
      description: 'The image it was created from, while it exists',
      resolve: (v) => v.sourceImageId,
    }),
    sourceSnapshot: t.field({
      type: VolumeSnapshot,
      nullable: true,
      resolve: (v) => v.sourceSnapshotId,
    }),
    host: t.exposeString('host', {
      nullable: true,
      description: 'The host whose volume backend holds it (admins only)',
      authScopes: { policy: 'volume:get_host_details' },
    }),
    fault: t.field({ type: Fault, nullable: true, resolve: (v) => v.fault }),
    attachments: t.loadableList({
      type: VolumeAttachment,
      load: (ids: string[], ctx) => attachmentsOfVolumes(ctx.rt, ids),
      resolve: (v) => v.id,
    }),
    snapshots: t.loadableList({
      type: VolumeSnapshot,
      description: 'Its snapshots, newest first',
      load: (ids: string[], ctx) => snapshotsOfVolumes(ctx, ids),
      resolve: (v) => v.id,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

VolumeSnapshot.implement({
  description: "A point-in-time copy of a volume's content (Cinder snapshot)",
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    sizeGib: t.exposeInt('sizeGib'),
    status: t.field({ type: VolumeSnapshotStatus, resolve: (s) => s.status }),
    volume: t.field({ type: Volume, nullable: true, resolve: (s) => s.volumeId }),
    project: t.field({ type: Project, nullable: true, resolve: (s) => s.projectId }),
    fault: t.field({ type: Fault, nullable: true, resolve: (s) => s.fault }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.objectField(Server, 'volumeAttachments', (t) =>
  t.loadableList({
    type: VolumeAttachment,
    description: 'Volumes attached to the server (or being attached or detached), oldest first',
    load: (ids: string[], ctx) => attachmentsOfServers(ctx.rt, ids),
    resolve: (s) => s.id,
  }),
);
