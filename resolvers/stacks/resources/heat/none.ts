import { randomUUID } from 'node:crypto';
import type { ResourcePlugin } from '../plugin';

/**
 * OS::Heat::None: accepts any properties and does nothing (used to disable a resource in the
 * resource_registry). `openProperties` tells the registry not to check property names; with
 * no `update`, any change replaces it, as in Heat.
 */
export const nonePlugin: ResourcePlugin = {
  type: 'OS::Heat::None',
  properties: {},
  openProperties: true,
  attributes: [],
  async create() {
    return { physicalId: randomUUID() };
  },
  async delete() {},
  async attribute(_ctx, state, name) {
    return name === 'show' ? { id: state.physicalId } : null;
  },
};
