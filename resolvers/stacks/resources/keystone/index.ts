import type { ResourcePlugin } from '../plugin';
import { keystoneGroup } from './group';
import { keystoneProject } from './project';
import { keystoneRole } from './role';
import { keystoneUser } from './user';
import { keystoneUserRoleAssignment } from './user-role-assignment';

/** The keystone resource types. */
export const plugins: ResourcePlugin[] = [
  keystoneProject,
  keystoneUser,
  keystoneGroup,
  keystoneRole,
  keystoneUserRoleAssignment,
];
