import { sql } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import { quotaLimits, quotaUsage } from '../../db/tables';
import { reserveQuota } from '../quotas';

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
  const { rows } = await tx.execute(sql`
    update ${quotaUsage} u set in_use = u.in_use + ${amount}
    from (select coalesce(
            (select hard_limit from ${quotaLimits} where project_id = ${projectId} and resource = ${resource}),
            ${fallback}) as lim) l
    where u.project_id = ${projectId} and u.resource = ${resource}
      and (l.lim < 0 or u.in_use + ${amount} <= l.lim)
    returning u.in_use`);
  if (rows.length === 0) await reserveQuota(tx, defaults, projectId, { [resource]: amount });
}
