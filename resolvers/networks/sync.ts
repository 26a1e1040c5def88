import { type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/connection';
import { events } from '../../db/tables';
import { auditCte } from '../audit/scope';
import { onHost } from '../compute/jobs';
import { EVENTS_CHANNEL, PUBLISH_LOCK } from '../events';

/**
 * Jobs that make the data path match the database (the network driver's `ensure*`/`delete*`).
 * Each is keyed by the object it syncs, so many changes in a row collapse into one run that
 * reads the state as it is then (graphile-worker job keys, `preserve_run_at`: a job already
 * waiting keeps its place; one already running gets a fresh successor).
 */
export const NETWORK_SYNC_JOB = 'network.sync';
export const ROUTER_SYNC_JOB = 'router.sync';
/** Ports are plugged where their server runs: `port.sync@<host>`. */
export const PORT_SYNC_JOB = 'port.sync';

async function addKeyedJob(db: DbOrTx, name: string, key: string, payload: object): Promise<void> {
  await db.execute(
    sql`select graphile_worker.add_job(${name}, ${JSON.stringify(payload)}::json, max_attempts => 5, job_key => ${key}, job_key_mode => 'preserve_run_at')`,
  );
}

export function syncNetwork(db: DbOrTx, networkId: string): Promise<void> {
  return addKeyedJob(db, NETWORK_SYNC_JOB, `${NETWORK_SYNC_JOB}:${networkId}`, { networkId });
}

export function syncRouter(db: DbOrTx, routerId: string): Promise<void> {
  return addKeyedJob(db, ROUTER_SYNC_JOB, `${ROUTER_SYNC_JOB}:${routerId}`, { routerId });
}

/** Syncs a port on the host it is bound to; an unbound port has nothing on any host. */
export async function syncPort(
  db: DbOrTx,
  port: { id: string; bindingHost: string | null },
): Promise<void> {
  if (!port.bindingHost) return;
  await addKeyedJob(db, onHost(PORT_SYNC_JOB, port.bindingHost), `${PORT_SYNC_JOB}:${port.id}`, {
    portId: port.id,
  });
}

/**
 * Publishes a change of a networks-domain object (subscribers reload what they may see). The
 * same protocol as `publishEvent` (resolvers/events.ts: its advisory lock, table, channel and
 * JSON, the cursor alone when too large for NOTIFY, the audit record) in ONE statement: the global publish lock
 * is then held for this statement and COMMIT only, not for three round trips through a busy
 * event loop; that lock is what bounds port creation across projects (docs/benchmarks.md).
 */
export async function publishNetworkEvent(
  db: DbOrTx,
  kind: string,
  resourceType: NetworkResourceType,
  row: EventRow,
): Promise<void> {
  await db.execute(
    sql`with ${eventCtes(kind, resourceType, row, null)} select ${NOTIFY} from message`,
  );
}

export type NetworkResourceType =
  | 'Network'
  | 'Subnet'
  | 'Port'
  | 'Router'
  | 'FloatingIp'
  | 'SecurityGroup';
export type EventRow = { id: string; projectId: string; status?: string };

/**
 * The CTEs `locked`, `stored` and `message` that publish one event; with `gate`, only when
 * that relation (an earlier CTE) has rows. Selecting `NOTIFY` from `message` sends it.
 */
export function eventCtes(
  kind: string,
  resourceType: NetworkResourceType,
  row: EventRow,
  gate: string | null,
): SQL {
  const payload = JSON.stringify({ id: row.id, status: row.status ?? null });
  return sql`locked as (select pg_advisory_xact_lock(${PUBLISH_LOCK})${gate ? sql.raw(` from ${gate}`) : sql``}),
    stored as (
      insert into ${events} (kind, project_id, resource_type, resource_id, payload)
      select ${kind}, ${row.projectId}, ${resourceType}, ${row.id}, ${payload}::jsonb from locked
      returning *
    ),
    ${auditCte('stored')},
    message as (
      select id, json_build_object(
        'cursor', id::text, 'kind', kind, 'projectId', project_id, 'resourceType', resource_type,
        'resourceId', resource_id, 'payload', payload,
        'createdAt', to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      )::text as json from stored
    )`;
}

/** NOTIFY payloads are capped at 8000 bytes (as in resolvers/events.ts): larger ones send the cursor. */
const NOTIFY_LIMIT = 7900;
export const NOTIFY = sql`pg_notify(${EVENTS_CHANNEL}, case when octet_length(json) < ${NOTIFY_LIMIT} then json else id::text end)`;
