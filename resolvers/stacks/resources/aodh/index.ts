import type { ResourcePlugin } from '../plugin';
import { aodhAlarm } from './alarm';
import { aodhGnocchiResourcesAlarm } from './gnocchi-resources-alarm';

/** The aodh resource types. */
export const plugins: ResourcePlugin[] = [aodhAlarm, aodhGnocchiResourcesAlarm];
