// compute/servers.ts and compute/boot-volume.ts import each other: loading servers.ts first
// keeps boot-volume's schema initialised when a plugin imports boot-volume.ts before it.
import '../../compute/servers';
import type { ResourceTypeSchema, TemplateResource } from '../template';
import { plugins as aodh } from './aodh/index';
import { plugins as cinder } from './cinder/index';
import { plugins as glance } from './glance/index';
import { plugins as heat } from './heat/index';
import { plugins as heatComposite } from './heat-composite/index';
import { plugins as keystone } from './keystone/index';
import { plugins as neutron } from './neutron/index';
import { plugins as nova } from './nova/index';
import type { ResourcePlugin } from './plugin';
import { plugins as swift } from './swift/index';

/**
 * Every resource type Stratus maps, by HOT type name. A template resource (a type that is a
 * file of the request, or one the environment maps to a file) is implemented by the plugin
 * registered as TEMPLATE_RESOURCE_TYPE, which runs it as a nested stack.
 */

export const TEMPLATE_RESOURCE_TYPE = 'Stratus::TemplateResource';

const ALL: ResourcePlugin[] = [
  ...heat,
  ...heatComposite,
  ...nova,
  ...glance,
  ...neutron,
  ...cinder,
  ...swift,
  ...keystone,
  ...aodh,
];

const BY_TYPE = new Map<string, ResourcePlugin>();
for (const plugin of ALL) {
  if (BY_TYPE.has(plugin.type)) throw new Error(`resource type ${plugin.type} registered twice`);
  BY_TYPE.set(plugin.type, plugin);
}

export function findPlugin(type: string): ResourcePlugin | null {
  return BY_TYPE.get(type) ?? null;
}

/** The plugin that implements a resource of a parsed template, or null for an unknown type. */
export function pluginForResource(resource: TemplateResource): ResourcePlugin | null {
  if (resource.templateFile) return findPlugin(TEMPLATE_RESOURCE_TYPE);
  return findPlugin(resource.mappedType);
}

/** Resource type names, sorted (the `resourceTypes` query). */
export function resourceTypeNames(): string[] {
  return [...BY_TYPE.keys()].filter((t) => t !== TEMPLATE_RESOURCE_TYPE).sort();
}

/** What parseTemplate checks properties and get_attr against; null: no such type. */
export function resourceTypeSchema(type: string): ResourceTypeSchema | null {
  const plugin = findPlugin(type);
  if (!plugin) return null;
  return {
    // An open schema (OS::Heat::None) accepts any property names.
    properties: plugin.openProperties
      ? null
      : Object.fromEntries(
          Object.entries(plugin.properties).map(([name, spec]) => [
            name,
            { required: spec.required },
          ]),
        ),
    // A group's members' attributes are not known to the type: get_attr names are not checked.
    attributes: plugin.dynamicAttributes ? undefined : [...plugin.attributes, 'show'],
  };
}
