import { and, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Database, Tx } from '../../db/connection';
import { orphanBlobs } from '../../db/tables';
import type { Runtime, ServiceContext } from '../runtime';

/*
 * Bytes and rows are kept in step through `orphan_blobs`: a key is recorded there before its
 * bytes are written and removed in the transaction that makes a row point at it; a key whose
 * row goes away is recorded in that same transaction and its bytes deleted after commit. A
 * crash anywhere leaves at worst a recorded key, which the reaper deletes.
 */

/** Records a key about to be written (committed at once, outside any transaction). */
export async function reserveBlobKey(db: Database, storageKey: string): Promise<void> {
  await db.insert(orphanBlobs).values({ storageKey }).onConflictDoNothing();
}

/** In the transaction that references the bytes: they are no longer orphans. */
export async function claimBlobKeys(tx: Tx, storageKeys: string[]): Promise<void> {
  if (storageKeys.length)
    await tx.delete(orphanBlobs).where(inArray(orphanBlobs.storageKey, storageKeys));
}

/** Bytes of a key that will not be referenced: delete them now (an upload that failed). */
export async function discardBlob(rt: Runtime, storageKey: string): Promise<void> {
  await rt.objectStore.delete(storageKey).catch(() => {});
  await rt.db.delete(orphanBlobs).where(eq(orphanBlobs.storageKey, storageKey));
}

/** Marks keys unreferenced in `tx`; their bytes are deleted once it commits. */
export async function deleteBlobsAfterCommit(
  ctx: ServiceContext,
  tx: Tx,
  storageKeys: string[],
  afterCommit: (callback: () => void) => void,
): Promise<void> {
  if (storageKeys.length === 0) return;
  await tx
    .insert(orphanBlobs)
    .values(storageKeys.map((storageKey) => ({ storageKey })))
    .onConflictDoNothing();
  afterCommit(() => {
    void (async () => {
      for (const key of storageKeys) await discardBlob(ctx.rt, key);
    })().catch((err) =>
      ctx.log.warn({ err }, 'deleting blobs after commit failed; the reaper will retry'),
    );
  });
}

/** Deletes bytes of keys recorded longer than `olderThanSeconds` ago (uploads that never finished). */
export async function reapOrphanBlobs(rt: Runtime, olderThanSeconds: number): Promise<number> {
  const rows = await rt.db
    .select()
    .from(orphanBlobs)
    .where(and(lt(orphanBlobs.createdAt, sql`now() - make_interval(secs => ${olderThanSeconds})`)));
  for (const row of rows) await discardBlob(rt, row.storageKey);
  return rows.length;
}
