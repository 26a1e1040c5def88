import { and, eq, inArray, sql } from 'drizzle-orm';
import { networks, ports, subnets } from '../../../db/tables';
import type { ExtraDhcpOpt } from '../../../drivers/network/extra-dhcp-opts';
import { publishNetworkEvent, syncNetwork } from '../../networks/sync';
import { inTransaction, type Runtime } from '../../runtime';

/**
 * The node's side of its provisioning network: the DHCP options that send its NICs' iPXE to
 * the boot script (on the node's Stratus ports, as Ironic sets Neutron's extra_dhcp_opts), and
 * the address the node reaches Stratus at.
 */

/** Options that point an iPXE client at `scriptUrl`; QEMU's and most NICs' ROMs are iPXE. */
export function ipxeBootOpts(scriptUrl: string): ExtraDhcpOpt[] {
  return [{ optName: 'tag:ipxe,bootfile-name', optValue: scriptUrl, ipVersion: 4 }];
}

/**
 * Sets `opts` on the node's ports (all of them; [] removes), publishes the change, and makes
 * their networks' dnsmasq serve it before returning (the network agent of this process).
 */
export async function setBootOpts(
  rt: Runtime,
  portIds: string[],
  opts: ExtraDhcpOpt[],
): Promise<void> {
  if (portIds.length === 0) return;
  const changed = await inTransaction(rt, async (tx) => {
    const rows = await tx
      .update(ports)
      .set({ extraDhcpOpts: opts })
      // Clearing touches (publishes, resyncs) only ports that have options.
      .where(
        and(
          inArray(ports.id, portIds),
          opts.length ? undefined : sql`${ports.extraDhcpOpts} <> '[]'::jsonb`,
        ),
      )
      .returning();
    for (const row of rows) await publishNetworkEvent(tx, 'PORT_UPDATED', 'Port', row);
    return rows;
  });
  if (changed.length !== portIds.length && opts.length > 0) {
    const missing = portIds.filter((id) => !changed.some((r) => r.id === id));
    throw new Error(`the node's ports ${missing.join(', ')} no longer exist`);
  }
  const networkIds = new Set(changed.map((r) => r.networkId));
  const agent = rt.network;
  if (agent) {
    for (const networkId of networkIds) await agent.syncNetwork(networkId);
    return;
  }
  // No data path here (a tear-down on an API-only process): the network's agent applies it.
  await inTransaction(rt, async (tx) => {
    for (const networkId of networkIds) await syncNetwork(tx, networkId);
  });
}

/**
 * Where a node on the network of `portId` reaches Stratus: the host's own address on that
 * network, i.e. the gateway of its IPv4 subnet, which the ovs driver puts on the host (the
 * host gateway veth) for an external network. Null when the network is not such a network.
 */
export async function hostAddressFor(rt: Runtime, portId: string): Promise<string | null> {
  const [row] = await rt.db
    .select({ external: networks.external, gatewayIp: subnets.gatewayIp })
    .from(ports)
    .innerJoin(networks, eq(networks.id, ports.networkId))
    .innerJoin(subnets, and(eq(subnets.networkId, networks.id), eq(subnets.ipVersion, 4)))
    .where(eq(ports.id, portId))
    .limit(1);
  if (!row?.external || !row.gatewayIp) return null;
  return row.gatewayIp;
}
