import { and, eq, inArray } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import { baremetalPorts, ports } from '../../db/tables';
import { InvalidInputError } from '../errors';
import { checkMac, insertPort } from '../networks/port-core';
import { removePort, usableNetwork } from '../networks/ports';
import { reserveAndPublish } from '../networks/quota';
import type { ServiceContext } from '../runtime';

/**
 * A node's ports: Ironic ports by MAC, each bound to a Stratus (Neutron) port with that MAC
 * when it names a network, so the network's DHCP can know the machine.
 */

/** Owner of the Stratus ports made for nodes (Neutron's `baremetal:none`). */
export const NODE_PORT_OWNER = 'baremetal:none';

export interface NodePortInput {
  macAddress: string;
  networkId?: string | null;
}

/** The MACs, lowercase and checked, none twice in the input. */
export function checkPortMacs(given: NodePortInput[]): string[] {
  const macs = given.map((p, i) => checkMac(`input.ports.${i}.macAddress`, p.macAddress));
  macs.forEach((mac, i) => {
    const first = macs.indexOf(mac);
    if (first !== i) {
      const field = `input.ports.${i}.macAddress`;
      throw new InvalidInputError(field, `${field} ${mac} is also input.ports.${first}.macAddress`);
    }
  });
  return macs;
}

/** Adds the ports (and their Stratus ports); typed errors name the field, the caller rolls back. */
export async function addNodePorts(
  ctx: ServiceContext,
  tx: Tx,
  nodeId: string,
  given: NodePortInput[],
  macs: string[],
): Promise<void> {
  if (macs.length === 0) return;
  const taken = await tx
    .select({ mac: baremetalPorts.macAddress, nodeId: baremetalPorts.nodeId })
    .from(baremetalPorts)
    .where(inArray(baremetalPorts.macAddress, macs));
  if (taken.length > 0) {
    const i = macs.indexOf(taken[0].mac);
    const field = `input.ports.${i}.macAddress`;
    throw new InvalidInputError(
      field,
      `${field} ${taken[0].mac} is already a port of node ${taken[0].nodeId}`,
    );
  }
  for (const [i, port] of given.entries()) {
    const field = `input.ports.${i}`;
    let portId: string | null = null;
    if (port.networkId) {
      const network = await usableNetwork(ctx, port.networkId, `${field}.networkId`);
      const [clash] = await tx
        .select({ id: ports.id })
        .from(ports)
        .where(and(eq(ports.networkId, network.id), eq(ports.macAddress, macs[i])));
      if (clash) {
        throw new InvalidInputError(
          `${field}.macAddress`,
          `${field}.macAddress ${macs[i]} is already on network ${network.id} (port ${clash.id})`,
        );
      }
      const row = await insertPort(tx, {
        network,
        projectId: network.projectId,
        name: `node-${nodeId.slice(0, 8)}-${i}`,
        macAddress: macs[i],
        deviceOwner: NODE_PORT_OWNER,
        deviceId: nodeId,
        // The machine is plugged by cable, not by a tap of ours: no security groups to apply.
        portSecurityEnabled: false,
        deviceIndex: i,
        field,
      });
      await reserveAndPublish(tx, ctx.rt.config.quotaDefaults, network.projectId, 'ports', 1, {
        kind: 'PORT_CREATED',
        resourceType: 'Port',
        row,
      });
      portId = row.id;
    }
    await tx.insert(baremetalPorts).values({
      nodeId,
      macAddress: macs[i],
      networkId: port.networkId ?? null,
      portId,
      position: i,
    });
  }
}

/** Removes the Stratus ports made for the node (its Ironic ports go with the node row). */
export async function removeNodePorts(tx: Tx, nodeId: string): Promise<void> {
  const bound = await tx
    .select({ portId: baremetalPorts.portId })
    .from(baremetalPorts)
    .where(eq(baremetalPorts.nodeId, nodeId));
  const ids = bound.map((b) => b.portId).filter((id): id is string => id !== null);
  if (ids.length === 0) return;
  const rows = await tx.select().from(ports).where(inArray(ports.id, ids)).for('update');
  for (const row of rows) await removePort(tx, row);
}
