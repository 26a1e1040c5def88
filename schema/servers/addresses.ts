import {
  type ServerAddress,
  type ServerNetworkAddresses,
  serverAddresses,
} from '../../resolvers/networks/server-ports';
import { builder } from '../builder';
import { Server } from './types';

/** Server.addresses: Nova's addresses, per network, from the server's ports. */

const AddressType = builder.enumType('ServerAddressType', {
  description: "Nova's OS-EXT-IPS:type",
  values: ['fixed', 'floating'] as const,
});

const Address = builder.objectRef<ServerAddress>('ServerAddress').implement({
  description: 'One address of a server: a fixed IP of one of its ports, or a floating IP on it',
  fields: (t) => ({
    ip: t.exposeString('ip'),
    version: t.exposeInt('version'),
    macAddress: t.exposeString('mac'),
    type: t.field({ type: AddressType, resolve: (a) => a.type }),
  }),
});

const NetworkAddresses = builder
  .objectRef<ServerNetworkAddresses>('ServerNetworkAddresses')
  .implement({
    description: "The server's addresses on one network",
    fields: (t) => ({
      networkId: t.globalID({ resolve: (n) => ({ type: 'Network', id: n.networkId }) }),
      networkName: t.exposeString('networkName'),
      addresses: t.field({ type: [Address], resolve: (n) => n.addresses }),
    }),
  });

builder.objectField(Server, 'addresses', (t) =>
  t.loadableList({
    type: NetworkAddresses,
    description: "The server's addresses by network (fixed IPs of its ports, then floating IPs)",
    load: async (ids: string[], ctx) => {
      const byServer = await serverAddresses(ctx.rt.db, ids);
      return ids.map((id) => byServer.get(id) ?? []);
    },
    resolve: (s) => s.id,
  }),
);
