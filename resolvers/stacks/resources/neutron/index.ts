import type { ResourcePlugin } from '../plugin';
import { floatingIp } from './floating-ip';
import { floatingIpAssociation } from './floating-ip-association';
import { net } from './net';
import { port } from './port';
import { router } from './router';
import { routerInterface } from './router-interface';
import { securityGroup } from './security-group';
import { securityGroupRule } from './security-group-rule';
import { subnet } from './subnet';

/**
 * The neutron resource types, onto resolvers/networks/*. Where they differ from Heat:
 * - Net: value_specs takes only mtu and router:external (admin); dns_domain and
 *   port_security_enabled: false are refused (Stratus networks hold neither).
 * - Subnet: subnetpool is refused (no pools: give cidr); allocation_pools and gateway_ip
 *   changes replace the subnet (the domain cannot change them in place).
 * - Port: binding:vnic_type is normal only; mac_address, device_owner/device_id replace.
 * - SecurityGroup: rules are applied as a set (identical rules kept, others added/removed).
 * - FloatingIPAssociation: its physical id is the floating IP's.
 * - Deletes refused as "in use" are retried, and a FloatingIP waits for its router, since
 *   Heat's implicit dependencies (port -> subnet, floating IP -> router interface) are not
 *   added to the graph: a port on a network of the same stack needs depends_on its subnet.
 */
export const plugins: ResourcePlugin[] = [
  net,
  subnet,
  port,
  router,
  routerInterface,
  floatingIp,
  floatingIpAssociation,
  securityGroup,
  securityGroupRule,
];
