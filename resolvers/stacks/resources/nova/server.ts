import { ServerStateError } from '../../../compute/errors';
import { latestServerActions } from '../../../compute/instance-actions';
import {
  confirmResize,
  deleteServer,
  rebuildServer,
  resizeServer,
  updateServer,
} from '../../../compute/server-actions';
import { serverStatus } from '../../../compute/server-states';
import { createServers, requireCompute } from '../../../compute/servers';
import { NotFoundError } from '../../../errors';
import { updateFloatingIp } from '../../../networks/floating-ips';
import { createPort, deletePort, listPorts } from '../../../networks/ports';
import type {
  Progress,
  PropertySpec,
  QuotaUse,
  ResourceContext,
  ResourcePlugin,
  ResourceState,
} from '../plugin';
import { findFlavor, findImage } from './lookup';
import {
  asProperties,
  oneOf,
  optList,
  optString,
  optStringList,
  optStringMap,
  type Props,
} from './props';
import {
  checkServer,
  knownFlavorSize,
  planServer,
  SERVER_FIELDS,
  type ServerPlan,
  USER_DATA_FORMATS,
} from './server-request';
import { faultOf, readServer, ServerFailedError, serverAttribute } from './server-show';

/**
 * OS::Nova::Server on createServers and the server actions, acting as the stack owner.
 * user_data_format SOFTWARE_CONFIG and HEAT_CFNTOOLS are passed as RAW (no cloud-init
 * multipart wrapping, no software-config agent; a software config's id becomes its text, as
 * Heat does for RAW and SOFTWARE_CONFIG); config_drive, admin_pass and
 * software_config_transport are accepted and not applied (Stratus has no config drive or
 * guest agent to carry them).
 */

const FLAVOR_POLICIES = ['RESIZE', 'REPLACE'] as const;
const IMAGE_POLICIES = ['REBUILD', 'REPLACE', 'REBUILD_PRESERVE_EPHEMERAL'] as const;
const USER_DATA_POLICIES = ['REPLACE', 'IGNORE'] as const;

const properties: Record<string, PropertySpec> = {
  name: { type: 'string', updateAllowed: true },
  image: { type: 'string', updateAllowed: true },
  flavor: { type: 'string', required: true, updateAllowed: true },
  flavor_update_policy: { type: 'string', default: 'RESIZE', updateAllowed: true },
  image_update_policy: { type: 'string', default: 'REBUILD', updateAllowed: true },
  key_name: { type: 'string' },
  networks: { type: 'list' },
  block_device_mapping: { type: 'list' },
  block_device_mapping_v2: { type: 'list' },
  user_data: { type: 'string', default: '', updateAllowed: true },
  user_data_format: { type: 'string', default: 'HEAT_CFNTOOLS', updateAllowed: true },
  user_data_update_policy: { type: 'string', default: 'REPLACE', updateAllowed: true },
  config_drive: { type: 'boolean' },
  metadata: { type: 'map', updateAllowed: true },
  tags: { type: 'list', updateAllowed: true },
  scheduler_hints: { type: 'map' },
  security_groups: { type: 'list', default: [] },
  availability_zone: { type: 'string' },
  admin_pass: { type: 'string', updateAllowed: true },
  software_config_transport: {
    type: 'string',
    default: 'POLL_SERVER_CFN',
    updateAllowed: true,
  },
  diskConfig: { type: 'string' },
};

interface ServerData {
  /** Ports the plugin made (Heat's internal ports): deleted once the server is gone. */
  internalPorts?: string[];
  floatingIps?: ServerPlan['floatingIps'];
  /** An update's target flavor and image, followed by checkUpdateComplete. */
  resizeTo?: string;
  rebuildTo?: string;
}

const PAGE = { limit: 100, offset: 0 };

function checkEnums(ctx: ResourceContext, props: Props): void {
  oneOf(ctx, props, 'flavor_update_policy', FLAVOR_POLICIES, 'RESIZE');
  oneOf(ctx, props, 'image_update_policy', IMAGE_POLICIES, 'REBUILD');
  oneOf(ctx, props, 'user_data_format', USER_DATA_FORMATS, 'HEAT_CFNTOOLS');
  oneOf(ctx, props, 'user_data_update_policy', USER_DATA_POLICIES, 'REPLACE');
}

/** Makes the internal ports, then the server; a failure deletes the ports it made. */
async function create(ctx: ResourceContext, props: Props) {
  checkEnums(ctx, props);
  const plan = await planServer(ctx, props);
  const internalPorts: string[] = [];
  try {
    const networks: Array<Record<string, unknown>> = [];
    for (const nic of plan.nics) {
      if (nic.kind === 'port') networks.push({ portId: nic.portId });
      else if (nic.kind === 'network')
        networks.push({ networkId: nic.networkId, fixedIp: nic.fixedIp });
      else {
        const prop = `networks.${nic.plan.index}`;
        const port = await asProperties(
          ctx,
          {
            networkId: `${prop}.network`,
            fixedIps: `${prop}.fixed_ip`,
            'fixedIps.0.ipAddress': `${prop}.fixed_ip`,
            'fixedIps.0.subnetId': `${prop}.subnet`,
            securityGroupIds: 'security_groups',
            '': prop,
          },
          () =>
            createPort(ctx.svc, {
              networkId: nic.plan.networkId,
              name: `${ctx.physicalName}-port-${nic.plan.index}`,
              fixedIps:
                nic.plan.subnetId || nic.plan.fixedIp
                  ? [{ subnetId: nic.plan.subnetId, ipAddress: nic.plan.fixedIp }]
                  : null,
              securityGroupIds: plan.securityGroupIds.length ? plan.securityGroupIds : null,
            }),
        );
        internalPorts.push(port.id);
        networks.push({ portId: port.id });
      }
    }
    const created = await asProperties(ctx, SERVER_FIELDS, () =>
      createServers(ctx.svc, {
        ...plan.input,
        networks,
        blockDeviceMappings: plan.input.blockDeviceMappings.length
          ? plan.input.blockDeviceMappings
          : null,
      }),
    );
    const data: ServerData = { internalPorts, floatingIps: plan.floatingIps };
    return { physicalId: created.servers[0].id, data: { ...data } };
  } catch (error) {
    for (const id of internalPorts) await deletePort(ctx.svc, id).catch(() => undefined);
    throw error;
  }
}

/** Associates the template's floating IPs with the ports of their `networks` entries. */
async function associateFloatingIps(ctx: ResourceContext, serverId: string, data: ServerData) {
  const wanted = data.floatingIps ?? [];
  if (wanted.length === 0) return;
  const ports = (await listPorts(ctx.svc, { deviceId: serverId }, PAGE)).rows;
  for (const { index, floatingIpId } of wanted) {
    const port = ports.find((p) => p.deviceIndex === index);
    if (!port) {
      throw new ServerFailedError(serverId, `Server ${serverId} has no port for networks.${index}`);
    }
    await asProperties(
      ctx,
      { id: `networks.${index}.floating_ip`, '': `networks.${index}.floating_ip` },
      () => updateFloatingIp(ctx.svc, { id: floatingIpId, portId: port.id }),
    );
  }
}

async function checkCreateComplete(ctx: ResourceContext, state: ResourceState): Promise<Progress> {
  const row = await readServer(ctx, state.physicalId!);
  if (!row || row.vmState === 'deleted') {
    throw new ServerFailedError(
      state.physicalId!,
      `Server ${state.physicalId} was deleted while building`,
    );
  }
  if (row.vmState === 'error') throw faultOf(row, 'building');
  if (row.vmState !== 'active' || row.taskState) {
    return { done: false, reason: `server is ${serverStatus(row.vmState, row.taskState)}` };
  }
  await associateFloatingIps(ctx, row.id, state.data as ServerData);
  return { done: true };
}

const changedAny = (changed: readonly string[], names: string[]) =>
  names.some((n) => changed.includes(n));

/** A policy property's value (checked by checkEnums before any change), or its default. */
const policy = (props: Props, key: string, fallback: string) =>
  typeof props[key] === 'string' ? (props[key] as string) : fallback;

/**
 * Whether the change needs a new server: user_data under its REPLACE policy, flavor or image
 * under REPLACE, and an image added to or taken from a server (volume-backed ones cannot be
 * rebuilt). Decided before anything is changed.
 */
function needsReplacement(state: ResourceState, props: Props, changed: readonly string[]): boolean {
  if (
    changedAny(changed, ['user_data', 'user_data_format']) &&
    policy(props, 'user_data_update_policy', 'REPLACE') === 'REPLACE'
  ) {
    return true;
  }
  if (changed.includes('flavor') && policy(props, 'flavor_update_policy', 'RESIZE') === 'REPLACE') {
    return true;
  }
  if (!changed.includes('image')) return false;
  return (
    policy(props, 'image_update_policy', 'REBUILD') === 'REPLACE' ||
    !props.image ||
    !state.properties.image
  );
}

/**
 * name, metadata and tags change in place; flavor resizes (then confirms) under RESIZE and
 * image rebuilds under REBUILD*; REPLACE policies, and user_data under its REPLACE policy, ask
 * for a new server. Everything that replaces is decided before anything is changed.
 */
async function update(
  ctx: ResourceContext,
  state: ResourceState,
  props: Props,
  changed: readonly string[],
) {
  checkEnums(ctx, props);
  const id = state.physicalId!;
  if (needsReplacement(state, props, changed)) return { kind: 'replace' as const };
  const imageName = optString(ctx, props, 'image');
  const row = await readServer(ctx, id);
  if (!row || row.vmState === 'deleted') throw new NotFoundError('server', id);
  const flavorName = optString(ctx, props, 'flavor');
  const flavor =
    changed.includes('flavor') && flavorName ? await findFlavor(ctx, 'flavor', flavorName) : null;
  const image =
    changed.includes('image') && imageName ? await findImage(ctx, 'image', imageName) : null;
  if (changedAny(changed, ['name', 'metadata', 'tags'])) {
    await asProperties(ctx, { name: 'name', metadata: 'metadata', tags: 'tags' }, () =>
      updateServer(ctx.svc, {
        id,
        name: optString(ctx, props, 'name') || ctx.physicalName,
        metadata: optStringMap(ctx, props, 'metadata') ?? {},
        tags: optStringList(ctx, props, 'tags') ?? [],
      }),
    );
  }
  const data: ServerData = { ...(state.data as ServerData) };
  delete data.resizeTo;
  delete data.rebuildTo;
  if (flavor && flavor.id !== row.flavor.flavorId) {
    await asProperties(ctx, { flavorId: 'flavor' }, () => resizeServer(ctx.svc, id, flavor.id));
    data.resizeTo = flavor.id;
  }
  if (image && image.id !== row.imageId) {
    data.rebuildTo = image.id;
    // With a resize running, the rebuild starts once it is confirmed (checkUpdateComplete).
    if (!data.resizeTo) {
      await asProperties(ctx, { imageId: 'image' }, () => rebuildServer(ctx.svc, id, image.id));
    }
  }
  return { kind: 'updated' as const, data: { ...data } };
}

/** Follows a resize (confirming it) and a rebuild to their end. */
async function checkUpdateComplete(ctx: ResourceContext, state: ResourceState): Promise<Progress> {
  const id = state.physicalId!;
  const data = state.data as ServerData;
  const row = await readServer(ctx, id);
  if (!row || row.vmState === 'deleted') throw new NotFoundError('server', id);
  if (row.vmState === 'error') throw faultOf(row, 'updating');
  const status = serverStatus(row.vmState, row.taskState);
  if (row.taskState) return { done: false, reason: `server is ${status} (${row.taskState})` };
  if (row.vmState === 'resized') {
    await confirmResize(ctx.svc, id);
    return { done: false, reason: 'confirming the resize' };
  }
  if (data.resizeTo && row.flavor.flavorId !== data.resizeTo) {
    throw new ServerFailedError(id, `Server ${id} was not resized to flavor ${data.resizeTo}`);
  }
  if (data.rebuildTo && row.imageId !== data.rebuildTo) {
    // Started here only after a resize, once: a rebuild that ran and left another image failed.
    const [last] = await latestServerActions(ctx.svc.rt.db, [id]);
    if (!data.resizeTo || last?.action === 'rebuild') {
      const why = last?.action === 'rebuild' && last.message ? `: ${last.message}` : '';
      throw new ServerFailedError(
        id,
        `Server ${id} was not rebuilt from image ${data.rebuildTo}${why}`,
      );
    }
    await asProperties(ctx, { imageId: 'image' }, () =>
      rebuildServer(ctx.svc, id, data.rebuildTo!),
    );
    return { done: false, reason: 'rebuilding after the resize' };
  }
  return { done: true };
}

/** Starts the delete; a server already gone, or already being deleted, is success. */
async function remove(ctx: ResourceContext, state: ResourceState): Promise<void> {
  if (!state.physicalId) return;
  try {
    await deleteServer(ctx.svc, state.physicalId);
  } catch (error) {
    if (error instanceof NotFoundError) return;
    if (error instanceof ServerStateError && error.taskState === 'deleting') return;
    throw error;
  }
}

async function checkDeleteComplete(ctx: ResourceContext, state: ResourceState): Promise<Progress> {
  if (state.physicalId) {
    const row = await readServer(ctx, state.physicalId);
    if (row && row.vmState !== 'deleted') {
      if (row.vmState === 'error' && !row.taskState) throw faultOf(row, 'deleting');
      return { done: false, reason: `server is ${serverStatus(row.vmState, row.taskState)}` };
    }
  }
  for (const portId of (state.data as ServerData).internalPorts ?? []) {
    await deletePort(ctx.svc, portId).catch((error: unknown) => {
      if (!(error instanceof NotFoundError)) throw error;
    });
  }
  return { done: true };
}

function quota(props: Props): QuotaUse[] {
  const uses: QuotaUse[] = [{ resource: 'instances', amount: 1 }];
  const size = knownFlavorSize(props.flavor);
  if (size) {
    uses.push(
      { resource: 'cores', amount: size.vcpus },
      { resource: 'ram_mib', amount: size.ramMib },
    );
  }
  const nics = Array.isArray(props.networks) ? (props.networks as Props[]) : [];
  const newPorts = nics.filter((n) => n && typeof n === 'object' && !n.port).length;
  if (newPorts) uses.push({ resource: 'ports', amount: newPorts });
  return uses;
}

export const serverPlugin: ResourcePlugin = {
  type: 'OS::Nova::Server',
  properties,
  attributes: [
    'name',
    'addresses',
    'networks',
    'first_address',
    'accessIPv4',
    'accessIPv6',
    'instance_name',
  ],
  physicalType: 'Server',
  async validate(ctx, props) {
    checkEnums(ctx, props);
    optList(ctx, props, 'networks');
    await requireCompute(ctx.svc);
    await checkServer(ctx, props);
  },
  quota,
  create,
  checkCreateComplete,
  update,
  updateReplaces: needsReplacement,
  checkUpdateComplete,
  delete: remove,
  checkDeleteComplete,
  async attribute(ctx, state, name) {
    if (!state.physicalId) return null;
    const row = await readServer(ctx, state.physicalId);
    if (!row || row.vmState === 'deleted') {
      if (name === 'show') throw new NotFoundError('server', state.physicalId);
      return null;
    }
    return serverAttribute(ctx, row, name);
  },
};
