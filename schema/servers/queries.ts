import { listHypervisors } from '../../resolvers/compute/hypervisors';
import { listServerGroups } from '../../resolvers/compute/server-groups';
import { listServers } from '../../resolvers/compute/servers';
import { builder } from '../builder';
import { Flavor } from '../compute';
import { Project } from '../identity/types';
import { Image } from '../images';
import { listConnection } from '../pagination';

import { Hypervisor, Server, ServerGroup, ServerStatus } from './types';

/** Server queries: servers, serverGroups, hypervisors. */

const ServerFilter = builder.inputType('ServerFilter', {
  fields: (t) => ({
    status: t.field({ type: ServerStatus }),
    name: t.string({ description: 'Substring of the name, any case' }),
    imageId: t.globalID({ for: Image }),
    flavorId: t.globalID({ for: Flavor }),
    changedSince: t.field({ type: 'DateTime', description: 'Includes deleted servers, as Nova' }),
    tags: t.stringList({ description: 'Servers having all these tags' }),
    host: t.string({ description: 'Admins only' }),
    allProjects: t.boolean({ description: "Admins: every project's servers" }),
    projectId: t.globalID({ for: Project, description: "Admins: this project's servers" }),
    includeDeleted: t.boolean(),
  }),
});

builder.queryFields((t) => ({
  servers: t.connection({
    type: Server,
    description: 'Servers of your project (admins: any project), newest first',
    authScopes: { policy: 'compute:list_servers' },
    nullable: true,
    args: { filter: t.arg({ type: ServerFilter }) },
    resolve: (_root, args, ctx) => {
      const f = args.filter ?? {};
      return listConnection(args, (page) =>
        listServers(
          ctx,
          {
            ...f,
            imageId: f.imageId?.id,
            flavorId: f.flavorId?.id,
            projectId: f.projectId?.id,
            changedSince: f.changedSince ? new Date(f.changedSince) : null,
          },
          page,
        ),
      );
    },
  }),
  serverGroups: t.connection({
    type: ServerGroup,
    authScopes: { policy: 'compute:list_server_groups' },
    nullable: true,
    resolve: (_root, args, ctx) => listConnection(args, (page) => listServerGroups(ctx, page)),
  }),
  hypervisors: t.field({
    type: [Hypervisor],
    description: 'Compute hosts (admins only)',
    authScopes: { policy: 'compute:list_hypervisors' },
    nullable: true,
    resolve: (_root, _args, ctx) => listHypervisors(ctx),
  }),
}));
