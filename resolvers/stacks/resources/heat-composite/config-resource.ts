import { randomUUID } from 'node:crypto';
import { InvalidInputError } from '../../../errors';
import type { ResourceContext, ResourcePlugin, ResourceState } from '../plugin';

/**
 * What SoftwareConfig, CloudConfig and MultipartMime share: no domain table; the config text
 * and its definition live in the resource row's data (read back by configText), and the
 * physical ID is a random UUID, as Heat's software config id is.
 */

export interface ConfigDefinition {
  group: string;
  config: string;
  inputs: unknown[];
  outputs: unknown[];
  options: Record<string, unknown>;
}

type BuildConfig = (
  ctx: ResourceContext,
  props: Record<string, unknown>,
) => Promise<ConfigDefinition>;

export function configPlugin(
  type: string,
  properties: ResourcePlugin['properties'],
  build: BuildConfig,
): ResourcePlugin {
  return {
    type,
    properties,
    attributes: ['config'],
    async validate(ctx, props) {
      await build(ctx, props);
    },
    async create(ctx, props) {
      const definition = await build(ctx, props);
      return { physicalId: randomUUID(), data: { ...definition, name: ctx.physicalName } };
    },
    async delete() {
      // Nothing outside the row: deleting the row deletes the config.
    },
    async attribute(_ctx, state, name) {
      if (name === 'config') return state.data.config ?? null;
      if (name === 'show') return show(state);
      return null;
    },
  };
}

function show(state: ResourceState): Record<string, unknown> {
  const { name, group, config, inputs, outputs, options } = state.data;
  return { id: state.physicalId, name, group, config, inputs, outputs, options };
}

export function optionalString(
  ctx: ResourceContext,
  props: Record<string, unknown>,
  key: string,
  fallback: string,
): string {
  const value = props[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string')
    throw new InvalidInputError(`${ctx.path}.${key}`, `${ctx.path}.${key}: must be a string`);
  return value;
}

export function optionalList(
  ctx: ResourceContext,
  props: Record<string, unknown>,
  key: string,
): unknown[] {
  const value = props[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw new InvalidInputError(`${ctx.path}.${key}`, `${ctx.path}.${key}: must be a list`);
  return value;
}

export function optionalMap(
  ctx: ResourceContext,
  props: Record<string, unknown>,
  key: string,
): Record<string, unknown> {
  const value = props[key];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new InvalidInputError(`${ctx.path}.${key}`, `${ctx.path}.${key}: must be a map`);
  return value as Record<string, unknown>;
}
