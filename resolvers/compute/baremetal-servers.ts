import { and, eq } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../../db/connection';
import { baremetalNodes } from '../../db/tables';
import { claimAvailableNode } from '../baremetal/scheduling';
import type { NodeRow } from '../baremetal/states';
import { InvalidInputError } from '../errors';
import { ServerStateError } from './errors';
import type { ServerRow } from './server-states';

/**
 * Servers on bare metal (Nova's ironic driver in small): a flavor asking Placement-style for
 * `resources:CUSTOM_<CLASS>=1` is served by an available node of that resource class instead
 * of a hypervisor. The node's `instanceId` is the link; no column on the server.
 */

/** Placement's custom resource class name for a node's resource class: CUSTOM_ + A-Z0-9_. */
export function normalizeResourceClass(resourceClass: string): string {
  const upper = resourceClass.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return upper.startsWith('CUSTOM_') ? upper : `CUSTOM_${upper}`;
}

/**
 * The custom resource class a flavor's extra specs ask for (`resources:CUSTOM_X` = 1), or
 * null for a VM flavor. Standard classes (VCPU, MEMORY_MB, DISK_GB) are not bare metal.
 */
export function baremetalClassOf(extraSpecs: Record<string, string> | null | undefined) {
  for (const [key, value] of Object.entries(extraSpecs ?? {})) {
    const match = /^resources(\d*):(CUSTOM_[A-Z0-9_]+)$/.exec(key);
    if (match && Number(value) >= 1) return match[2];
  }
  return null;
}

/**
 * Claims an available node whose normalized resource class is `customClass` for the server,
 * in the caller's (scheduling) transaction; null when none is free.
 */
export async function claimNodeForServer(
  tx: Tx,
  customClass: string,
  serverId: string,
): Promise<NodeRow | null> {
  const classes = await tx
    .selectDistinct({ resourceClass: baremetalNodes.resourceClass })
    .from(baremetalNodes)
    .where(eq(baremetalNodes.provisionState, 'available'));
  for (const { resourceClass } of classes) {
    if (!resourceClass || normalizeResourceClass(resourceClass) !== customClass) continue;
    const node = await claimAvailableNode(tx, { resourceClass, instanceId: serverId });
    if (node) return node;
  }
  return null;
}

/** The node a server runs on (claimed by it), or null. */
export async function nodeOfServer(db: DbOrTx, serverId: string): Promise<NodeRow | null> {
  const [row] = await db
    .select()
    .from(baremetalNodes)
    .where(and(eq(baremetalNodes.instanceId, serverId)));
  return row ?? null;
}

/**
 * What a bare-metal server may not ask for: its NICs are the node's own ports, already on the
 * provisioning network (no `networks`), and it boots from its own disk (no boot volume).
 */
export function checkBaremetalRequest(
  extraSpecs: Record<string, string>,
  request: { networks: number; blockDeviceMappings: number },
): void {
  const customClass = baremetalClassOf(extraSpecs);
  if (!customClass) return;
  if (request.networks > 0) {
    throw new InvalidInputError(
      'input.networks',
      `A bare-metal server (flavor asks for ${customClass}) uses its node's own ports on the provisioning network: give no networks`,
    );
  }
  if (request.blockDeviceMappings > 0) {
    throw new InvalidInputError(
      'input.blockDeviceMappings',
      `A bare-metal server (flavor asks for ${customClass}) boots from the node's disk: give no boot volume`,
    );
  }
}

/** What a bare-metal server can do: its node's power (start, stop, reboot) and delete. */
export const BAREMETAL_ACTIONS: readonly string[] = ['start', 'stop', 'reboot', 'delete'];

/** Refuses, as a state error, an action a bare-metal server does not support (resize, …). */
export function checkBaremetalAction(row: ServerRow, action: string): void {
  if (!row.flavor.baremetalClass || BAREMETAL_ACTIONS.includes(action)) return;
  throw new BaremetalActionError(row.id, action);
}

/** ServerStateError's code and shape, saying the action is not supported on bare metal. */
export class BaremetalActionError extends ServerStateError {
  constructor(serverId: string, action: string) {
    super(serverId, action, 'BAREMETAL', null);
    this.message = `Cannot '${action}' server ${serverId}: not supported on bare metal (start, stop, reboot and delete are)`;
  }
}
