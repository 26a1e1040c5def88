import type { ResourcePlugin } from '../plugin';
import { autoScalingGroup } from './autoscaling-group';
import { cloudConfig } from './cloud-config';
import { heatStack } from './heat-stack';
import { multipartMime } from './multipart-mime';
import { resourceGroup } from './resource-group';
import { scalingPolicy } from './scaling-policy';
import { softwareConfig } from './software-config';
import { templateResource } from './template-resource';
import { waitCondition } from './wait-condition';
import { waitConditionHandle } from './wait-handle';

/** The heat-composite resource types. */
export const plugins: ResourcePlugin[] = [
  softwareConfig,
  cloudConfig,
  multipartMime,
  waitConditionHandle,
  waitCondition,
  resourceGroup,
  templateResource,
  heatStack,
  autoScalingGroup,
  scalingPolicy,
];
