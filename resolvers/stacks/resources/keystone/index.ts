import type { ResourcePlugin } from '../plugin';

/** The keystone resource types. */
export const plugins: ResourcePlugin[] = [];
