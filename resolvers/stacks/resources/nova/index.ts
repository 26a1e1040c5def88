import type { ResourcePlugin } from '../plugin';
import { flavorPlugin } from './flavor';
import { keypairPlugin } from './keypair';
import { serverPlugin } from './server';
import { serverGroupPlugin } from './server-group';

/** The nova resource types. */
export const plugins: ResourcePlugin[] = [
  serverPlugin,
  flavorPlugin,
  keypairPlugin,
  serverGroupPlugin,
];
