import { ServerLockedError, ServerStateError } from '../../resolvers/compute/errors';
import {
  ConflictError,
  FeatureDisabledError,
  ForbiddenError,
  InvalidInputError,
  NameTakenError,
  NotFoundError,
  QuotaExceededError,
} from '../../resolvers/errors';
import { attachVolume, detachVolume } from '../../resolvers/volumes/attachments';
import { VolumeHasSnapshotsError, VolumeStateError } from '../../resolvers/volumes/errors';
import {
  createSnapshot,
  deleteSnapshot,
  type StartedSnapshot,
  updateSnapshot,
} from '../../resolvers/volumes/snapshots';
import {
  createVolumeType,
  deleteVolumeType,
  updateVolumeType,
} from '../../resolvers/volumes/volume-types';
import {
  createVolume,
  deleteVolume,
  extendVolume,
  type StartedVolume,
  updateVolume,
} from '../../resolvers/volumes/volumes';
import { builder } from '../builder';
import { Image } from '../images';
import { Operation } from '../operations';
import { Server } from '../servers/types';
import { Volume, VolumeSnapshot, VolumeType } from './types';

/** Volume mutations: volumes, attach/detach, extend, snapshots, types (admin). */

const VolumeOperation = builder.objectRef<StartedVolume>('VolumeOperation').implement({
  description: 'A volume and the operation now working on it (subscribe to follow it)',
  fields: (t) => ({
    volume: t.field({ type: Volume, resolve: (s) => s.volume }),
    operation: t.field({ type: Operation, resolve: (s) => s.operation }),
  }),
});
const SnapshotOperation = builder.objectRef<StartedSnapshot>('VolumeSnapshotOperation').implement({
  fields: (t) => ({
    snapshot: t.field({ type: VolumeSnapshot, resolve: (s) => s.snapshot }),
    operation: t.field({ type: Operation, resolve: (s) => s.operation }),
  }),
});

const VOLUME_ERRORS = [
  InvalidInputError,
  NotFoundError,
  VolumeStateError,
  VolumeHasSnapshotsError,
  ServerStateError,
  ServerLockedError,
  QuotaExceededError,
  FeatureDisabledError,
  ForbiddenError,
];
const TYPE_ERRORS = [
  InvalidInputError,
  NotFoundError,
  NameTakenError,
  ConflictError,
  ForbiddenError,
];

const CreateVolumeInput = builder.inputType('CreateVolumeInput', {
  fields: (t) => ({
    name: t.string(),
    description: t.string(),
    sizeGib: t.int({ description: 'Required for a blank volume; defaults to the source size' }),
    volumeTypeId: t.globalID({ for: VolumeType, description: 'Default: __DEFAULT__' }),
    imageId: t.globalID({ for: Image, description: 'Holds this image; bootable' }),
    snapshotId: t.globalID({ for: VolumeSnapshot, description: "Holds this snapshot's content" }),
  }),
});
const UpdateVolumeInput = builder.inputType('UpdateVolumeInput', {
  fields: (t) => ({
    id: t.globalID({ for: Volume, required: true }),
    name: t.string(),
    description: t.string(),
    bootable: t.boolean(),
  }),
});
const DeleteVolumeInput = builder.inputType('DeleteVolumeInput', {
  fields: (t) => ({
    id: t.globalID({ for: Volume, required: true }),
    cascade: t.boolean({ description: 'Delete its snapshots too (default false)' }),
  }),
});
const ExtendVolumeInput = builder.inputType('ExtendVolumeInput', {
  fields: (t) => ({
    id: t.globalID({ for: Volume, required: true }),
    newSizeGib: t.int({ required: true, description: 'Larger than the current size' }),
  }),
});
const AttachVolumeInput = builder.inputType('AttachVolumeInput', {
  fields: (t) => ({
    volumeId: t.globalID({ for: Volume, required: true }),
    serverId: t.globalID({ for: Server, required: true }),
    deleteOnTermination: t.boolean({ description: 'Delete the volume with the server' }),
  }),
});
const DetachVolumeInput = builder.inputType('DetachVolumeInput', {
  fields: (t) => ({
    volumeId: t.globalID({ for: Volume, required: true }),
    serverId: t.globalID({ for: Server, required: true }),
  }),
});
const CreateVolumeSnapshotInput = builder.inputType('CreateVolumeSnapshotInput', {
  fields: (t) => ({
    volumeId: t.globalID({ for: Volume, required: true }),
    name: t.string(),
    description: t.string(),
  }),
});
const UpdateVolumeSnapshotInput = builder.inputType('UpdateVolumeSnapshotInput', {
  fields: (t) => ({
    id: t.globalID({ for: VolumeSnapshot, required: true }),
    name: t.string(),
    description: t.string(),
  }),
});
const VolumeSnapshotIdInput = builder.inputType('VolumeSnapshotIdInput', {
  fields: (t) => ({ id: t.globalID({ for: VolumeSnapshot, required: true }) }),
});
const CreateVolumeTypeInput = builder.inputType('CreateVolumeTypeInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'Letters, digits, _ . - (it names quotas)' }),
    description: t.string(),
    isPublic: t.boolean(),
    extraSpecs: t.field({ type: 'JSON', description: 'String pairs, e.g. volume_backend_name' }),
  }),
});
const UpdateVolumeTypeInput = builder.inputType('UpdateVolumeTypeInput', {
  fields: (t) => ({
    id: t.globalID({ for: VolumeType, required: true }),
    name: t.string(),
    description: t.string(),
    isPublic: t.boolean(),
    extraSpecs: t.field({ type: 'JSON', description: 'Replaces all extra specs' }),
  }),
});
const VolumeTypeIdInput = builder.inputType('VolumeTypeIdInput', {
  fields: (t) => ({ id: t.globalID({ for: VolumeType, required: true }) }),
});

/** Input fields without the nulls GraphQL gives for omitted ones. */
const given = (input: object) =>
  Object.fromEntries(Object.entries(input).filter(([, v]) => v != null));

builder.mutationFields((t) => ({
  createVolume: t.field({
    type: VolumeOperation,
    description: 'Creates a volume: blank, from an image, or from a snapshot; returns in creating',
    authScopes: { policy: 'volume:create' },
    args: { input: t.arg({ type: CreateVolumeInput, required: true }) },
    errors: { types: VOLUME_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) =>
      createVolume(ctx, {
        ...given(input),
        volumeTypeId: input.volumeTypeId?.id,
        imageId: input.imageId?.id,
        snapshotId: input.snapshotId?.id,
      }),
  }),
  updateVolume: t.field({
    type: Volume,
    authScopes: { policy: 'volume:update' },
    args: { input: t.arg({ type: UpdateVolumeInput, required: true }) },
    errors: { types: VOLUME_ERRORS, dataField: { name: 'volume' } },
    resolve: (_root, { input }, ctx) => updateVolume(ctx, { ...given(input), id: input.id.id }),
  }),
  deleteVolume: t.field({
    type: VolumeOperation,
    description: 'Deletes a volume that is not attached (with cascade: its snapshots too)',
    authScopes: { policy: 'volume:delete' },
    args: { input: t.arg({ type: DeleteVolumeInput, required: true }) },
    errors: { types: VOLUME_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) => deleteVolume(ctx, input.id.id, input.cascade ?? false),
  }),
  extendVolume: t.field({
    type: VolumeOperation,
    description: 'Grows a volume; an attached one grows online (the guest sees the new size)',
    authScopes: { policy: 'volume:extend' },
    args: { input: t.arg({ type: ExtendVolumeInput, required: true }) },
    errors: { types: VOLUME_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) =>
      extendVolume(ctx, { id: input.id.id, newSizeGib: input.newSizeGib }),
  }),
  attachVolume: t.field({
    type: VolumeOperation,
    description: 'Hot-plugs an available volume into an ACTIVE server of the same project',
    authScopes: { policy: 'volume:attach' },
    args: { input: t.arg({ type: AttachVolumeInput, required: true }) },
    errors: { types: VOLUME_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) =>
      attachVolume(ctx, {
        volumeId: input.volumeId.id,
        serverId: input.serverId.id,
        deleteOnTermination: input.deleteOnTermination,
      }),
  }),
  detachVolume: t.field({
    type: VolumeOperation,
    description:
      'Unplugs a volume from an ACTIVE server; if the guest does not let go in time, the volume stays in-use with a fault',
    authScopes: { policy: 'volume:attach' },
    args: { input: t.arg({ type: DetachVolumeInput, required: true }) },
    errors: { types: VOLUME_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) =>
      detachVolume(ctx, { volumeId: input.volumeId.id, serverId: input.serverId.id }),
  }),
  createVolumeSnapshot: t.field({
    type: SnapshotOperation,
    description: 'Snapshots an available volume',
    authScopes: { policy: 'volume:manage_snapshots' },
    args: { input: t.arg({ type: CreateVolumeSnapshotInput, required: true }) },
    errors: { types: VOLUME_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) =>
      createSnapshot(ctx, { ...given(input), volumeId: input.volumeId.id }),
  }),
  updateVolumeSnapshot: t.field({
    type: VolumeSnapshot,
    authScopes: { policy: 'volume:manage_snapshots' },
    args: { input: t.arg({ type: UpdateVolumeSnapshotInput, required: true }) },
    errors: { types: VOLUME_ERRORS, dataField: { name: 'snapshot' } },
    resolve: (_root, { input }, ctx) => updateSnapshot(ctx, { ...given(input), id: input.id.id }),
  }),
  deleteVolumeSnapshot: t.field({
    type: SnapshotOperation,
    authScopes: { policy: 'volume:manage_snapshots' },
    args: { input: t.arg({ type: VolumeSnapshotIdInput, required: true }) },
    errors: { types: VOLUME_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) => deleteSnapshot(ctx, input.id.id),
  }),
  createVolumeType: t.field({
    type: VolumeType,
    authScopes: { policy: 'volume:manage_types' },
    args: { input: t.arg({ type: CreateVolumeTypeInput, required: true }) },
    errors: { types: TYPE_ERRORS, dataField: { name: 'volumeType' } },
    resolve: (_root, { input }, ctx) => createVolumeType(ctx, given(input)),
  }),
  updateVolumeType: t.field({
    type: VolumeType,
    authScopes: { policy: 'volume:manage_types' },
    args: { input: t.arg({ type: UpdateVolumeTypeInput, required: true }) },
    errors: { types: TYPE_ERRORS, dataField: { name: 'volumeType' } },
    resolve: (_root, { input }, ctx) => updateVolumeType(ctx, { ...given(input), id: input.id.id }),
  }),
  deleteVolumeType: t.field({
    type: VolumeType,
    authScopes: { policy: 'volume:manage_types' },
    args: { input: t.arg({ type: VolumeTypeIdInput, required: true }) },
    errors: { types: TYPE_ERRORS, dataField: { name: 'volumeType' } },
    resolve: (_root, { input }, ctx) => deleteVolumeType(ctx, input.id.id),
  }),
}));
