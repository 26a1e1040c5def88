import type { ObjectStore } from '../drivers/objects/types';
import type { DriverStatus } from '../resolvers/runtime';
import type { LoadedCompute } from './compute';
import type { LoadedNetwork } from './network';
import type { LoadedVolumes } from './volumes';

/** Driver kinds of DESIGN.md not built yet: the catalog says so plainly rather than pretending. */
const NOT_BUILT = ['baremetal', 'database'];

/** What the catalog reports for each driver kind. Loaded drivers were probed when they loaded. */
export function driverStatuses(
  objectStore: ObjectStore,
  compute: LoadedCompute,
  volumes: LoadedVolumes,
  network: LoadedNetwork,
): DriverStatus[] {
  return [
    {
      kind: 'objects',
      implementation: objectStore.info().name,
      healthy: true,
      detail: 'probed at start',
    },
    compute.agent
      ? {
          kind: 'compute',
          implementation: compute.agent.driver.info().name,
          healthy: true,
          detail: `probed at start; host ${compute.agent.hostname}`,
        }
      : {
          kind: 'compute',
          implementation: null,
          healthy: false,
          detail: compute.unavailable ?? '',
        },
    volumes.backend
      ? {
          kind: 'volume',
          implementation: volumes.backend.driver.info().name,
          healthy: true,
          detail: `probed at start; backend ${volumes.backend.backendName} on host ${volumes.backend.hostname}`,
        }
      : { kind: 'volume', implementation: null, healthy: false, detail: volumes.unavailable ?? '' },
    network.agent
      ? {
          kind: 'network',
          implementation: network.agent.driver.info().name,
          healthy: true,
          detail: `probed and reconciled at start; host ${network.agent.hostname}`,
        }
      : {
          kind: 'network',
          implementation: null,
          healthy: false,
          detail: network.unavailable ?? '',
        },
    ...NOT_BUILT.map((kind) => ({
      kind,
      implementation: null,
      healthy: false,
      detail:
        kind === 'baremetal'
          ? 'driver built (ipmi, drivers/baremetal), API not yet'
          : 'not built yet',
    })),
  ];
}
