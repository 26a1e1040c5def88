import { NESTED_VERSION } from './nested';

/** A member definition (ResourceGroup's resource_def, AutoScalingGroup's resource). */
export interface MemberDefinition {
  type: string;
  properties: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

/** Replaces `indexVar` in every string of a value (keys too, as Heat does). */
export function replaceIndex(value: unknown, indexVar: string, index: string): unknown {
  if (typeof value === 'string') return value.split(indexVar).join(index);
  if (Array.isArray(value)) return value.map((v) => replaceIndex(v, indexVar, index));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        replaceIndex(k, indexVar, index) as string,
        replaceIndex(v, indexVar, index),
      ]),
    );
  }
  return value;
}

/**
 * The child stack of a group: one resource per member name and a `refs_map` output of
 * their physical IDs (the group's refs and refs_map, and removal by physical ID).
 */
export function groupTemplate(
  members: readonly string[],
  definition: MemberDefinition,
  indexVar: string | null,
): Record<string, unknown> {
  const resources: Record<string, unknown> = {};
  for (const name of members) {
    const props = indexVar
      ? replaceIndex(definition.properties, indexVar, name)
      : definition.properties;
    resources[name] = {
      type: definition.type,
      properties: props,
      ...(definition.metadata ? { metadata: definition.metadata } : {}),
    };
  }
  return {
    heat_template_version: NESTED_VERSION,
    resources,
    outputs: {
      refs_map: { value: Object.fromEntries(members.map((m) => [m, { get_resource: m }])) },
    },
  };
}
