import {
  addFlavorAccess,
  createFlavor,
  deleteFlavor,
  type FlavorRow,
  loadFlavorProjects,
  loadFlavors,
} from '../../../compute/flavors';
import { NotFoundError } from '../../../errors';
import type { PropertySpec, ResourceContext, ResourcePlugin, ResourceState } from '../plugin';
import {
  asProperties,
  optBool,
  optInt,
  optString,
  optStringList,
  optStringMap,
  type Props,
} from './props';

/**
 * OS::Nova::Flavor (admin, as in Nova's policy): createFlavor with Heat's units (ram MiB,
 * disk and ephemeral GiB, swap MiB). `tenants` may grow in place (addFlavorAccess); Stratus
 * has no service to edit extra specs or remove access, so those changes replace the flavor.
 * rxtx_factor is accepted and not applied (no bandwidth shaping).
 */

const properties: Record<string, PropertySpec> = {
  name: { type: 'string' },
  description: { type: 'string' },
  ram: { type: 'integer', required: true },
  vcpus: { type: 'integer', required: true },
  disk: { type: 'integer', default: 0 },
  ephemeral: { type: 'integer', default: 0 },
  swap: { type: 'integer', default: 0 },
  rxtx_factor: { type: 'number', default: 1.0 },
  is_public: { type: 'boolean', default: true },
  extra_specs: { type: 'map', default: {} },
  tenants: { type: 'list', default: [], updateAllowed: true },
};

const FIELDS = {
  name: 'name',
  description: 'description',
  vcpus: 'vcpus',
  ramMib: 'ram',
  rootDiskGib: 'disk',
  ephemeralGib: 'ephemeral',
  swapMib: 'swap',
  extraSpecs: 'extra_specs',
  isPublic: 'is_public',
  projectIds: 'tenants',
};

function input(ctx: ResourceContext, props: Props) {
  return {
    name: optString(ctx, props, 'name') || ctx.physicalName,
    description: optString(ctx, props, 'description') ?? '',
    vcpus: optInt(ctx, props, 'vcpus'),
    ramMib: optInt(ctx, props, 'ram'),
    rootDiskGib: optInt(ctx, props, 'disk') ?? 0,
    ephemeralGib: optInt(ctx, props, 'ephemeral') ?? 0,
    swapMib: optInt(ctx, props, 'swap') ?? 0,
    extraSpecs: optStringMap(ctx, props, 'extra_specs') ?? {},
    isPublic: optBool(ctx, props, 'is_public') ?? true,
    projectIds: optStringList(ctx, props, 'tenants') ?? [],
  };
}

async function row(ctx: ResourceContext, state: ResourceState): Promise<FlavorRow | null> {
  return state.physicalId ? (await loadFlavors(ctx.svc, [state.physicalId]))[0] : null;
}

const tenantsOf = (props: Props) => (Array.isArray(props.tenants) ? props.tenants.map(String) : []);

/** Only added tenants apply in place: no service takes a project's access away. */
function losesAccess(state: ResourceState, props: Props, changed: readonly string[]): boolean {
  if (changed.some((c) => c !== 'tenants')) return true;
  const after = tenantsOf(props);
  return tenantsOf(state.properties).some((t) => !after.includes(t));
}

export const flavorPlugin: ResourcePlugin = {
  type: 'OS::Nova::Flavor',
  properties,
  attributes: ['extra_specs', 'is_public'],
  physicalType: 'Flavor',
  async validate(ctx, props) {
    input(ctx, props);
  },
  async create(ctx, props) {
    const created = await asProperties(ctx, FIELDS, () => createFlavor(ctx.svc, input(ctx, props)));
    return { physicalId: created.id };
  },
  updateReplaces: losesAccess,
  async update(ctx, state, props, changed) {
    if (losesAccess(state, props, changed)) return { kind: 'replace' };
    const before = new Set(optStringList(ctx, state.properties, 'tenants') ?? []);
    const after = optStringList(ctx, props, 'tenants') ?? [];
    const added = after.filter((t) => !before.has(t));
    if (added.length) {
      await asProperties(ctx, { projectIds: 'tenants', flavorId: 'tenants' }, () =>
        addFlavorAccess(ctx.svc, { flavorId: state.physicalId, projectIds: added }),
      );
    }
    return { kind: 'updated' };
  },
  async delete(ctx, state) {
    if (!state.physicalId) return;
    await deleteFlavor(ctx.svc, state.physicalId).catch((error: unknown) => {
      if (!(error instanceof NotFoundError)) throw error;
    });
  },
  async attribute(ctx, state, name) {
    const flavor = await row(ctx, state);
    if (!flavor) return null;
    if (name === 'extra_specs') return flavor.extraSpecs;
    if (name === 'is_public') return flavor.isPublic;
    if (name !== 'show') return null;
    const [tenants] = await loadFlavorProjects(ctx.svc, [flavor.id]);
    return {
      id: flavor.id,
      name: flavor.name,
      description: flavor.description,
      ram: flavor.ramMib,
      vcpus: flavor.vcpus,
      disk: flavor.rootDiskGib,
      'OS-FLV-EXT-DATA:ephemeral': flavor.ephemeralGib,
      swap: flavor.swapMib,
      'os-flavor-access:is_public': flavor.isPublic,
      extra_specs: flavor.extraSpecs,
      tenants,
    };
  },
};
