import type { ObjectStore } from '../drivers/objects/types';
import type { DriverStatus } from '../resolvers/runtime';

/** Driver kinds of DESIGN.md not built yet: the catalog says so plainly rather than pretending. */
const NOT_BUILT = ['compute', 'network', 'volume', 'baremetal', 'database'];

/** What the catalog reports for each driver kind. The object store was probed when it loaded. */
export function driverStatuses(objectStore: ObjectStore): DriverStatus[] {
  return [
    {
      kind: 'objects',
      implementation: objectStore.info().name,
      healthy: true,
      detail: 'probed at start',
    },
    ...NOT_BUILT.map((kind) => ({
      kind,
      implementation: null,
      healthy: false,
      detail: 'not built yet',
    })),
  ];
}
