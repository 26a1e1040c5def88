import { lt, sql } from 'drizzle-orm';
import type { Database, Tx } from '../../db/connection';
import { revocations } from '../../db/tables';
import type { RevocationCache, RevocationRecord } from './revocation-cache';

export const REVOCATIONS_CHANNEL = 'stratus_revocations';

/**
 * Records that tokens matching (kind, subject) issued until now are invalid, and notifies
 * every process. Returns the record so the caller can apply it locally once committed.
 */
export async function recordRevocation(
  tx: Tx,
  kind: RevocationRecord['kind'],
  subject: string,
  tokenTtlSeconds: number,
): Promise<RevocationRecord> {
  const now = Date.now();
  const record: RevocationRecord = {
    kind,
    subject,
    issuedBefore: now,
    // A token issued just before now lives at most one TTL; after that the row is moot.
    expiresAt: now + tokenTtlSeconds * 1000 + 60_000,
  };
  await tx.insert(revocations).values({
    kind,
    subject,
    issuedBefore: new Date(record.issuedBefore),
    expiresAt: new Date(record.expiresAt),
  });
  await tx.execute(sql`select pg_notify(${REVOCATIONS_CHANNEL}, ${JSON.stringify(record)})`);
  return record;
}

/** Loads every live revocation into the cache (at process start). */
export async function loadRevocations(db: Database, cache: RevocationCache): Promise<number> {
  const rows = await db.select().from(revocations).where(sql`${revocations.expiresAt} > now()`);
  for (const row of rows) {
    cache.apply({
      kind: row.kind,
      subject: row.subject,
      issuedBefore: row.issuedBefore.getTime(),
      expiresAt: row.expiresAt.getTime(),
    });
  }
  return rows.length;
}

/** Deletes revocations no live token can match any more. */
export async function pruneRevocations(db: Database): Promise<void> {
  await db.delete(revocations).where(lt(revocations.expiresAt, new Date()));
}

/** Revokes every token of each user (on disable, delete, lost role or group); applied locally after commit. */
export async function revokeUsersTokens(
  tx: Tx,
  userIds: Iterable<string>,
  ttlSeconds: number,
  cache: RevocationCache,
  afterCommit: (callback: () => void) => void,
): Promise<void> {
  for (const userId of new Set(userIds)) {
    const record = await recordRevocation(tx, 'user', userId, ttlSeconds);
    afterCommit(() => cache.apply(record));
  }
}
