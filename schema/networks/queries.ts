import { listFloatingIps } from '../../resolvers/networks/floating-ips';
import { listNetworks } from '../../resolvers/networks/networks';
import { listPorts } from '../../resolvers/networks/ports';
import { listRouters } from '../../resolvers/networks/routers';
import { listSecurityGroups } from '../../resolvers/networks/security-groups';
import { listSubnets } from '../../resolvers/networks/subnets';
import { builder } from '../builder';
import { Project } from '../identity/types';
import { listConnection } from '../pagination';
import { FloatingIp, Network, Port, Router, SecurityGroup, Subnet } from './types';

/** Network queries: networks, subnets, ports, securityGroups, routers, floatingIps. */

const projectFields = {
  allProjects: { description: "Admins: every project's" },
  projectId: { description: "Admins: this project's" },
};

const NetworkFilter = builder.inputType('NetworkFilter', {
  fields: (t) => ({
    name: t.string({ description: 'Substring of the name, any case' }),
    shared: t.boolean(),
    external: t.boolean(),
    allProjects: t.boolean(projectFields.allProjects),
    projectId: t.globalID({ for: Project, ...projectFields.projectId }),
  }),
});
const SubnetFilter = builder.inputType('SubnetFilter', {
  fields: (t) => ({
    networkId: t.globalID({ for: Network }),
    ipVersion: t.int(),
    allProjects: t.boolean(projectFields.allProjects),
    projectId: t.globalID({ for: Project, ...projectFields.projectId }),
  }),
});
const PortFilter = builder.inputType('PortFilter', {
  fields: (t) => ({
    networkId: t.globalID({ for: Network }),
    deviceId: t.string({ description: 'e.g. a server id (raw UUID, as Neutron stores it)' }),
    deviceOwner: t.string(),
    name: t.string(),
    status: t.string(),
    allProjects: t.boolean(projectFields.allProjects),
    projectId: t.globalID({ for: Project, ...projectFields.projectId }),
  }),
});
const OwnedFilter = builder.inputType('NetworkObjectFilter', {
  fields: (t) => ({
    name: t.string({ description: 'Security groups: substring of the name' }),
    allProjects: t.boolean(projectFields.allProjects),
    projectId: t.globalID({ for: Project, ...projectFields.projectId }),
  }),
});

const base = (
  f: { allProjects?: boolean | null; projectId?: { id: string } | null } | null | undefined,
) => ({
  allProjects: f?.allProjects ?? null,
  projectId: f?.projectId?.id ?? null,
});

builder.queryFields((t) => ({
  networks: t.connection({
    type: Network,
    description: "Your project's networks plus shared and external ones (admins: any project)",
    authScopes: { policy: 'network:list' },
    nullable: true,
    args: { filter: t.arg({ type: NetworkFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) =>
        listNetworks(ctx, { ...args.filter, ...base(args.filter) }, page),
      ),
  }),
  subnets: t.connection({
    type: Subnet,
    authScopes: { policy: 'network:list' },
    nullable: true,
    args: { filter: t.arg({ type: SubnetFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) =>
        listSubnets(
          ctx,
          {
            ...base(args.filter),
            networkId: args.filter?.networkId?.id,
            ipVersion: args.filter?.ipVersion,
          },
          page,
        ),
      ),
  }),
  ports: t.connection({
    type: Port,
    authScopes: { policy: 'network:list' },
    nullable: true,
    args: { filter: t.arg({ type: PortFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) =>
        listPorts(
          ctx,
          { ...args.filter, ...base(args.filter), networkId: args.filter?.networkId?.id },
          page,
        ),
      ),
  }),
  securityGroups: t.connection({
    type: SecurityGroup,
    description: "Your project's security groups (the default one is made on first need)",
    authScopes: { policy: 'network:list' },
    nullable: true,
    args: { filter: t.arg({ type: OwnedFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) =>
        listSecurityGroups(ctx, { ...base(args.filter), name: args.filter?.name }, page),
      ),
  }),
  routers: t.connection({
    type: Router,
    authScopes: { policy: 'network:list' },
    nullable: true,
    args: { filter: t.arg({ type: OwnedFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) => listRouters(ctx, base(args.filter), page)),
  }),
  floatingIps: t.connection({
    type: FloatingIp,
    authScopes: { policy: 'network:list' },
    nullable: true,
    args: { filter: t.arg({ type: OwnedFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) => listFloatingIps(ctx, base(args.filter), page)),
  }),
}));
