import type { ResourcePlugin } from '../plugin';

/** The heat resource types. */
export const plugins: ResourcePlugin[] = [];
