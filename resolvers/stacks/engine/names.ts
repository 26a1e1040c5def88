import { randomBytes } from 'node:crypto';

/** Heat's physical_resource_name: `<stack>-<resource>-<short random>`. */
export const physicalName = (stack: string, resource: string) =>
  `${stack}-${resource}-${randomBytes(6).toString('hex')}`;
