import type { FlavorSnapshot, ServerFault } from '../../db/tables';
import { ServerLockedError, ServerStateError } from '../../resolvers/compute/errors';
import type { listHypervisors } from '../../resolvers/compute/hypervisors';
import {
  type InstanceActionEventRow,
  type InstanceActionRow,
  latestServerActions,
  listActionEvents,
  listServerActions,
} from '../../resolvers/compute/instance-actions';
import {
  loadGroupMembers,
  loadServerGroups,
  type ServerGroupRow,
} from '../../resolvers/compute/server-groups';
import {
  SERVER_STATUSES,
  type ServerRow,
  serverStatus,
} from '../../resolvers/compute/server-states';
import { consoleOutput, loadServers } from '../../resolvers/compute/servers';
import { builder } from '../builder';
import { Flavor } from '../compute';
import { ErrorInterface } from '../errors';
import { Project, User } from '../identity/types';
import { Image } from '../images';

/** Server types of the schema: Server, its flavor values, faults, instance actions, groups, hypervisors. */

builder.objectType(ServerStateError, {
  interfaces: [ErrorInterface],
  name: 'ServerStateError',
  description: "The server's status (or a task in progress) does not allow this action",
  fields: (t) => ({
    action: t.exposeString('action'),
    status: t.exposeString('status'),
    taskState: t.exposeString('taskState', { nullable: true }),
  }),
});
builder.objectType(ServerLockedError, {
  interfaces: [ErrorInterface],
  name: 'ServerLockedError',
  description:
    'The server is locked: only an admin may act on it; an admin, or the owner for a lock the owner set, may unlock it',
  fields: (t) => ({ reason: t.exposeString('reason', { nullable: true }) }),
});

export const ServerStatus = builder.enumType('ServerStatus', { values: SERVER_STATUSES });
export const PowerState = builder.enumType('PowerState', {
  values: ['nostate', 'running', 'paused', 'suspended', 'shutdown', 'crashed'] as const,
});
export const ServerGroupPolicy = builder.enumType('ServerGroupPolicy', {
  values: {
    AFFINITY: { value: 'affinity' },
    ANTI_AFFINITY: { value: 'anti-affinity' },
    SOFT_AFFINITY: { value: 'soft-affinity' },
    SOFT_ANTI_AFFINITY: { value: 'soft-anti-affinity' },
  } as const,
});

const FlavorValues = builder.objectRef<FlavorSnapshot>('ServerFlavor').implement({
  description: 'The flavor values the server runs with (kept if the flavor is deleted)',
  fields: (t) => ({
    name: t.exposeString('name'),
    vcpus: t.exposeInt('vcpus'),
    ramMib: t.exposeInt('ramMib'),
    rootDiskGib: t.exposeInt('rootDiskGib'),
    ephemeralGib: t.exposeInt('ephemeralGib'),
    swapMib: t.exposeInt('swapMib'),
    flavor: t.field({
      type: Flavor,
      nullable: true,
      description: 'The flavor itself, while it exists and you may see it',
      resolve: (f) => f.flavorId,
    }),
  }),
});

const Fault = builder.objectRef<ServerFault>('ServerFault').implement({
  description: 'Why the server is in ERROR',
  fields: (t) => ({
    code: t.exposeInt('code'),
    message: t.exposeString('message'),
    details: t.exposeString('details', {
      nullable: true,
      description: 'Host-side detail (admins only)',
      authScopes: { policy: 'compute:get_host_details' },
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (f) => f.createdAt }),
  }),
});

const ActionEvent = builder.objectRef<InstanceActionEventRow>('InstanceActionEvent').implement({
  description: 'A step of an instance action',
  fields: (t) => ({
    event: t.exposeString('event'),
    result: t.exposeString('result', { nullable: true, description: 'Success or Error' }),
    details: t.exposeString('details', {
      nullable: true,
      description: 'What failed, host-side (admins only)',
      authScopes: { policy: 'compute:get_host_details' },
    }),
    startTime: t.expose('startTime', { type: 'DateTime' }),
    finishTime: t.expose('finishTime', { type: 'DateTime', nullable: true }),
  }),
});

export const InstanceAction = builder.objectRef<InstanceActionRow>('InstanceAction').implement({
  description: 'An action on a server (Nova instance action): who, when, which request, result',
  fields: (t) => ({
    id: t.exposeID('id'),
    action: t.exposeString('action'),
    requestId: t.exposeString('requestId'),
    user: t.field({ type: User, nullable: true, resolve: (a) => a.userId }),
    message: t.exposeString('message', {
      nullable: true,
      description: 'Why it failed; null while running or after success',
    }),
    startTime: t.expose('startTime', { type: 'DateTime' }),
    finishTime: t.expose('finishTime', { type: 'DateTime', nullable: true }),
    events: t.loadableList({
      type: ActionEvent,
      load: (ids: string[], ctx) => listActionEvents(ctx.rt.db, ids),
      resolve: (a) => a.id,
    }),
  }),
});

export const ServerGroup = builder.loadableNodeRef<ServerGroupRow, string>('ServerGroup', {
  id: { resolve: (g) => g.id },
  load: async (ids, ctx) =>
    (await loadServerGroups(ctx, ids)) as unknown as Array<ServerGroupRow | Error>,
});

export const Server = builder.loadableNodeRef<ServerRow, string>('Server', {
  id: { resolve: (s) => s.id },
  load: async (ids, ctx) => (await loadServers(ctx, ids)) as unknown as Array<ServerRow | Error>,
});
Server.implement({
  description: 'A virtual machine (Nova server)',
  fields: (t) => ({
    name: t.exposeString('name'),
    status: t.field({
      type: ServerStatus,
      resolve: (s) => serverStatus(s.vmState, s.taskState),
    }),
    taskState: t.exposeString('taskState', {
      nullable: true,
      description: 'What is in progress: scheduling, spawning, powering-off, rebooting, …',
    }),
    vmState: t.exposeString('vmState'),
    powerState: t.field({ type: PowerState, resolve: (s) => s.powerState }),
    project: t.field({ type: Project, nullable: true, resolve: (s) => s.projectId }),
    user: t.field({ type: User, nullable: true, resolve: (s) => s.userId }),
    image: t.field({
      type: Image,
      nullable: true,
      description: 'The image it was built (or rebuilt) from, while it exists',
      resolve: (s) => s.imageId,
    }),
    flavor: t.field({ type: FlavorValues, resolve: (s) => s.flavor }),
    keyName: t.exposeString('keyName', { nullable: true }),
    metadata: t.field({ type: 'JSON', resolve: (s) => s.metadata }),
    tags: t.exposeStringList('tags'),
    serverGroup: t.field({ type: ServerGroup, nullable: true, resolve: (s) => s.serverGroupId }),
    availabilityZone: t.exposeString('availabilityZone', { nullable: true }),
    host: t.exposeString('host', {
      nullable: true,
      description: 'The compute host it runs on (admins only)',
      authScopes: { policy: 'compute:get_host_details' },
    }),
    locked: t.exposeBoolean('locked'),
    lockedReason: t.exposeString('lockedReason', { nullable: true }),
    fault: t.field({ type: Fault, nullable: true, resolve: (s) => s.fault }),
    launchedAt: t.expose('launchedAt', { type: 'DateTime', nullable: true }),
    terminatedAt: t.expose('terminatedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    consoleOutput: t.string({
      nullable: true,
      description: "The guest's serial console log (ttyS0), at most the last 1 MiB",
      authScopes: { policy: 'compute:console_output' },
      args: { lastLines: t.arg.int({ description: 'Only the last N lines (1-10000)' }) },
      resolve: (s, args, ctx) => consoleOutput(ctx, s, args.lastLines ?? null),
    }),
    actions: t.loadableList({
      type: InstanceAction,
      description: 'Instance actions, newest first',
      load: (ids: string[], ctx) => listServerActions(ctx.rt.db, ids),
      resolve: (s) => s.id,
    }),
    lastAction: t.loadable({
      type: InstanceAction,
      nullable: true,
      load: (ids: string[], ctx) => latestServerActions(ctx.rt.db, ids),
      resolve: (s) => s.id,
    }),
  }),
});

ServerGroup.implement({
  description: 'Servers placed together (affinity) or apart (anti-affinity) by the scheduler',
  fields: (t) => ({
    name: t.exposeString('name'),
    policy: t.field({ type: ServerGroupPolicy, resolve: (g) => g.policy }),
    project: t.field({ type: Project, nullable: true, resolve: (g) => g.projectId }),
    members: t.loadableList({
      type: Server,
      load: (ids: string[], ctx) => loadGroupMembers(ctx, ids),
      resolve: (g) => g.id,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const Hypervisor = builder
  .objectRef<Awaited<ReturnType<typeof listHypervisors>>[number]>('Hypervisor')
  .implement({
    description: 'A compute host: what it has and what its servers use',
    fields: (t) => ({
      hostname: t.exposeString('hostname'),
      availabilityZone: t.exposeString('availabilityZone'),
      driver: t.exposeString('driver'),
      accelerator: t.exposeString('accelerator', { nullable: true }),
      enabled: t.exposeBoolean('enabled'),
      vcpus: t.exposeInt('vcpus'),
      memoryMib: t.exposeInt('memoryMib'),
      diskGib: t.exposeInt('diskGib'),
      vcpusUsed: t.int({ resolve: (h) => h.used.vcpus }),
      memoryMibUsed: t.int({ resolve: (h) => h.used.ramMib }),
      diskGibUsed: t.int({ resolve: (h) => h.used.diskGib }),
      runningServers: t.int({ resolve: (h) => h.used.servers }),
      lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime' }),
    }),
  });
