import type { ResourcePlugin } from '../plugin';
import { cinderVolume } from './volume';
import { cinderVolumeAttachment } from './volume-attachment';

export const plugins: ResourcePlugin[] = [cinderVolume, cinderVolumeAttachment];
