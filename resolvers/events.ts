import { lt, sql } from 'drizzle-orm';
import type { Database, Tx } from '../db/connection';
import { events } from '../db/tables';
import { auditCte } from './audit/scope';

/** One state change, as stored and as delivered to subscribers. */
export interface StratusEvent {
  /** Monotonic cursor: a client resumes `after` the last one it saw. */
  cursor: string;
  kind: string;
  projectId: string | null;
  resourceType: string;
  resourceId: string;
  payload: Record<string, unknown>;
  createdAt: string;
}

export type NewEvent = Omit<StratusEvent, 'cursor' | 'createdAt'>;

export const EVENTS_CHANNEL = 'stratus_events';
/** NOTIFY payloads are capped at 8000 bytes; larger events are sent as their cursor alone. */
const NOTIFY_LIMIT = 7900;
export const PUBLISH_LOCK = 7243002;

/**
 * Stores the event and notifies every Stratus process, inside the caller's transaction: the
 * event exists if and only if the change committed. The advisory lock serialises publishers
 * until commit, so cursors become visible in increasing order and a resume never skips one.
 */
export async function publishEvent(tx: Tx, event: NewEvent): Promise<StratusEvent> {
  await tx.execute(sql`select pg_advisory_xact_lock(${PUBLISH_LOCK})`);
  // The audit record goes in with the event, in the same statement (resolvers/audit/scope.ts).
  const { rows } = await tx.execute<{ event: StratusEvent }>(sql`with stored as (
      insert into ${events} (kind, project_id, resource_type, resource_id, payload)
      values (${event.kind}, ${event.projectId}, ${event.resourceType}, ${event.resourceId}, ${JSON.stringify(event.payload)}::jsonb)
      returning *
    ), ${auditCte('stored')}
    select json_build_object(
      'cursor', id::text, 'kind', kind, 'projectId', project_id, 'resourceType', resource_type,
      'resourceId', resource_id, 'payload', payload,
      'createdAt', to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    ) as event from stored`);
  const stored = rows[0].event;
  const json = JSON.stringify(stored);
  const message = Buffer.byteLength(json) < NOTIFY_LIMIT ? json : stored.cursor;
  await tx.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${message})`);
  return stored;
}

export function toStratusEvent(row: typeof events.$inferSelect): StratusEvent {
  return {
    cursor: String(row.id),
    kind: row.kind,
    projectId: row.projectId,
    resourceType: row.resourceType,
    resourceId: row.resourceId,
    payload: row.payload,
    createdAt: row.createdAt.toISOString(),
  };
}

/** Deletes events older than the retention; a client resuming from a pruned cursor gets what is left. */
export async function pruneEvents(db: Database, retentionSeconds: number): Promise<number> {
  const cutoff = new Date(Date.now() - retentionSeconds * 1000);
  const deleted = await db
    .delete(events)
    .where(lt(events.createdAt, cutoff))
    .returning({ id: events.id });
  return deleted.length;
}
