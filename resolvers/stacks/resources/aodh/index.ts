import type { ResourcePlugin } from '../plugin';
import { aodhAlarm } from './alarm';

/** The aodh resource types. */
export const plugins: ResourcePlugin[] = [aodhAlarm];
