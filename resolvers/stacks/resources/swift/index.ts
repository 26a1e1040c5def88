import type { ResourcePlugin } from '../plugin';
import { swiftContainer } from './container';

/** The swift resource types. */
export const plugins: ResourcePlugin[] = [swiftContainer];
