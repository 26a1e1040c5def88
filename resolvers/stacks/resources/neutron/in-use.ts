import { StratusError } from '../../../errors';
import type { Progress, ResourceState } from '../plugin';
import { ignoreGone } from './lookup';

/**
 * Deletes that Neutron refuses while something else still uses the resource (a subnet with
 * ports, a router with interfaces or floating IPs, a group on ports). Heat orders these by
 * implicit dependencies; here the refusal is waited out: `delete` notes it in the state's data
 * and `checkDeleteComplete` tries again until it goes through or WAIT_MS have passed.
 */

const WAIT_MS = 180_000;

const inUse = (error: unknown) => error instanceof StratusError && error.code === 'CONFLICT';

/** The first attempt; a refusal for "in use" is noted in `state.data`, not thrown. */
export async function deleteOrWait(
  state: ResourceState,
  run: () => Promise<unknown>,
): Promise<void> {
  try {
    await ignoreGone(run);
    delete state.data.deleteWaiting;
  } catch (error) {
    if (!inUse(error)) throw error;
    state.data.deleteWaiting = (error as Error).message;
    state.data.deleteSince ??= Date.now();
  }
}

/** Later attempts, while the first one was refused. */
export async function retryDelete(
  state: ResourceState,
  run: () => Promise<unknown>,
): Promise<Progress> {
  if (!state.data.deleteWaiting) return { done: true };
  try {
    await ignoreGone(run);
    return { done: true };
  } catch (error) {
    const since = typeof state.data.deleteSince === 'number' ? state.data.deleteSince : Date.now();
    if (!inUse(error) || Date.now() - since > WAIT_MS) throw error;
    return { done: false, reason: `waiting: ${(error as Error).message}` };
  }
}
