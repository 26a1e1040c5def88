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

/** The neutron resource types. */
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
