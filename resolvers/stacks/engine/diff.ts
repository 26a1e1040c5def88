import { eq } from 'drizzle-orm';
import type { Tx } from '../../../db/connection';
import { stackResources } from '../../../db/stacks';
import type { Template } from '../template';
import { markOf, withMark } from './marks';
import { physicalName } from './names';
import { currentRows } from './scheduler';
import type { StackResourceRow, StackRow } from './types';

/**
 * Marks what an update (or an update's rollback) has to do to reach `template`: new
 * resources are created, a changed type or a failed resource is replaced (the new row first,
 * the old one deleted in the cleanup), the others are checked for property changes when
 * their turn comes, and resources no longer in the template are deleted. On rollback a
 * replaced resource that still exists is taken back instead of creating another.
 */
export async function applyDefinition(
  tx: Tx,
  stack: StackRow,
  template: Template,
  rows: readonly StackResourceRow[],
  rollback: boolean,
): Promise<void> {
  const current = currentRows(rows);
  const set = (row: StackResourceRow, values: Partial<typeof stackResources.$inferInsert>) =>
    tx.update(stackResources).set(values).where(eq(stackResources.id, row.id));
  for (const [name, res] of Object.entries(template.resources)) {
    const type = res.mappedType;
    const retain = res.deletionPolicy === 'Retain';
    let cur = current.get(name);
    if (rollback && cur) {
      const old = rows.find(
        (r) => r.replacedBy === cur!.id && r.physicalId !== null && r.status !== 'FAILED',
      );
      if (old && old.type === type) {
        await set(old, {
          replacedBy: null,
          requires: res.requires,
          data: withMark(old.data, { pending: 'UPDATE', retain }, markOf(old)),
        });
        await set(cur, {
          replacedBy: old.id,
          data: withMark(cur.data, { pending: 'DELETE' }, markOf(cur)),
        });
        continue;
      }
    }
    if (cur && (cur.type !== type || (cur.status === 'FAILED' && cur.action === 'CREATE'))) {
      const [fresh] = await tx
        .insert(stackResources)
        .values(newRow(stack, name, type, res.requires, retain))
        .returning();
      await set(cur, {
        replacedBy: fresh.id,
        data: withMark(cur.data, { pending: 'DELETE' }, markOf(cur)),
      });
      continue;
    }
    if (!cur) {
      await tx.insert(stackResources).values(newRow(stack, name, type, res.requires, retain));
      continue;
    }
    cur = cur as StackResourceRow;
    const pending = cur.action === 'INIT' ? 'CREATE' : 'UPDATE';
    await set(cur, {
      requires: res.requires,
      data: withMark(cur.data, { pending, retain }, markOf(cur)),
    });
  }
  for (const [name, cur] of current) {
    if (template.resources[name]) continue;
    await set(cur, { data: withMark(cur.data, { pending: 'DELETE' }, markOf(cur)) });
  }
}

/** A row for a resource still to create. */
export function newRow(
  stack: Pick<StackRow, 'id' | 'name'>,
  name: string,
  type: string,
  requires: string[],
  retain: boolean,
): typeof stackResources.$inferInsert {
  return {
    stackId: stack.id,
    name,
    type,
    physicalName: physicalName(stack.name, name),
    requires,
    action: 'INIT',
    status: 'COMPLETE',
    data: withMark({}, { pending: 'CREATE', queuedGen: null, retain }),
  };
}
