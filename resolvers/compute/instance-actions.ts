import { and, desc, eq, inArray, isNull } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../../db/connection';
import { instanceActionEvents, instanceActions } from '../../db/tables';
import { publishEvent, type StratusEvent } from '../events';

export type InstanceActionRow = typeof instanceActions.$inferSelect;
export type InstanceActionEventRow = typeof instanceActionEvents.$inferSelect;

export interface ActionStart {
  serverId: string;
  projectId: string;
  userId: string | null;
  action: string;
  requestId: string;
}

/** Records that someone asked for `action` (in the caller's transaction), as Nova's instance action. */
export async function recordAction(tx: Tx, start: ActionStart): Promise<InstanceActionRow> {
  const [row] = await tx.insert(instanceActions).values(start).returning();
  await actionEvent(tx, row, 'INSTANCE_ACTION_STARTED');
  return row;
}

/** Worker side: a step of the action begins; returns its id for `finishActionEvent`. */
export async function startActionEvent(
  db: DbOrTx,
  actionId: string,
  event: string,
): Promise<string> {
  const [row] = await db.insert(instanceActionEvents).values({ actionId, event }).returning();
  return row.id;
}

/** Worker side: a step ended, with `Success` or `Error` and host-side details on failure. */
export async function finishActionEvent(
  db: DbOrTx,
  eventId: string,
  result: 'Success' | 'Error',
  details?: string,
): Promise<void> {
  await db
    .update(instanceActionEvents)
    .set({ result, details: details ?? null, finishTime: new Date() })
    .where(eq(instanceActionEvents.id, eventId));
}

/** Worker side: the action is over; `message` says why it failed (Nova's action message). */
export async function finishAction(tx: Tx, actionId: string, message: string | null) {
  const [row] = await tx
    .update(instanceActions)
    .set({ finishTime: new Date(), message })
    .where(and(eq(instanceActions.id, actionId), isNull(instanceActions.finishTime)))
    .returning();
  if (row) await actionEvent(tx, row, 'INSTANCE_ACTION_FINISHED');
}

/** Runs `step` as the named event of an action, recording its result either way. */
export async function inActionEvent<T>(
  db: DbOrTx,
  actionId: string,
  event: string,
  step: () => Promise<T>,
): Promise<T> {
  const eventId = await startActionEvent(db, actionId, event);
  try {
    const result = await step();
    await finishActionEvent(db, eventId, 'Success');
    return result;
  } catch (error) {
    await finishActionEvent(db, eventId, 'Error', String(error));
    throw error;
  }
}

export async function listServerActions(
  db: DbOrTx,
  serverIds: readonly string[],
): Promise<InstanceActionRow[][]> {
  const rows = serverIds.length
    ? await db
        .select()
        .from(instanceActions)
        .where(inArray(instanceActions.serverId, [...serverIds]))
        .orderBy(desc(instanceActions.startTime), desc(instanceActions.id))
    : [];
  return serverIds.map((id) => rows.filter((r) => r.serverId === id));
}

/** The newest action of each server, in one statement. */
export async function latestServerActions(
  db: DbOrTx,
  serverIds: readonly string[],
): Promise<Array<InstanceActionRow | null>> {
  const rows = serverIds.length
    ? await db
        .selectDistinctOn([instanceActions.serverId])
        .from(instanceActions)
        .where(inArray(instanceActions.serverId, [...serverIds]))
        .orderBy(
          instanceActions.serverId,
          desc(instanceActions.startTime),
          desc(instanceActions.id),
        )
    : [];
  const byServer = new Map(rows.map((r) => [r.serverId, r]));
  return serverIds.map((id) => byServer.get(id) ?? null);
}

export async function listActionEvents(
  db: DbOrTx,
  actionIds: readonly string[],
): Promise<InstanceActionEventRow[][]> {
  const rows = actionIds.length
    ? await db
        .select()
        .from(instanceActionEvents)
        .where(inArray(instanceActionEvents.actionId, [...actionIds]))
        .orderBy(instanceActionEvents.startTime, instanceActionEvents.id)
    : [];
  return actionIds.map((id) => rows.filter((r) => r.actionId === id));
}

/** The event carries the action as committed, so subscribers see each state, not the latest. */
function actionEvent(tx: Tx, row: InstanceActionRow, kind: string) {
  return publishEvent(tx, {
    kind,
    projectId: row.projectId,
    resourceType: 'InstanceAction',
    resourceId: row.id,
    payload: {
      ...row,
      startTime: row.startTime.toISOString(),
      finishTime: row.finishTime?.toISOString() ?? null,
    },
  });
}

/** The action row an instance action event carried. */
export function actionFromEvent(event: StratusEvent): InstanceActionRow {
  const p = event.payload as Record<string, unknown>;
  return {
    ...(p as unknown as InstanceActionRow),
    startTime: new Date(p.startTime as string),
    finishTime: typeof p.finishTime === 'string' ? new Date(p.finishTime) : null,
  };
}
