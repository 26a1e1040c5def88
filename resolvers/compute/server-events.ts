import type { Tx } from '../../db/connection';
import { publishEvent, type StratusEvent } from '../events';
import { type ServerRow, serverStatus } from './server-states';

const DATE_FIELDS = ['launchedAt', 'terminatedAt', 'createdAt', 'updatedAt'] as const;

/**
 * Publishes a server change carrying the whole row as it was committed, so a subscriber sees
 * each state in order (reloading at delivery time would skip the steps that went by quickly).
 * User data stays out: it can be large and is not part of what clients watch.
 */
export function publishServerEvent(tx: Tx, kind: string, row: ServerRow): Promise<StratusEvent> {
  const { userData: _userData, ...rest } = row;
  return publishEvent(tx, {
    kind,
    projectId: row.projectId,
    resourceType: 'Server',
    resourceId: row.id,
    payload: {
      ...rest,
      status: serverStatus(row.vmState, row.taskState),
      ...Object.fromEntries(DATE_FIELDS.map((f) => [f, row[f]?.toISOString() ?? null])),
    },
  });
}

/** The row a server event carried (user data is not in events). */
export function serverFromEvent(event: StratusEvent): ServerRow {
  const p = event.payload as Record<string, unknown>;
  const dates = Object.fromEntries(
    DATE_FIELDS.map((f) => [f, typeof p[f] === 'string' ? new Date(p[f] as string) : null]),
  );
  const { status: _status, ...row } = p;
  return { ...(row as unknown as ServerRow), ...dates, userData: null };
}
