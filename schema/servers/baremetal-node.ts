import { nodeOfServer } from '../../resolvers/compute/baremetal-servers';
import { isAdmin } from '../../resolvers/identity/auth-context';
import { BaremetalNode } from '../baremetal/types';
import { builder } from '../builder';
import { Server } from './types';

/** Server.baremetalNode: the node a bare-metal server runs on, for admins only. */
builder.objectField(Server, 'baremetalNode', (t) =>
  t.field({
    type: BaremetalNode,
    nullable: true,
    description:
      'The bare-metal node the server runs on (flavor with resources:CUSTOM_<CLASS>); null for VMs, and for anyone but an admin (nodes are admin-only)',
    resolve: async (server, _args, ctx) =>
      server.flavor.baremetalClass && isAdmin(ctx.auth) ? nodeOfServer(ctx.rt.db, server.id) : null,
  }),
);
