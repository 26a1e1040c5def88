import type { DriverStatus } from '../resolvers/runtime';

/**
 * Driver kinds of DESIGN.md and what is configured for each. None is built yet: the catalog
 * says so plainly rather than pretending, and each domain's issue fills its row.
 */
export const DRIVER_KINDS: DriverStatus[] = [
  'compute',
  'network',
  'volume',
  'objects',
  'baremetal',
  'database',
].map((kind) => ({
  kind,
  implementation: null,
  healthy: false,
  detail: 'not built yet',
}));
