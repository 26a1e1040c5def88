import type { ResourcePlugin } from '../plugin';

/** The heat-composite resource types. */
export const plugins: ResourcePlugin[] = [];
