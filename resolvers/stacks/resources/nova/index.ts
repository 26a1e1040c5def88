import type { ResourcePlugin } from '../plugin';

/** The nova resource types. */
export const plugins: ResourcePlugin[] = [];
