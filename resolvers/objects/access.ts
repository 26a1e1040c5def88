import type { containers } from '../../db/tables';
import {
  type AuthContext,
  canSeeProject,
  hasRole,
  isAdmin,
  scopedProjectId,
} from '../identity/auth-context';

export type ContainerRow = typeof containers.$inferSelect;

/**
 * Who may read a container's objects: its project's readers, admins, anyone when the ACL is
 * PUBLIC (Swift's `.r:*`), and readers of the listed projects when it is PROJECTS.
 */
export function canReadContainer(auth: AuthContext | null, container: ContainerRow): boolean {
  if (container.readAcl === 'PUBLIC') return true;
  if (canSeeProject(auth, container.projectId)) return true;
  if (container.readAcl === 'PROJECTS') {
    const own = scopedProjectId(auth);
    return own !== null && hasRole(auth, 'reader') && container.readProjectIds.includes(own);
  }
  return false;
}

/** Who may write: the project's members and admins. ACLs never grant writes. */
export function canWriteContainer(auth: AuthContext | null, container: ContainerRow): boolean {
  if (isAdmin(auth)) return true;
  return scopedProjectId(auth) === container.projectId && hasRole(auth, 'member');
}
