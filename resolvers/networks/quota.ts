import { sql } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import { quotaLimits, quotaUsage } from '../../db/tables';
import { reserveQuota } from '../quotas';
import {
  type EventRow,
  eventCtes,
  type NetworkResourceType,
  NOTIFY,
  publishNetworkEvent,
} from './sync';

/**
 * `reserveQuota` for one resource in one statement when it can: an UPDATE that adds `amount`
 * only while the limit holds (READ COMMITTED re-checks the condition on the newest row after
 * waiting for a concurrent reservation, so the limit holds under any concurrency). The
 * project's usage row is then locked for one round trip less than three. When nothing is
 * updated (no usage row yet, or over the limit) `reserveQuota` decides and names the error.
 */
export async function reserveOne(
  tx: Tx,
  defaults: Record<string, number>,
  projectId: string,
  resource: string,
  amount: number,
): Promise<void> {
  const fallback = defaults[resource];
  if (fallback === undefined) throw new Error(`reserveOne: unknown resource "${resource}"`);
  const { rows } = await tx.execute(conditionalUpdate(projectId, resource, amount, fallback));
  if (rows.length === 0) await reserveQuota(tx, defaults, projectId, { [resource]: amount });
}

/**
 * `reserveOne` and `publishNetworkEvent` in one statement, the last of a create: the
 * project's usage row is then held for this statement and COMMIT only. The event is written
 * only when the reservation was; otherwise the two run the long way (which names the error).
 */
export async function reserveAndPublish(
  tx: Tx,
  defaults: Record<string, number>,
  projectId: string,
  resource: string,
  amount: number,
  event: { kind: string; resourceType: NetworkResourceType; row: EventRow },
): Promise<void> {
  const fallback = defaults[resource];
  if (fallback === undefined) throw new Error(`reserveAndPublish: unknown resource "${resource}"`);
  const { rows } = await tx.execute<{ reserved: number }>(sql`
    with reserved as (${conditionalUpdate(projectId, resource, amount, fallback)}),
    ${eventCtes(event.kind, event.resourceType, event.row, 'reserved')}
    select (select count(*) from reserved)::int as reserved, (select count(${NOTIFY}) from message)::int as sent`);
  if (Number(rows[0]?.reserved) > 0) return;
  await reserveQuota(tx, defaults, projectId, { [resource]: amount });
  await publishNetworkEvent(tx, event.kind, event.resourceType, event.row);
}

/** Adds `amount` to the usage row only while the limit (set or default) holds; returns a row if it did. */
function conditionalUpdate(projectId: string, resource: string, amount: number, fallback: number) {
  return sql`update ${quotaUsage} u set in_use = u.in_use + ${amount}
    from (select coalesce(
            (select hard_limit from ${quotaLimits} where project_id = ${projectId} and resource = ${resource}),
            ${fallback}) as lim) l
    where u.project_id = ${projectId} and u.resource = ${resource}
      and (l.lim < 0 or u.in_use + ${amount} <= l.lim)
    returning 1 as ok`;
}
