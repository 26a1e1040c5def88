import { listNodes } from '../../resolvers/baremetal/nodes';
import { builder } from '../builder';
import { listConnection } from '../pagination';
import { BaremetalNode, ProvisionState } from './types';

/** Bare-metal queries (admins): baremetalNode, baremetalNodes. Relay owns `node`/`nodes`. */

const NodeFilter = builder.inputType('BaremetalNodeFilter', {
  fields: (t) => ({
    provisionState: t.field({ type: ProvisionState }),
    maintenance: t.boolean(),
    resourceClass: t.string(),
  }),
});

builder.queryFields((t) => ({
  baremetalNode: t.field({
    type: BaremetalNode,
    nullable: true,
    description: 'One bare-metal node (admins only)',
    authScopes: { policy: 'baremetal:list_nodes' },
    args: { id: t.arg.globalID({ for: BaremetalNode, required: true }) },
    resolve: (_root, args) => args.id.id,
  }),
  baremetalNodes: t.connection({
    type: BaremetalNode,
    description: 'Bare-metal nodes, oldest first (admins only)',
    authScopes: { policy: 'baremetal:list_nodes' },
    nullable: true,
    args: { filter: t.arg({ type: NodeFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) => listNodes(ctx, args.filter ?? {}, page)),
  }),
}));
