import type { ServiceContext } from '../../runtime';
import type { EngineServices } from '../resources/plugin';
import type { StackResourceRow, StackRow } from './types';

/** Engine services for composite plugins (nested stacks, signal URLs). */
export function engineServices(
  _svc: ServiceContext,
  _stack: StackRow,
  _row: Pick<StackResourceRow, 'id' | 'name'>,
): EngineServices {
  const missing = (what: string) => () => {
    throw new Error(`${what} is not available yet`);
  };
  return {
    applyNestedStack: missing('applyNestedStack'),
    nestedStatus: missing('nestedStatus'),
    nestedOutputs: missing('nestedOutputs'),
    deleteNestedStack: missing('deleteNestedStack'),
    signalUrl: missing('signalUrl'),
  };
}
