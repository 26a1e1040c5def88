import { type AuthContext, hasRole } from './identity/auth-context';

/**
 * Who may call what: the one table every authorization decision comes from. The schema
 * names an action on each field and mutation; row-level rules ("only your own project")
 * live in the services and narrow what an allowed caller sees.
 *
 * - public: no token needed
 * - authenticated: any valid token, even unscoped
 * - reader / member / admin: the token holds that role (admin implies member implies reader)
 */
export type Rule = 'public' | 'authenticated' | 'reader' | 'member' | 'admin';

export const POLICY = {
  // tokens
  'identity:login': 'public',
  'identity:get_viewer': 'authenticated',
  'identity:revoke_token': 'authenticated',
  'identity:revoke_user_tokens': 'admin',
  'identity:change_password': 'authenticated',
  // catalog
  'catalog:get': 'authenticated',
  // domains, projects, users, groups, roles
  'identity:list_domains': 'admin',
  'identity:create_domain': 'admin',
  'identity:update_domain': 'admin',
  'identity:delete_domain': 'admin',
  'identity:list_projects': 'reader',
  'identity:create_project': 'admin',
  'identity:update_project': 'admin',
  'identity:delete_project': 'admin',
  'identity:list_users': 'admin',
  'identity:create_user': 'admin',
  'identity:update_user': 'admin',
  'identity:delete_user': 'admin',
  'identity:list_groups': 'admin',
  'identity:create_group': 'admin',
  'identity:update_group': 'admin',
  'identity:delete_group': 'admin',
  'identity:manage_group_members': 'admin',
  'identity:list_roles': 'reader',
  'identity:create_role': 'admin',
  'identity:update_role': 'admin',
  'identity:delete_role': 'admin',
  'identity:list_role_assignments': 'admin',
  'identity:assign_role': 'admin',
  'identity:unassign_role': 'admin',
  // application credentials: always the caller's own
  'identity:list_application_credentials': 'authenticated',
  'identity:create_application_credential': 'reader',
  'identity:delete_application_credential': 'authenticated',
  // identity change stream
  'identity:subscribe_changes': 'admin',
  // quotas
  'quota:get': 'reader',
  'quota:set': 'admin',
  // object storage (Swift): readers read, members write, in their own project
  'objects:list_containers': 'reader',
  'objects:create_container': 'member',
  'objects:update_container': 'member',
  'objects:delete_container': 'member',
  'objects:write_object': 'member',
  'objects:create_temp_url': 'member',
  // compute (Nova): flavors are admin-made and visible to all; keypairs belong to their user
  'compute:list_flavors': 'authenticated',
  'compute:manage_flavors': 'admin',
  'compute:manage_keypairs': 'authenticated',
  // servers: readers look, members act, in their own project; host-level detail is for admins
  'compute:list_servers': 'reader',
  'compute:create_server': 'member',
  'compute:server_action': 'member',
  'compute:delete_server': 'member',
  'compute:console_output': 'member',
  'compute:get_host_details': 'admin',
  'compute:list_hypervisors': 'admin',
  'compute:list_server_groups': 'reader',
  'compute:manage_server_groups': 'member',
  // images (Glance): anyone may list what is visible; members create and change their own
  'images:list': 'authenticated',
  'images:create': 'member',
  'images:modify': 'member',
  'images:deactivate': 'admin',
  'images:answer_membership': 'member',
  // volumes (Cinder): readers look, members act, in their own project; types are admin-made
  'volume:list': 'reader',
  'volume:create': 'member',
  'volume:update': 'member',
  'volume:delete': 'member',
  'volume:extend': 'member',
  'volume:attach': 'member',
  'volume:manage_snapshots': 'member',
  'volume:list_types': 'reader',
  'volume:manage_types': 'admin',
  'volume:get_host_details': 'admin',
  // networks (Neutron): readers look (shared and external networks too), members change their own
  'network:list': 'reader',
  'network:manage_networks': 'member',
  'network:manage_subnets': 'member',
  'network:manage_ports': 'member',
  'network:manage_security_groups': 'member',
  'network:manage_routers': 'member',
  'network:manage_floating_ips': 'member',
  'network:get_binding': 'admin',
  // bare metal (Ironic): nodes are the operator's, admin only
  'baremetal:list_nodes': 'admin',
  'baremetal:manage_nodes': 'admin',
  'baremetal:provision_nodes': 'admin',
  'baremetal:power_nodes': 'admin',
  // operations and events
  'operation:list': 'reader',
  'operation:start_test': 'member',
  'event:subscribe': 'reader',
  // alarms (Aodh): readers look, members manage their project's; audit log: readers, own project
  'alarm:list': 'reader',
  'alarm:manage': 'member',
  'audit:list': 'reader',
  'metric:subscribe': 'reader',
  // metering (Gnocchi): series of your project's resources, aggregates, usage, the meter catalog
  'metric:get': 'reader',
  'metric:aggregate': 'reader',
  'metric:usage_report': 'reader',
  'metric:list_meters': 'reader',
  // stacks (Heat): readers look, members create/update/delete/preview/signal in their project
  'stack:list': 'reader',
  'stack:create': 'member',
  'stack:update': 'member',
  'stack:delete': 'member',
  'stack:preview': 'member',
  'stack:signal': 'member',
  'stack:validate_template': 'reader',
  'stack:list_resource_types': 'authenticated',
} as const satisfies Record<string, Rule>;

export type Action = keyof typeof POLICY;

/** Whether the table lets `auth` perform `action`; row-level narrowing still applies after. */
export function allows(auth: AuthContext | null, action: Action): boolean {
  const rule: Rule = POLICY[action];
  switch (rule) {
    case 'public':
      return true;
    case 'authenticated':
      return auth !== null;
    case 'reader':
    case 'member':
    case 'admin':
      return hasRole(auth, rule);
  }
}
