import { ServerLockedError, ServerStateError } from '../../resolvers/compute/errors';
import {
  confirmResize,
  createServerImage,
  deleteServer,
  pauseServer,
  rebootServer,
  rebuildServer,
  resizeServer,
  resumeServer,
  revertResize,
  type StartedAction,
  setServerLocked,
  startServer,
  stopServer,
  suspendServer,
  unpauseServer,
  updateServer,
} from '../../resolvers/compute/server-actions';
import { createServerGroup, deleteServerGroup } from '../../resolvers/compute/server-groups';
import { type CreatedServers, createServers } from '../../resolvers/compute/servers';
import {
  ConflictError,
  FeatureDisabledError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  QuotaExceededError,
} from '../../resolvers/errors';
import {
  IpAddressGenerationFailureError,
  IpAddressInUseError,
  NetworkNotFoundError,
  PortNotFoundError,
} from '../../resolvers/networks/errors';
import { VolumeStateError } from '../../resolvers/volumes/errors';
import { builder, type GraphQLContext } from '../builder';
import { Flavor } from '../compute';
import { Image } from '../images';
import { Operation } from '../operations';

import { BlockDeviceMappingInput, blockDeviceRequests } from './block-devices';
import { Server, ServerGroup, ServerGroupPolicy } from './types';

/** Server mutations: createServer, one per action, update, lock, server groups. */

const ServerOperation = builder.objectRef<StartedAction>('ServerOperation').implement({
  description: 'A server and the operation now working on it (subscribe to follow it)',
  fields: (t) => ({
    server: t.field({ type: Server, resolve: (s) => s.server }),
    operation: t.field({ type: Operation, resolve: (s) => s.operation }),
  }),
});
const CreatedServersType = builder.objectRef<CreatedServers>('CreatedServers').implement({
  description: 'Servers in BUILD, one build operation each',
  fields: (t) => ({
    servers: t.field({ type: [Server], resolve: (c) => c.servers }),
    operations: t.field({ type: [Operation], resolve: (c) => c.operations }),
    server: t.field({
      type: Server,
      description: 'The first server',
      resolve: (c) => c.servers[0],
    }),
    operation: t.field({ type: Operation, resolve: (c) => c.operations[0] }),
  }),
});

const ServerNetworkInput = builder.inputType('ServerNetworkInput', {
  description:
    'One NIC: a new port on `networkId` (optionally with `fixedIp`), or the port `portId`',
  fields: (t) => ({
    networkId: t.globalID({ description: 'A network of yours, shared, or external' }),
    fixedIp: t.string({ description: 'The address to ask for on that network' }),
    portId: t.globalID({ description: 'An unused port of yours' }),
  }),
});

/** Maps the NIC inputs to the service's requests; the wrong kind of id is an input error. */
function nicRequests(
  nics: (typeof ServerNetworkInput.$inferInput)[] | null | undefined,
): unknown[] | undefined {
  return nics?.map((nic, i) => {
    const field = `input.networks.${i}`;
    if (nic.portId && (nic.networkId || nic.fixedIp)) {
      throw new InvalidInputError(field, 'Give either portId, or networkId (and fixedIp)');
    }
    if (nic.portId) {
      if (nic.portId.typename !== 'Port')
        throw new InvalidInputError(`${field}.portId`, 'not a Port id');
      return { portId: nic.portId.id };
    }
    if (!nic.networkId) throw new InvalidInputError(field, 'Give networkId or portId');
    if (nic.networkId.typename !== 'Network') {
      throw new InvalidInputError(`${field}.networkId`, 'not a Network id');
    }
    return { networkId: nic.networkId.id, fixedIp: nic.fixedIp };
  });
}

const CreateServerInput = builder.inputType('CreateServerInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'With count > 1: name-1, name-2, …' }),
    imageId: t.globalID({
      for: Image,
      description: 'Required unless a block device mapping boots the server from a volume',
    }),
    flavorId: t.globalID({ for: Flavor, required: true }),
    keypairId: t.globalID({ description: 'One of your keypairs' }),
    userData: t.string({ description: 'Given to the guest as is (fw_cfg), at most 64 KiB' }),
    metadata: t.field({ type: 'JSON', description: 'String pairs, at most 128' }),
    tags: t.stringList(),
    serverGroupId: t.globalID({ for: ServerGroup }),
    availabilityZone: t.string(),
    count: t.int({ description: 'How many servers (1-100), all or none' }),
    networks: t.field({
      type: [ServerNetworkInput],
      description: 'NICs in order (eth0, eth1, …); none when omitted',
    }),
    blockDeviceMappings: t.field({
      type: [BlockDeviceMappingInput],
      description: 'Boot from volume: one mapping with bootIndex 0 (the root disk)',
    }),
  }),
});

const SERVER_ERRORS = [
  InvalidInputError,
  NotFoundError,
  ServerStateError,
  ServerLockedError,
  QuotaExceededError,
  FeatureDisabledError,
  ForbiddenError,
];

const ServerIdInput = builder.inputType('ServerIdInput', {
  fields: (t) => ({ id: t.globalID({ for: Server, required: true }) }),
});

/** Actions that take just `{ id }` and return the server with the operation now running. */
const simpleActions: Record<
  string,
  [string, (ctx: GraphQLContext, id: string) => Promise<StartedAction>]
> = {
  startServer: ['Powers a SHUTOFF server on', startServer],
  stopServer: ['Powers a server off: ACPI first, then off after the shutdown timeout', stopServer],
  pauseServer: ['Freezes the guest in memory', pauseServer],
  unpauseServer: ['Thaws a PAUSED server', unpauseServer],
  suspendServer: ['Suspends the guest (memory kept by the hypervisor process)', suspendServer],
  resumeServer: ['Resumes a SUSPENDED server', resumeServer],
  confirmServerResize: ['Keeps the new size of a VERIFY_RESIZE server', confirmResize],
  revertServerResize: ['Goes back to the size before the resize', revertResize],
  deleteServer: ['Deletes the server: its VM, disk and files; quota is released', deleteServer],
};

for (const [name, [description, run]] of Object.entries(simpleActions)) {
  builder.mutationField(name, (t) =>
    t.field({
      type: ServerOperation,
      description,
      authScopes: {
        policy: name === 'deleteServer' ? 'compute:delete_server' : 'compute:server_action',
      },
      args: { input: t.arg({ type: ServerIdInput, required: true }) },
      errors: { types: SERVER_ERRORS, dataField: { name: 'started' } },
      resolve: (_root, { input }, ctx) => run(ctx, input.id.id),
    }),
  );
}

const RebootServerInput = builder.inputType('RebootServerInput', {
  fields: (t) => ({
    id: t.globalID({ for: Server, required: true }),
    hard: t.boolean({ description: 'Reset at once instead of ACPI first (default false)' }),
  }),
});
const RebuildServerInput = builder.inputType('RebuildServerInput', {
  fields: (t) => ({
    id: t.globalID({ for: Server, required: true }),
    imageId: t.globalID({ for: Image, required: true }),
  }),
});
const ResizeServerInput = builder.inputType('ResizeServerInput', {
  fields: (t) => ({
    id: t.globalID({ for: Server, required: true }),
    flavorId: t.globalID({ for: Flavor, required: true }),
  }),
});
const CreateServerImageInput = builder.inputType('CreateServerImageInput', {
  fields: (t) => ({
    id: t.globalID({ for: Server, required: true }),
    name: t.string({ required: true }),
  }),
});
const UpdateServerInput = builder.inputType('UpdateServerInput', {
  fields: (t) => ({
    id: t.globalID({ for: Server, required: true }),
    name: t.string(),
    metadata: t.field({ type: 'JSON', description: 'Replaces all metadata' }),
    tags: t.stringList({ description: 'Replaces all tags' }),
  }),
});
const LockServerInput = builder.inputType('LockServerInput', {
  fields: (t) => ({
    id: t.globalID({ for: Server, required: true }),
    reason: t.string(),
  }),
});
const CreateServerGroupInput = builder.inputType('CreateServerGroupInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    policy: t.field({ type: ServerGroupPolicy, required: true }),
  }),
});

const ServerImageStarted = builder
  .objectRef<StartedAction & { imageId: string }>('ServerImageStarted')
  .implement({
    fields: (t) => ({
      server: t.field({ type: Server, resolve: (s) => s.server }),
      operation: t.field({ type: Operation, resolve: (s) => s.operation }),
      image: t.field({
        type: Image,
        description: 'The new image, queued until the snapshot is uploaded',
        resolve: (s) => s.imageId,
      }),
    }),
  });

builder.mutationFields((t) => ({
  createServer: t.field({
    type: CreatedServersType,
    description: 'Boots servers: returns at once in BUILD while a job schedules and spawns them',
    authScopes: { policy: 'compute:create_server' },
    args: { input: t.arg({ type: CreateServerInput, required: true }) },
    errors: {
      types: [
        ...SERVER_ERRORS,
        NetworkNotFoundError,
        PortNotFoundError,
        IpAddressInUseError,
        IpAddressGenerationFailureError,
        ConflictError,
        VolumeStateError,
      ],
      dataField: { name: 'created' },
    },
    resolve: (_root, { input }, ctx) =>
      createServers(ctx, {
        ...Object.fromEntries(Object.entries(input).filter(([, v]) => v != null)),
        imageId: input.imageId?.id,
        flavorId: input.flavorId.id,
        keypairId: input.keypairId?.id,
        serverGroupId: input.serverGroupId?.id,
        networks: nicRequests(input.networks),
        blockDeviceMappings: blockDeviceRequests(input.blockDeviceMappings),
      }),
  }),
  rebootServer: t.field({
    type: ServerOperation,
    description: 'Soft: ACPI power button, hard reset if the guest ignores it. Hard: reset now',
    authScopes: { policy: 'compute:server_action' },
    args: { input: t.arg({ type: RebootServerInput, required: true }) },
    errors: { types: SERVER_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) => rebootServer(ctx, input.id.id, input.hard ?? false),
  }),
  rebuildServer: t.field({
    type: ServerOperation,
    description: 'Replaces the root disk with a fresh one from another image',
    authScopes: { policy: 'compute:server_action' },
    args: { input: t.arg({ type: RebuildServerInput, required: true }) },
    errors: { types: SERVER_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) => rebuildServer(ctx, input.id.id, input.imageId.id),
  }),
  resizeServer: t.field({
    type: ServerOperation,
    description: 'Changes the flavor; the server then waits in VERIFY_RESIZE for confirm or revert',
    authScopes: { policy: 'compute:server_action' },
    args: { input: t.arg({ type: ResizeServerInput, required: true }) },
    errors: { types: SERVER_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) => resizeServer(ctx, input.id.id, input.flavorId.id),
  }),
  createServerImage: t.field({
    type: ServerImageStarted,
    description: "Snapshots the server's root disk into a new private qcow2 image",
    authScopes: { policy: 'compute:server_action' },
    args: { input: t.arg({ type: CreateServerImageInput, required: true }) },
    errors: { types: SERVER_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) => createServerImage(ctx, input.id.id, { name: input.name }),
  }),
  updateServer: t.field({
    type: Server,
    description: 'Renames the server or replaces its metadata or tags',
    authScopes: { policy: 'compute:server_action' },
    args: { input: t.arg({ type: UpdateServerInput, required: true }) },
    errors: { types: SERVER_ERRORS, dataField: { name: 'server' } },
    resolve: (_root, { input }, ctx) =>
      updateServer(ctx, {
        id: input.id.id,
        name: input.name,
        metadata: input.metadata,
        tags: input.tags,
      }),
  }),
  lockServer: t.field({
    type: Server,
    description: 'Locked, a server refuses actions from non-admins',
    authScopes: { policy: 'compute:server_action' },
    args: { input: t.arg({ type: LockServerInput, required: true }) },
    errors: { types: SERVER_ERRORS, dataField: { name: 'server' } },
    resolve: (_root, { input }, ctx) =>
      setServerLocked(ctx, input.id.id, true, input.reason ?? null),
  }),
  unlockServer: t.field({
    type: Server,
    authScopes: { policy: 'compute:server_action' },
    args: { input: t.arg({ type: ServerIdInput, required: true }) },
    errors: { types: SERVER_ERRORS, dataField: { name: 'server' } },
    resolve: (_root, { input }, ctx) => setServerLocked(ctx, input.id.id, false, null),
  }),
  createServerGroup: t.field({
    type: ServerGroup,
    authScopes: { policy: 'compute:manage_server_groups' },
    args: { input: t.arg({ type: CreateServerGroupInput, required: true }) },
    errors: { types: [InvalidInputError, ForbiddenError], dataField: { name: 'serverGroup' } },
    resolve: (_root, { input }, ctx) => createServerGroup(ctx, input),
  }),
  deleteServerGroup: t.field({
    type: ServerGroup,
    authScopes: { policy: 'compute:manage_server_groups' },
    args: { id: t.arg.globalID({ for: ServerGroup, required: true }) },
    errors: {
      types: [NotFoundError, ConflictError, ForbiddenError],
      dataField: { name: 'serverGroup' },
    },
    resolve: (_root, { id }, ctx) => deleteServerGroup(ctx, id.id),
  }),
}));
