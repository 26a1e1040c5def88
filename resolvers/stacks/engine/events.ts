import type { Tx } from '../../../db/connection';
import type { StackAction, StackStatus } from '../../../db/stacks';
import { stackEvents } from '../../../db/stacks';
import { publishEvent } from '../../events';
import type { StackRow } from './types';

/** Heat's stack state names, e.g. CREATE_IN_PROGRESS. */
export const stateName = (action: StackAction, status: StackStatus) => `${action}_${status}`;

interface EventInput {
  action: StackAction;
  status: StackStatus;
  reason: string;
  /** Absent: a stack-level event. */
  resource?: { name: string; type: string; physicalId: string | null };
}

/**
 * Records a stack or resource state change: a stack_events row and a published event (kind
 * STACK_<state> or STACK_RESOURCE_<state>, resourceType 'stack', resourceId the stack id), in
 * the caller's transaction.
 */
export async function recordEvent(
  tx: Tx,
  stack: Pick<StackRow, 'id' | 'name' | 'projectId' | 'parentStackId'>,
  e: EventInput,
): Promise<void> {
  const resourceName = e.resource?.name ?? stack.name;
  const resourceType = e.resource?.type ?? 'OS::Heat::Stack';
  const physicalId = e.resource ? e.resource.physicalId : stack.id;
  const [row] = await tx
    .insert(stackEvents)
    .values({
      stackId: stack.id,
      projectId: stack.projectId,
      resourceName,
      resourceType,
      physicalId,
      action: e.action,
      status: e.status,
      statusReason: e.reason,
    })
    .returning({ id: stackEvents.id });
  await publishEvent(tx, {
    kind: `STACK_${e.resource ? 'RESOURCE_' : ''}${stateName(e.action, e.status)}`,
    projectId: stack.projectId,
    resourceType: 'stack',
    resourceId: stack.id,
    payload: {
      eventId: row.id,
      stackName: stack.name,
      parentStackId: stack.parentStackId,
      resourceName,
      resourceType,
      physicalId,
      action: e.action,
      status: e.status,
      reason: e.reason,
    },
  });
}
