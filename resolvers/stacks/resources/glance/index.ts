import type { ResourcePlugin } from '../plugin';
import { imagePlugin, webImagePlugin } from './image';

/** The glance resource types. */
export const plugins: ResourcePlugin[] = [imagePlugin, webImagePlugin];
