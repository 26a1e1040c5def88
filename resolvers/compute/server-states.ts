import type { servers } from '../../db/tables';

/** Nova's state machine for servers: vm_state (at rest) + task_state (in progress) → status. */

export type ServerRow = typeof servers.$inferSelect;
export type VmState = ServerRow['vmState'];
export type PowerState = ServerRow['powerState'];

export type ServerStatus =
  | 'BUILD'
  | 'ACTIVE'
  | 'SHUTOFF'
  | 'PAUSED'
  | 'SUSPENDED'
  | 'REBOOT'
  | 'HARD_REBOOT'
  | 'RESIZE'
  | 'VERIFY_RESIZE'
  | 'REVERT_RESIZE'
  | 'REBUILD'
  | 'ERROR'
  | 'DELETED';

export const SERVER_STATUSES: readonly ServerStatus[] = [
  'BUILD',
  'ACTIVE',
  'SHUTOFF',
  'PAUSED',
  'SUSPENDED',
  'REBOOT',
  'HARD_REBOOT',
  'RESIZE',
  'VERIFY_RESIZE',
  'REVERT_RESIZE',
  'REBUILD',
  'ERROR',
  'DELETED',
];

const AT_REST: Record<VmState, ServerStatus> = {
  building: 'BUILD',
  active: 'ACTIVE',
  stopped: 'SHUTOFF',
  paused: 'PAUSED',
  suspended: 'SUSPENDED',
  resized: 'VERIFY_RESIZE',
  error: 'ERROR',
  deleted: 'DELETED',
};

/** The API status, as nova/api/openstack/common.py derives it. */
export function serverStatus(vmState: VmState, taskState: string | null): ServerStatus {
  if (vmState === 'deleted' || vmState === 'building') return AT_REST[vmState];
  switch (taskState) {
    case 'rebooting':
      return 'REBOOT';
    case 'rebooting_hard':
      return 'HARD_REBOOT';
    case 'rebuilding':
    case 'rebuild_spawning':
      return 'REBUILD';
    case 'resize_prep':
    case 'resize_migrating':
    case 'resize_finish':
      return 'RESIZE';
    case 'resize_reverting':
      return 'REVERT_RESIZE';
    default:
      return AT_REST[vmState];
  }
}

/** vm_states each status filter covers (for `servers(filter: {status})`). */
export function statusCondition(status: ServerStatus): {
  vmStates: VmState[];
  taskStates?: string[];
  excludeTaskStates?: string[];
} {
  const transitional: Partial<Record<ServerStatus, string[]>> = {
    REBOOT: ['rebooting'],
    HARD_REBOOT: ['rebooting_hard'],
    REBUILD: ['rebuilding', 'rebuild_spawning'],
    RESIZE: ['resize_prep', 'resize_migrating', 'resize_finish'],
    REVERT_RESIZE: ['resize_reverting'],
  };
  const tasks = transitional[status];
  if (tasks) {
    return {
      vmStates: ['active', 'stopped', 'paused', 'suspended', 'resized', 'error'],
      taskStates: tasks,
    };
  }
  const vmStates = (Object.keys(AT_REST) as VmState[]).filter((v) => AT_REST[v] === status);
  const allTransitional = Object.values(transitional).flat();
  return vmStates.includes('building') || vmStates.includes('deleted')
    ? { vmStates }
    : { vmStates, excludeTaskStates: allTransitional };
}

/** Actions that go through a job, with the states they start from and the task they run as. */
export type SlowAction =
  | 'start'
  | 'stop'
  | 'reboot'
  | 'pause'
  | 'unpause'
  | 'suspend'
  | 'resume'
  | 'rebuild'
  | 'resize'
  | 'confirmResize'
  | 'revertResize'
  | 'createImage';

export interface ActionRule {
  /** vm_states the action may start from (Nova's check_instance_state). */
  from: VmState[];
  /** task_state while the action runs. */
  task: string;
  /** Stages its operation reports. */
  stages: string[];
}

export const ACTION_RULES: Record<SlowAction, ActionRule> = {
  start: { from: ['stopped'], task: 'powering-on', stages: ['powering-on'] },
  stop: { from: ['active', 'error'], task: 'powering-off', stages: ['powering-off'] },
  reboot: {
    from: ['active', 'stopped', 'paused', 'suspended', 'error'],
    task: 'rebooting',
    stages: ['rebooting'],
  },
  pause: { from: ['active'], task: 'pausing', stages: ['pausing'] },
  unpause: { from: ['paused'], task: 'unpausing', stages: ['unpausing'] },
  suspend: { from: ['active'], task: 'suspending', stages: ['suspending'] },
  resume: { from: ['suspended'], task: 'resuming', stages: ['resuming'] },
  rebuild: {
    from: ['active', 'stopped', 'error'],
    task: 'rebuilding',
    stages: ['powering-off', 'fetching-image', 'rebuilding', 'spawning'],
  },
  resize: {
    from: ['active', 'stopped'],
    task: 'resize_prep',
    stages: ['scheduling', 'powering-off', 'resizing', 'spawning'],
  },
  confirmResize: { from: ['resized'], task: 'resize_confirming', stages: ['confirming'] },
  revertResize: {
    from: ['resized'],
    task: 'resize_reverting',
    stages: ['powering-off', 'reverting', 'spawning'],
  },
  createImage: {
    from: ['active', 'stopped', 'paused', 'suspended'],
    task: 'image_snapshot',
    stages: ['snapshotting', 'uploading'],
  },
};

/** Stages of a build: what `createServer`'s operation reports. */
export const BUILD_STAGES = ['scheduling', 'fetching-image', 'creating-disk', 'spawning'];
export const DELETE_STAGES = ['deleting'];

/** vm_state a server rests in when its hypervisor reports `power`. */
export function restingStateFor(power: PowerState): VmState {
  switch (power) {
    case 'running':
      return 'active';
    case 'paused':
      return 'paused';
    case 'suspended':
      return 'suspended';
    default:
      return 'stopped';
  }
}
