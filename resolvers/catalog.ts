import { createRequire } from 'node:module';
import { authorize } from './authorize';
import type { DriverStatus, ServiceContext } from './runtime';

export interface Catalog {
  version: string;
  domains: string[];
  drivers: DriverStatus[];
}

const version = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** API domains served now; the others of DESIGN.md join as they are built. */
export const ENABLED_DOMAINS = [
  'identity',
  'quotas',
  'operations',
  'events',
  'objects',
  'images',
  'compute',
  'networks',
  'volumes',
  'metering',
  'baremetal',
  'stacks',
];

/** Describes this Stratus (Keystone's service catalog, for one endpoint). */
export function describeCatalog(ctx: ServiceContext): Catalog {
  authorize(ctx, 'catalog:get');
  return { version, domains: ENABLED_DOMAINS, drivers: ctx.rt.drivers };
}
