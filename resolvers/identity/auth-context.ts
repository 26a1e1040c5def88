/** Who is calling, as proven by a validated token. */
export type TokenScope =
  | { kind: 'project'; projectId: string; domainId: string }
  | { kind: 'domain'; domainId: string }
  | { kind: 'system' }
  | { kind: 'unscoped' };

export interface AuthContext {
  tokenId: string;
  userId: string;
  domainId: string;
  scope: TokenScope;
  /** Effective role names on the scope, implied roles included (admin > member > reader). */
  roles: string[];
  issuedAt: Date;
  expiresAt: Date;
  method: 'password' | 'application_credential';
  applicationCredentialId: string | null;
}

/** Built-in roles and what each implies, as `keystone-manage bootstrap` sets them up. */
export const BUILT_IN_ROLES = ['admin', 'member', 'reader'] as const;
const IMPLIES: Record<string, string[]> = { admin: ['member', 'reader'], member: ['reader'] };

/** Expands role names with the roles they imply, without duplicates, sorted. */
export function withImpliedRoles(names: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const name of names) {
    out.add(name);
    for (const implied of IMPLIES[name] ?? []) out.add(implied);
  }
  return [...out].sort();
}

/**
 * Cloud admin: the `admin` role on any scope, as in Keystone's default policy before
 * scope enforcement. Admin role assignments can only be made by an admin.
 */
export function isAdmin(auth: AuthContext | null): boolean {
  return auth?.roles.includes('admin') ?? false;
}

export function hasRole(auth: AuthContext | null, role: string): boolean {
  return auth?.roles.includes(role) ?? false;
}

/** The project the token is scoped to, if any. */
export function scopedProjectId(auth: AuthContext | null): string | null {
  return auth?.scope.kind === 'project' ? auth.scope.projectId : null;
}

/** Whether the caller may read things that belong to `projectId`. */
export function canSeeProject(auth: AuthContext | null, projectId: string | null): boolean {
  if (!auth) return false;
  if (isAdmin(auth)) return true;
  return projectId !== null && scopedProjectId(auth) === projectId && hasRole(auth, 'reader');
}
