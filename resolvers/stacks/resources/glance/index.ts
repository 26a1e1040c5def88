import type { ResourcePlugin } from '../plugin';

/** The glance resource types. */
export const plugins: ResourcePlugin[] = [];
