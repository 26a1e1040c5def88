import type { ResourcePlugin } from '../plugin';

/** The neutron resource types. */
export const plugins: ResourcePlugin[] = [];
