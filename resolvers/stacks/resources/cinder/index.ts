import type { ResourcePlugin } from '../plugin';

/** The cinder resource types. */
export const plugins: ResourcePlugin[] = [];
