import type { FlavorSnapshot, ServerFault } from '../db/tables';
import { ServerLockedError, ServerStateError } from '../resolvers/compute/errors';
import { listHypervisors } from '../resolvers/compute/hypervisors';
import {
  actionFromEvent,
  type InstanceActionEventRow,
  type InstanceActionRow,
  latestServerActions,
  listActionEvents,
  listServerActions,
} from '../resolvers/compute/instance-actions';
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
} from '../resolvers/compute/server-actions';
import { serverFromEvent } from '../resolvers/compute/server-events';
import {
  createServerGroup,
  deleteServerGroup,
  listServerGroups,
  loadGroupMembers,
  loadServerGroups,
  type ServerGroupRow,
} from '../resolvers/compute/server-groups';
import { SERVER_STATUSES, type ServerRow, serverStatus } from '../resolvers/compute/server-states';
import {
  type CreatedServers,
  consoleOutput,
  createServers,
  listServers,
  loadServers,
} from '../resolvers/compute/servers';
import {
  ConflictError,
  FeatureDisabledError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  QuotaExceededError,
} from '../resolvers/errors';
import { builder, type GraphQLContext } from './builder';
import { Flavor } from './compute';
import { ErrorInterface } from './errors';
import { visibleTo } from './events';
import { Project, User } from './identity/types';
import { Image } from './images';
import { Operation } from './operations';
import { listConnection } from './pagination';

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

const ServerStatus = builder.enumType('ServerStatus', { values: SERVER_STATUSES });
const PowerState = builder.enumType('PowerState', {
  values: ['nostate', 'running', 'paused', 'suspended', 'shutdown', 'crashed'] as const,
});
const ServerGroupPolicy = builder.enumType('ServerGroupPolicy', {
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

const Hypervisor = builder
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

const ServerFilter = builder.inputType('ServerFilter', {
  fields: (t) => ({
    status: t.field({ type: ServerStatus }),
    name: t.string({ description: 'Substring of the name, any case' }),
    imageId: t.globalID({ for: Image }),
    flavorId: t.globalID({ for: Flavor }),
    changedSince: t.field({ type: 'DateTime', description: 'Includes deleted servers, as Nova' }),
    tags: t.stringList({ description: 'Servers having all these tags' }),
    host: t.string({ description: 'Admins only' }),
    allProjects: t.boolean({ description: "Admins: every project's servers" }),
    projectId: t.globalID({ for: Project, description: "Admins: this project's servers" }),
    includeDeleted: t.boolean(),
  }),
});

builder.queryFields((t) => ({
  servers: t.connection({
    type: Server,
    description: 'Servers of your project (admins: any project), newest first',
    authScopes: { policy: 'compute:list_servers' },
    nullable: true,
    args: { filter: t.arg({ type: ServerFilter }) },
    resolve: (_root, args, ctx) => {
      const f = args.filter ?? {};
      return listConnection(args, (page) =>
        listServers(
          ctx,
          {
            ...f,
            imageId: f.imageId?.id,
            flavorId: f.flavorId?.id,
            projectId: f.projectId?.id,
            changedSince: f.changedSince ? new Date(f.changedSince) : null,
          },
          page,
        ),
      );
    },
  }),
  serverGroups: t.connection({
    type: ServerGroup,
    authScopes: { policy: 'compute:list_server_groups' },
    nullable: true,
    resolve: (_root, args, ctx) => listConnection(args, (page) => listServerGroups(ctx, page)),
  }),
  hypervisors: t.field({
    type: [Hypervisor],
    description: 'Compute hosts (admins only)',
    authScopes: { policy: 'compute:list_hypervisors' },
    nullable: true,
    resolve: (_root, _args, ctx) => listHypervisors(ctx),
  }),
}));

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

const CreateServerInput = builder.inputType('CreateServerInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'With count > 1: name-1, name-2, …' }),
    imageId: t.globalID({ for: Image, required: true }),
    flavorId: t.globalID({ for: Flavor, required: true }),
    keypairId: t.globalID({ description: 'One of your keypairs' }),
    userData: t.string({ description: 'Given to the guest as is (fw_cfg), at most 64 KiB' }),
    metadata: t.field({ type: 'JSON', description: 'String pairs, at most 128' }),
    tags: t.stringList(),
    serverGroupId: t.globalID({ for: ServerGroup }),
    availabilityZone: t.string(),
    count: t.int({ description: 'How many servers (1-100), all or none' }),
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
    errors: { types: SERVER_ERRORS, dataField: { name: 'created' } },
    resolve: (_root, { input }, ctx) =>
      createServers(ctx, {
        ...Object.fromEntries(Object.entries(input).filter(([, v]) => v != null)),
        imageId: input.imageId.id,
        flavorId: input.flavorId.id,
        keypairId: input.keypairId?.id,
        serverGroupId: input.serverGroupId?.id,
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

builder.subscriptionFields((t) => ({
  server: t.field({
    type: Server,
    description:
      'One server now, then each change as it happens (status, task, power state, …), in order',
    authScopes: { policy: 'compute:list_servers' },
    args: { id: t.arg.globalID({ for: Server, required: true }) },
    subscribe: (_root, args, ctx) => serverUpdates(ctx, args.id.id),
    resolve: (server) => server,
  }),
  servers: t.field({
    type: Server,
    description: "Every change to your project's servers (admins: all), as it happens",
    authScopes: { policy: 'compute:list_servers' },
    args: { after: t.arg.string({ description: 'Resume after this event cursor' }) },
    subscribe: (_root, args, ctx) => projectServerUpdates(ctx, args.after ?? null),
    resolve: (server) => server,
  }),
  instanceActions: t.field({
    type: InstanceAction,
    description: 'Instance actions of one server as they start and finish',
    authScopes: { policy: 'compute:list_servers' },
    args: { serverId: t.arg.globalID({ for: Server, required: true }) },
    subscribe: (_root, args, ctx) => actionUpdates(ctx, args.serverId.id),
    resolve: (action) => action,
  }),
}));

/*
 * Each subscription checks what it can before returning its stream: an error thrown by
 * `subscribe` itself reaches the client with its code (NOT_FOUND, BAD_USER_INPUT), while one
 * thrown later, inside the stream, would arrive as an internal error.
 */

type EventStream = ReturnType<GraphQLContext['rt']['events']['stream']>;

/**
 * `inner` as an iterator whose return (or throw) first closes the event stream it reads,
 * which also ends an inner generator waiting for the next event.
 */
function closingWith<T>(stream: EventStream, inner: AsyncGenerator<T>): AsyncIterableIterator<T> {
  const close = async () => {
    await stream.return?.();
  };
  return {
    next: () => inner.next(),
    return: async (value?: unknown) => {
      await close();
      return inner.return(value as T);
    },
    throw: async (error?: unknown) => {
      await close();
      return inner.throw(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** The server's current row, then the row each server event carried. */
async function serverUpdates(
  ctx: GraphQLContext,
  id: string,
): Promise<AsyncIterableIterator<ServerRow>> {
  // Listening starts before the first read, so no change falls between the two.
  const stream = ctx.rt.events.stream({
    after: null,
    accept: (e) => e.resourceType === 'Server' && e.resourceId === id && visibleTo(ctx, e),
  });
  let current: ServerRow | null;
  try {
    [current] = await loadServers(ctx, [id]);
    if (!current) throw new NotFoundError('server', id);
  } catch (error) {
    await stream.return?.();
    throw error;
  }
  const first = current;
  return closingWith(
    stream,
    (async function* () {
      let last = first.updatedAt.getTime();
      yield first;
      for await (const event of stream) {
        const row = serverFromEvent(event);
        // Changes committed before the first read are already in it.
        if (row.updatedAt.getTime() < last) continue;
        last = row.updatedAt.getTime();
        yield row;
      }
    })(),
  );
}

function projectServerUpdates(
  ctx: GraphQLContext,
  after: string | null,
): AsyncIterableIterator<ServerRow> {
  if (after !== null && !/^\d+$/.test(after)) {
    throw new InvalidInputError('after', `after must be an event cursor, got "${after}"`);
  }
  const stream = ctx.rt.events.stream({
    after: after === null ? null : Number(after),
    accept: (e) => e.resourceType === 'Server' && visibleTo(ctx, e),
  });
  return closingWith(
    stream,
    (async function* () {
      for await (const event of stream) yield serverFromEvent(event);
    })(),
  );
}

async function actionUpdates(
  ctx: GraphQLContext,
  serverId: string,
): Promise<AsyncIterableIterator<InstanceActionRow>> {
  const [server] = await loadServers(ctx, [serverId]);
  if (!server) throw new NotFoundError('server', serverId);
  const stream = ctx.rt.events.stream({
    after: null,
    accept: (e) =>
      e.resourceType === 'InstanceAction' &&
      (e.payload as { serverId?: string }).serverId === serverId &&
      visibleTo(ctx, e),
  });
  return closingWith(
    stream,
    (async function* () {
      for await (const event of stream) yield actionFromEvent(event);
    })(),
  );
}
