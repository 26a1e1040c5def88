import type { FlavorRow } from '../../../compute/flavors';
import { bootableImage } from '../../../compute/servers';
import type { ImageRow } from '../../../images/images';
import { configText } from '../heat-composite/config-store';
import type { ResourceContext } from '../plugin';
import {
  findFlavor,
  findFloatingIp,
  findImage,
  findKeypair,
  findNetwork,
  findPort,
  findSecurityGroup,
  findServerGroup,
  findSubnet,
  findVolume,
} from './lookup';
import {
  at,
  badProperty,
  optBool,
  optInt,
  optList,
  optMap,
  optString,
  optStringList,
  optStringMap,
  type Props,
} from './props';

/**
 * OS::Nova::Server properties -> createServers' input, every name resolved to an id within
 * what the stack owner may see. Shared by validate (reads only) and create.
 */

/** A NIC the plugin makes itself before the server (Heat's "internal port"): a subnet or security groups asked for. */
export interface InternalPortPlan {
  index: number;
  networkId: string;
  subnetId: string | null;
  fixedIp: string | null;
}

export interface ServerPlan {
  flavor: FlavorRow;
  image: ImageRow | null;
  /** createServers' input, `networks` entries with `internal` still to be replaced by ports. */
  input: {
    name: string;
    imageId: string | null;
    flavorId: string;
    keypairId: string | null;
    userData: string | null;
    metadata: Record<string, string>;
    tags: string[];
    serverGroupId: string | null;
    availabilityZone: string | null;
    blockDeviceMappings: Array<Record<string, unknown>>;
  };
  /** One per Heat `networks` entry, in order. */
  nics: Array<
    | { kind: 'port'; portId: string }
    | { kind: 'network'; networkId: string; fixedIp: string | null }
    | { kind: 'internal'; plan: InternalPortPlan }
  >;
  securityGroupIds: string[];
  /** Floating IPs to associate with the port of a `networks` entry once the server is ACTIVE. */
  floatingIps: Array<{ index: number; floatingIpId: string }>;
}

const NIC_KEYS = new Set(['network', 'uuid', 'port', 'fixed_ip', 'subnet', 'floating_ip', 'tag']);

export const USER_DATA_FORMATS = ['HEAT_CFNTOOLS', 'RAW', 'SOFTWARE_CONFIG'] as const;

async function planNics(
  ctx: ResourceContext,
  props: Props,
  securityGroupIds: string[],
): Promise<Pick<ServerPlan, 'nics' | 'floatingIps'>> {
  const entries = optList(ctx, props, 'networks') ?? [];
  const nics: ServerPlan['nics'] = [];
  const floatingIps: ServerPlan['floatingIps'] = [];
  for (const [i, raw] of entries.entries()) {
    const prop = `networks.${i}`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
      throw badProperty(ctx, prop, 'must be a map (network, port, fixed_ip, subnet, floating_ip)');
    }
    const entry = raw as Props;
    for (const key of Object.keys(entry)) {
      if (entry[key] == null) continue;
      if (!NIC_KEYS.has(key)) {
        throw badProperty(ctx, `${prop}.${key}`, 'is not supported by Stratus');
      }
    }
    const sub = (key: string) => optString(ctx, entry, key)?.trim() || undefined;
    const port = sub('port');
    const networkName = sub('network') ?? sub('uuid');
    const subnetName = sub('subnet');
    const fixedIp = sub('fixed_ip') ?? null;
    const floating = sub('floating_ip');
    if (port) {
      if (networkName || subnetName || fixedIp) {
        throw badProperty(
          ctx,
          `${prop}.port`,
          'a port is given alone, without network, subnet or fixed_ip',
        );
      }
      const row = await findPort(ctx, `${prop}.port`, port);
      nics.push({ kind: 'port', portId: row.id });
    } else {
      if (!networkName && !subnetName) {
        throw badProperty(ctx, prop, 'needs one of network, port or subnet');
      }
      const subnet = subnetName ? await findSubnet(ctx, `${prop}.subnet`, subnetName) : null;
      const network = networkName ? await findNetwork(ctx, `${prop}.network`, networkName) : null;
      if (subnet && network && subnet.networkId !== network.id) {
        throw badProperty(
          ctx,
          `${prop}.subnet`,
          `subnet "${subnetName}" is not on network "${networkName}"`,
        );
      }
      const networkId = network?.id ?? subnet!.networkId;
      if (subnet || securityGroupIds.length > 0) {
        nics.push({
          kind: 'internal',
          plan: { index: i, networkId, subnetId: subnet?.id ?? null, fixedIp },
        });
      } else {
        nics.push({ kind: 'network', networkId, fixedIp });
      }
    }
    if (floating) {
      const fip = await findFloatingIp(ctx, `${prop}.floating_ip`, floating);
      floatingIps.push({ index: i, floatingIpId: fip.id });
    }
  }
  return { nics, floatingIps };
}

/** block_device_mapping_v2 -> the domain's blockDeviceMappings (volume, snapshot or image source). */
async function planMappings(
  ctx: ResourceContext,
  props: Props,
): Promise<Array<Record<string, unknown>>> {
  // Heat's older block_device_mapping (volume_id or snapshot_id per device) reads the same way.
  const v1 = (optList(ctx, props, 'block_device_mapping') ?? []).map(
    (raw, i) => [`block_device_mapping.${i}`, raw] as const,
  );
  const v2 = (optList(ctx, props, 'block_device_mapping_v2') ?? []).map(
    (raw, i) => [`block_device_mapping_v2.${i}`, raw] as const,
  );
  const out: Array<Record<string, unknown>> = [];
  for (const [prop, raw] of [...v1, ...v2]) {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw badProperty(ctx, prop, 'must be a map');
    const bdm = raw as Props;
    const volume = optString(ctx, bdm, 'volume_id');
    const snapshot = optString(ctx, bdm, 'snapshot_id');
    const image = optString(ctx, bdm, 'image') ?? optString(ctx, bdm, 'image_id');
    const sources = [volume, snapshot, image].filter((s) => s);
    if (sources.length !== 1) {
      throw badProperty(
        ctx,
        prop,
        'needs exactly one of volume_id, snapshot_id or image (swap and ephemeral disks are not supported)',
      );
    }
    const common = {
      bootIndex: optInt(ctx, bdm, 'boot_index') ?? 0,
      destinationType: 'volume',
      deleteOnTermination: optBool(ctx, bdm, 'delete_on_termination') ?? false,
    };
    if (volume) {
      const row = await findVolume(ctx, `${prop}.volume_id`, volume);
      out.push({ ...common, sourceType: 'volume', uuid: row.id });
    } else if (snapshot) {
      out.push({
        ...common,
        sourceType: 'snapshot',
        uuid: snapshot,
        volumeSize: optInt(ctx, bdm, 'volume_size'),
      });
    } else {
      const row = await findImage(ctx, `${prop}.image`, image!);
      out.push({
        ...common,
        sourceType: 'image',
        uuid: row.id,
        volumeSize: optInt(ctx, bdm, 'volume_size'),
      });
    }
  }
  return out;
}

/** Which Heat property each createServers input field came from (for renamed errors). */
export const SERVER_FIELDS: Record<string, string> = {
  name: 'name',
  imageId: 'image',
  flavorId: 'flavor',
  keypairId: 'key_name',
  userData: 'user_data',
  metadata: 'metadata',
  tags: 'tags',
  serverGroupId: 'scheduler_hints.group',
  availabilityZone: 'availability_zone',
  networks: 'networks',
  blockDeviceMappings: 'block_device_mapping_v2',
  'blockDeviceMappings.0.uuid': 'block_device_mapping_v2.0',
  'blockDeviceMappings.0.volumeSize': 'block_device_mapping_v2.0.volume_size',
  'blockDeviceMappings.0.bootIndex': 'block_device_mapping_v2.0.boot_index',
  count: 'name',
};
// createServers names a NIC's fields after its own input; Heat's entry names differ.
for (let i = 0; i < 16; i++) {
  SERVER_FIELDS[`networks.${i}.networkId`] = `networks.${i}.network`;
  SERVER_FIELDS[`networks.${i}.portId`] = `networks.${i}.port`;
  SERVER_FIELDS[`networks.${i}.fixedIp`] = `networks.${i}.fixed_ip`;
  SERVER_FIELDS[`networks.${i}.fixedIps`] = `networks.${i}.fixed_ip`;
  SERVER_FIELDS[`networks.${i}.fixedIps.0.ipAddress`] = `networks.${i}.fixed_ip`;
}

/**
 * Resolves and checks every property; writes nothing. `partial` (validate, preview): a
 * property left out may be one the engine has not resolved yet (it names another
 * resource), so only the properties given are checked.
 */
export async function planServer(ctx: ResourceContext, props: Props): Promise<ServerPlan> {
  return (await resolveServer(ctx, props, false)) as ServerPlan;
}

export async function checkServer(ctx: ResourceContext, props: Props): Promise<void> {
  await resolveServer(ctx, props, true);
}

async function resolveServer(
  ctx: ResourceContext,
  props: Props,
  partial: boolean,
): Promise<ServerPlan | null> {
  const flavorName = optString(ctx, props, 'flavor');
  if (!flavorName && !partial) throw badProperty(ctx, 'flavor', 'is required');
  const flavor = flavorName ? await findFlavor(ctx, 'flavor', flavorName) : null;
  if (flavorName && flavor) rememberFlavor(flavorName, flavor);
  const imageName = optString(ctx, props, 'image');
  const image = imageName ? await findImage(ctx, 'image', imageName) : null;
  const blockDeviceMappings = await planMappings(ctx, props);
  if (!image && blockDeviceMappings.length === 0 && !partial) {
    throw badProperty(ctx, 'image', 'is required unless block_device_mapping_v2 boots a volume');
  }
  if (image && flavor && blockDeviceMappings.length === 0) {
    // The domain's own check (active, formats, min_ram, min_disk), named after the property.
    await bootableImage(ctx.svc, image.id, flavor, at(ctx, 'image'));
  }
  const keyName = optString(ctx, props, 'key_name');
  const keypair = keyName ? await findKeypair(ctx, 'key_name', keyName) : null;
  const hints = optMap(ctx, props, 'scheduler_hints') ?? {};
  const groupValue = hints.group == null ? undefined : String(hints.group);
  const group = groupValue ? await findServerGroup(ctx, 'scheduler_hints.group', groupValue) : null;
  const groupNames = optStringList(ctx, props, 'security_groups') ?? [];
  const securityGroupIds: string[] = [];
  for (const [i, name] of groupNames.entries()) {
    const group = await findSecurityGroup(ctx, `security_groups.${i}`, name, partial);
    if (group) securityGroupIds.push(group.id);
  }
  const { nics, floatingIps } = await planNics(ctx, props, securityGroupIds);
  if (!flavor) return null;
  return {
    flavor,
    image,
    input: {
      name: optString(ctx, props, 'name') || ctx.physicalName,
      imageId: blockDeviceMappings.length > 0 ? null : (image?.id ?? null),
      flavorId: flavor.id,
      keypairId: keypair?.id ?? null,
      userData: await userData(ctx, props),
      metadata: optStringMap(ctx, props, 'metadata') ?? {},
      tags: optStringList(ctx, props, 'tags') ?? [],
      serverGroupId: group?.id ?? null,
      availabilityZone: optString(ctx, props, 'availability_zone') || null,
      blockDeviceMappings,
    },
    nics,
    securityGroupIds,
    floatingIps,
  };
}

/**
 * user_data as the guest gets it: a SoftwareConfig/CloudConfig/MultipartMime's id (what
 * get_resource gives) becomes its config text, as Heat resolves it for RAW and
 * SOFTWARE_CONFIG; anything else is passed as it is (HEAT_CFNTOOLS too: no cfn-init here).
 */
async function userData(ctx: ResourceContext, props: Props): Promise<string | null> {
  const given = optString(ctx, props, 'user_data');
  if (!given) return null;
  return (await configText(ctx.svc.rt.db, given, ctx.stack.projectId)) ?? given;
}

/**
 * Flavor sizes seen by validate/create, for `quota(props)`, which gets no context to read
 * them with: flavors are few and their sizes never change, so a small map is enough.
 */
const FLAVOR_SIZES = new Map<string, { vcpus: number; ramMib: number }>();

function rememberFlavor(value: string, flavor: FlavorRow): void {
  if (FLAVOR_SIZES.size > 1000) FLAVOR_SIZES.clear();
  const size = { vcpus: flavor.vcpus, ramMib: flavor.ramMib };
  FLAVOR_SIZES.set(value, size);
  FLAVOR_SIZES.set(flavor.id, size);
}

export function knownFlavorSize(value: unknown): { vcpus: number; ramMib: number } | null {
  return typeof value === 'string' ? (FLAVOR_SIZES.get(value) ?? null) : null;
}
