import type { ResourcePlugin } from '../plugin';
import { nonePlugin } from './none';
import { randomStringPlugin } from './random-string';
import { testResourcePlugin } from './test-resource';
import { valuePlugin } from './value';

/** The heat resource types. */
export const plugins: ResourcePlugin[] = [
  valuePlugin,
  randomStringPlugin,
  nonePlugin,
  testResourcePlugin,
];
