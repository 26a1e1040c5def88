import type { ResourcePlugin } from '../plugin';

/** The swift resource types. */
export const plugins: ResourcePlugin[] = [];
