import { NODE_RESOURCE, nodeFromEvent } from '../../resolvers/baremetal/events';
import { loadNodes, type NodeRow } from '../../resolvers/baremetal/nodes';
import { builder } from '../builder';
import { rowUpdates, typeUpdates } from '../resource-updates';
import { BaremetalNode } from './types';

/** Bare-metal subscriptions (admins): one node now and each change; every node's changes. */

builder.subscriptionFields((t) => ({
  baremetalNode: t.field({
    type: BaremetalNode,
    description:
      'One node now, then each change (provision and power state, maintenance), in order',
    authScopes: { policy: 'baremetal:list_nodes' },
    args: { id: t.arg.globalID({ for: BaremetalNode, required: true }) },
    subscribe: (_root, args, ctx) =>
      rowUpdates<NodeRow>(ctx, {
        resourceType: NODE_RESOURCE,
        resource: 'node',
        id: args.id.id,
        load: loadNodes,
        fromEvent: nodeFromEvent,
        endKind: 'NODE_DELETED',
      }),
    resolve: (node) => node,
  }),
  baremetalNodes: t.field({
    type: BaremetalNode,
    description:
      'Every change to every node, as it happens; a deleted node comes last with its final row',
    authScopes: { policy: 'baremetal:list_nodes' },
    args: { after: t.arg.string({ description: 'Resume after this event cursor' }) },
    subscribe: (_root, args, ctx) => typeUpdates(ctx, NODE_RESOURCE, args.after, nodeFromEvent),
    resolve: (node) => node,
  }),
}));
