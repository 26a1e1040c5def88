import { stacksOfPhysical } from '../../resolvers/stacks/api/resources';
import { builder } from '../builder';
import { Network } from '../networks/types';
import { Server } from '../servers/types';
import { Volume } from '../volumes/types';
import { Stack } from './types';

/** Reverse edges: the stack whose resource a server, volume or network is (batched). */

builder.objectField(Server, 'stack', (t) =>
  t.loadable({
    type: Stack,
    nullable: true,
    description: 'The stack that made this server, if any (and you may see it)',
    load: (ids: string[], ctx) => stacksOfPhysical(ctx, 'Server', ids),
    resolve: (s) => s.id,
  }),
);
builder.objectField(Volume, 'stack', (t) =>
  t.loadable({
    type: Stack,
    nullable: true,
    description: 'The stack that made this volume, if any (and you may see it)',
    load: (ids: string[], ctx) => stacksOfPhysical(ctx, 'Volume', ids),
    resolve: (v) => v.id,
  }),
);
builder.objectField(Network, 'stack', (t) =>
  t.loadable({
    type: Stack,
    nullable: true,
    description: 'The stack that made this network, if any (and you may see it)',
    load: (ids: string[], ctx) => stacksOfPhysical(ctx, 'Network', ids),
    resolve: (n) => n.id,
  }),
);
