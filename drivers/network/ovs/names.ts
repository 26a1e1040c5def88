import { createHash } from 'node:crypto';

/*
 * Host-side names, derived from the service's ids as Neutron derives them, so a reconciler can
 * map them back. Linux interface names hold at most 15 characters: prefixes of 3 plus 11
 * characters of the id.
 */

const short = (id: string) => id.slice(0, 11);

/** A server port's tap (QEMU opens it). */
export const tapName = (portId: string) => `tap${short(portId)}`;
/** The DHCP namespace of a network. */
export const dhcpNamespace = (networkId: string) => `qdhcp-${networkId}`;
/** The router namespace. */
export const routerNamespace = (routerId: string) => `qrouter-${routerId}`;

/** DHCP veth: the end on the bridge and the end inside `qdhcp-<network>`. */
export const dhcpBridgeEnd = (networkId: string) => `qdh${short(networkId)}`;
export const dhcpNamespaceEnd = (networkId: string) => `ns-${short(networkId)}`;
/** Router legs: `qr-`/`qg-` inside the namespace (Neutron's names), `qrb`/`qgb` on the bridge. */
export const routerInterfaceEnd = (portId: string) => `qr-${short(portId)}`;
export const routerInterfaceBridgeEnd = (portId: string) => `qrb${short(portId)}`;
export const routerGatewayEnd = (portId: string) => `qg-${short(portId)}`;
export const routerGatewayBridgeEnd = (portId: string) => `qgb${short(portId)}`;
/** Host gateway of an external network: `qhg` holds the address in the root namespace. */
export const hostGatewayEnd = (networkId: string) => `qhg${short(networkId)}`;
export const hostGatewayBridgeEnd = (networkId: string) => `qhb${short(networkId)}`;

/**
 * The OpenFlow cookie of everything installed for one bridge port: a hash of its name, so all
 * its flows are replaced or removed together (`cookie=X/-1`). The top bit is left clear:
 * the base pipeline (BASE_COOKIE) has it set.
 */
export function portCookie(bridgePort: string): string {
  const hex = createHash('sha256').update(bridgePort).digest('hex').slice(0, 16);
  const value = (BigInt(`0x${hex}`) & 0x7fff_ffff_ffff_ffffn) | 1n;
  return `0x${value.toString(16)}`;
}

/** The base pipeline's cookie. */
export const BASE_COOKIE = '0x8000000000000000';

/** What each bridge port is (stored in its `external_ids:stratus-kind`). */
export type BridgePortKind =
  | 'port'
  | 'dhcp'
  | 'router-interface'
  | 'router-gateway'
  | 'host-gateway';
