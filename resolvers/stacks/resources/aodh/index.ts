import type { ResourcePlugin } from '../plugin';

/** The aodh resource types. */
export const plugins: ResourcePlugin[] = [];
