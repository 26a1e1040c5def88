/**
 * In-memory copy of the revocation events, so validating a token is a few map lookups no
 * matter how many revocations are on record. Every process loads the table at start and
 * applies new rows as they arrive over LISTEN/NOTIFY.
 */
export interface RevocationRecord {
  kind: 'token' | 'user' | 'project' | 'application_credential';
  subject: string;
  /** Milliseconds since the epoch. */
  issuedBefore: number;
  expiresAt: number;
}

export interface TokenFacts {
  tokenId: string;
  userId: string;
  projectId: string | null;
  applicationCredentialId: string | null;
  /** Milliseconds since the epoch. */
  issuedAt: number;
}

export class RevocationCache {
  // kind -> subject -> latest issued_before
  private readonly byKind = {
    token: new Map<string, number>(),
    user: new Map<string, number>(),
    project: new Map<string, number>(),
    application_credential: new Map<string, number>(),
  };
  private readonly listeners = new Set<(record: RevocationRecord) => void>();

  /** Records a revocation and tells listeners (open subscriptions re-check their tokens). */
  apply(record: RevocationRecord): void {
    const map = this.byKind[record.kind];
    const prior = map.get(record.subject) ?? 0;
    if (record.issuedBefore > prior) map.set(record.subject, record.issuedBefore);
    for (const listener of this.listeners) listener(record);
  }

  /** Whether any revocation on record matches the token. */
  isRevoked(token: TokenFacts): boolean {
    const at = token.issuedAt;
    return (
      hit(this.byKind.token, token.tokenId, at) ||
      hit(this.byKind.user, token.userId, at) ||
      hit(this.byKind.project, token.projectId, at) ||
      hit(this.byKind.application_credential, token.applicationCredentialId, at)
    );
  }

  onRevocation(listener: (record: RevocationRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get size(): number {
    let n = 0;
    for (const map of Object.values(this.byKind)) n += map.size;
    return n;
  }
}

/** Whether `map` revokes tokens of `key` issued at `issuedAt` (module level: no closure per check). */
function hit(map: Map<string, number>, key: string | null, issuedAt: number): boolean {
  if (key === null) return false;
  const before = map.get(key);
  return before !== undefined && issuedAt <= before;
}
