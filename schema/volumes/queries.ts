import { listSnapshots, loadSnapshots } from '../../resolvers/volumes/snapshots';
import { listVolumeTypes } from '../../resolvers/volumes/volume-types';
import { listVolumes, loadVolumes } from '../../resolvers/volumes/volumes';
import { builder } from '../builder';
import { Project } from '../identity/types';
import { listConnection } from '../pagination';
import { Volume, VolumeSnapshot, VolumeSnapshotStatus, VolumeStatus, VolumeType } from './types';

/** Volume queries: volume, volumes, volumeSnapshot, volumeSnapshots, volumeTypes. */

const VolumeFilter = builder.inputType('VolumeFilter', {
  fields: (t) => ({
    status: t.field({ type: VolumeStatus }),
    name: t.string({ description: 'Substring of the name, any case' }),
    bootable: t.boolean(),
    allProjects: t.boolean({ description: "Admins: every project's volumes" }),
    projectId: t.globalID({ for: Project, description: "Admins: this project's volumes" }),
  }),
});
const VolumeSnapshotFilter = builder.inputType('VolumeSnapshotFilter', {
  fields: (t) => ({
    status: t.field({ type: VolumeSnapshotStatus }),
    name: t.string(),
    volumeId: t.globalID({ for: Volume }),
    allProjects: t.boolean({ description: "Admins: every project's snapshots" }),
  }),
});

builder.queryFields((t) => ({
  volume: t.field({
    type: Volume,
    nullable: true,
    description: 'One volume, if you may see it',
    authScopes: { policy: 'volume:list' },
    args: { id: t.arg.globalID({ for: Volume, required: true }) },
    resolve: async (_root, args, ctx) => (await loadVolumes(ctx, [args.id.id]))[0],
  }),
  volumeSnapshot: t.field({
    type: VolumeSnapshot,
    nullable: true,
    description: 'One snapshot, if you may see it',
    authScopes: { policy: 'volume:list' },
    args: { id: t.arg.globalID({ for: VolumeSnapshot, required: true }) },
    resolve: async (_root, args, ctx) => (await loadSnapshots(ctx, [args.id.id]))[0],
  }),
  volumes: t.connection({
    type: Volume,
    description: 'Volumes of your project (admins: any project), newest first',
    authScopes: { policy: 'volume:list' },
    nullable: true,
    args: { filter: t.arg({ type: VolumeFilter }) },
    resolve: (_root, args, ctx) => {
      const f = args.filter ?? {};
      return listConnection(args, (page) =>
        listVolumes(ctx, { ...f, projectId: f.projectId?.id }, page),
      );
    },
  }),
  volumeSnapshots: t.connection({
    type: VolumeSnapshot,
    description: 'Snapshots of your project, newest first',
    authScopes: { policy: 'volume:list' },
    nullable: true,
    args: { filter: t.arg({ type: VolumeSnapshotFilter }) },
    resolve: (_root, args, ctx) => {
      const f = args.filter ?? {};
      return listConnection(args, (page) =>
        listSnapshots(ctx, { ...f, volumeId: f.volumeId?.id }, page),
      );
    },
  }),
  volumeTypes: t.connection({
    type: VolumeType,
    description: 'Volume types you may use (admins: private ones too), by name',
    authScopes: { policy: 'volume:list_types' },
    nullable: true,
    resolve: (_root, args, ctx) => listConnection(args, (page) => listVolumeTypes(ctx, page)),
  }),
}));
