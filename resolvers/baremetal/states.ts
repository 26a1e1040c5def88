import { type baremetalNodes, nodeProvisionStateEnum } from '../../db/tables';

/** Ironic's provision state machine: where each verb may start, where it goes, where it ends. */

export type NodeRow = typeof baremetalNodes.$inferSelect;
export type ProvisionState = NodeRow['provisionState'];

/** Every provision state, in the order of the database enum (db/baremetal.ts spells them). */
export const PROVISION_STATES: readonly ProvisionState[] = nodeProvisionStateEnum.enumValues;

/** States a job holds a node in; no other verb, power action or delete starts meanwhile. */
export const TRANSITIONAL: readonly ProvisionState[] = [
  'verifying',
  'inspecting',
  'deploying',
  'wait call-back',
  'deleting',
  'cleaning',
  'clean wait',
];

/** Ironic's provision_state targets. */
export type Verb = 'manage' | 'inspect' | 'provide' | 'deploy' | 'deleted' | 'abort';

export interface VerbRule {
  from: readonly ProvisionState[];
  /**
   * The state the node enters at once: a job's first state, or (for `manage` out of a failed
   * state, and `abort`) the state it ends in without a job.
   */
  enter: (from: ProvisionState) => ProvisionState;
  /** Whether a job runs (false: the change is done in the request's transaction). */
  job: (from: ProvisionState) => boolean;
  /** Ironic's target_provision_state while the job runs. */
  target: ProvisionState | null;
}

export const VERB_RULES: Record<Verb, VerbRule> = {
  // enroll → verifying → manageable; out of a failed inspect or clean straight back.
  manage: {
    from: ['enroll', 'inspect failed', 'clean failed'],
    enter: (from) => (from === 'enroll' ? 'verifying' : 'manageable'),
    job: (from) => from === 'enroll',
    target: 'manageable',
  },
  inspect: {
    from: ['manageable', 'inspect failed'],
    enter: () => 'inspecting',
    job: () => true,
    target: 'manageable',
  },
  provide: {
    from: ['manageable'],
    enter: () => 'cleaning',
    job: () => true,
    target: 'available',
  },
  deploy: {
    from: ['available'],
    enter: () => 'deploying',
    job: () => true,
    target: 'active',
  },
  // Ironic's "deleted" (undeploy): tear down, then clean.
  deleted: {
    from: ['active', 'deploy failed', 'error'],
    enter: () => 'deleting',
    job: () => true,
    target: 'available',
  },
  // Stops a wait: the running job finds the node moved on and drops its result.
  abort: {
    from: ['wait call-back', 'clean wait', 'inspecting', 'verifying'],
    enter: (from) => ABORTED[from] ?? 'error',
    job: () => false,
    target: null,
  },
};

const ABORTED: Partial<Record<ProvisionState, ProvisionState>> = {
  'wait call-back': 'deploy failed',
  'clean wait': 'clean failed',
  inspecting: 'inspect failed',
  verifying: 'enroll',
};

/** Where a node may be deleted from (Ironic: not while deployed or in a job). */
export const DELETABLE: readonly ProvisionState[] = [
  'enroll',
  'manageable',
  'available',
  'inspect failed',
  'clean failed',
  'error',
];

/** Where a power or boot-device action may run: anywhere a job does not hold the node. */
export const POWER_ALLOWED: readonly ProvisionState[] = PROVISION_STATES.filter(
  (s) => !TRANSITIONAL.includes(s),
);
