import { and, eq, exists, or, type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/connection';
import { imageMembers, images } from '../../db/tables';
import {
  type AuthContext,
  canSeeProject,
  hasRole,
  isAdmin,
  scopedProjectId,
} from '../identity/auth-context';

export type ImageRow = typeof images.$inferSelect;

/**
 * Glance's visibility: admins see everything; a project sees its own images, public and
 * community ones, and shared ones it is a member of (listed once accepted).
 */
export function visibleImagesWhere(
  db: Database,
  auth: AuthContext | null,
  forListing: boolean,
): SQL | undefined {
  if (isAdmin(auth)) return undefined;
  const own = scopedProjectId(auth);
  if (!own || !hasRole(auth, 'reader'))
    return or(eq(images.visibility, 'public'), eq(images.visibility, 'community'));
  const member = exists(
    db
      .select({ one: sql`1` })
      .from(imageMembers)
      .where(
        and(
          eq(imageMembers.imageId, images.id),
          eq(imageMembers.memberProjectId, own),
          forListing ? eq(imageMembers.status, 'accepted') : undefined,
        ),
      ),
  );
  return or(
    eq(images.ownerProjectId, own),
    eq(images.visibility, 'public'),
    forListing ? undefined : eq(images.visibility, 'community'),
    and(eq(images.visibility, 'shared'), member),
  );
}

/** Owners (members of the owning project) and admins change an image. */
export function canModifyImage(auth: AuthContext | null, image: ImageRow): boolean {
  return (
    isAdmin(auth) || (scopedProjectId(auth) === image.ownerProjectId && hasRole(auth, 'member'))
  );
}

export function isOwner(auth: AuthContext | null, image: ImageRow): boolean {
  return canSeeProject(auth, image.ownerProjectId);
}
