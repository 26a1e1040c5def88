import type { ExtraDhcpOpt } from './extra-dhcp-opts';

/**
 * The `network` driver kind: Neutron's agents in small (the L2 agent that plugs ports, the DHCP
 * agent, the L3 agent and the firewall). The service layer owns networks, subnets, IPAM,
 * ports, routers, floating IPs and security groups in the database; a driver only makes the
 * host's data path match what it is told (declaratively: every `ensure*` call carries the
 * whole desired state of one object and is idempotent) and reports what the host has.
 * No GraphQL, no database.
 *
 * Identity: every object is named by the service's id (a UUID, stored lowercase). Host-side
 * names are derived from it the way Neutron does (`tap` + the first 11 characters of a port
 * id, `qdhcp-<network id>`, `qrouter-<router id>`), so a reconciler can map them back.
 *
 * Everything a driver creates outlives the Stratus process (taps, namespaces, dnsmasq,
 * flows), so guests keep their network across a Stratus restart; `list()` says what exists
 * and the service deletes what it no longer knows and re-ensures the rest.
 */

/** Which implementation this is and what it offers. */
export interface NetworkDriverInfo {
  name: 'ovs' | 'fake';
  capabilities: {
    /** Security groups are enforced in the data path (not only stored). */
    securityGroups: boolean;
    /** DHCP is served for subnets with `enableDhcp`. */
    dhcp: boolean;
    /** Routers: interfaces, SNAT through an external gateway, floating IPs (DNAT). */
    routers: boolean;
  };
}

/** One fixed IP of a port, with its subnet's prefix so the address can be configured. */
export interface FixedIp {
  subnetId: string;
  /** The address, canonical text form (IPv4 dotted quad, IPv6 RFC 5952). */
  ip: string;
  /** The subnet's prefix length. */
  prefixLength: number;
  ipVersion: 4 | 6;
}

/** One host route a subnet pushes by DHCP. */
export interface HostRoute {
  destination: string;
  nexthop: string;
}

/** A subnet as the DHCP server needs it. */
export interface SubnetSpec {
  subnetId: string;
  cidr: string;
  ipVersion: 4 | 6;
  gatewayIp: string | null;
  enableDhcp: boolean;
  dnsNameservers: string[];
  hostRoutes: HostRoute[];
}

/** A port that gets a DHCP reservation: its MAC address and its fixed IPs. */
export interface DhcpHost {
  portId: string;
  mac: string;
  fixedIps: FixedIp[];
  /** Options for this client only (Neutron's extra_dhcp_opts, e.g. network boot); default none. */
  extraDhcpOpts?: ExtraDhcpOpt[];
}

/**
 * One network's L2 segment and DHCP service. `ports` lists every port of the network with
 * fixed IPs; the DHCP server answers only those MAC addresses, with exactly those addresses
 * (static leases, as Neutron's DHCP agent configures dnsmasq).
 */
export interface NetworkSpec {
  networkId: string;
  /** The VLAN tag of this network on the integration bridge, 1-4094, allocated by the service. */
  segmentationId: number;
  mtu: number;
  subnets: SubnetSpec[];
  /**
   * The network's DHCP port (device_owner `network:dhcp`) with its fixed IPs, one per subnet
   * with DHCP; null when no subnet has DHCP (then no DHCP namespace exists for this network).
   */
  dhcpPort: { portId: string; mac: string; fixedIps: FixedIp[] } | null;
  hosts: DhcpHost[];
  /**
   * For an external network: an address (with prefix) given to the host itself on this
   * segment, as devstack gives br-ex the public subnet's gateway, so traffic from the host
   * reaches floating IPs and SNAT'd traffic leaves through the host. Null otherwise.
   */
  hostGateway: { ip: string; prefixLength: number } | null;
}

/**
 * A security group rule as the data path applies it. The service resolves `remote group`
 * rules into the member ports' addresses (`remoteIps`), as Neutron's ipset does, and calls
 * `ensurePort` again for the affected ports when membership changes.
 */
export interface FirewallRule {
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  /** null: any protocol. Otherwise an IANA protocol number (1 icmp, 6 tcp, 17 udp, 58 icmpv6). */
  protocol: number | null;
  /** tcp/udp: destination port range (inclusive); icmp: type (min) and code (max); null: any. */
  portRangeMin: number | null;
  portRangeMax: number | null;
  /** The other end: CIDRs (remote_ip_prefix, or a remote group's member addresses); null: any. */
  remoteIps: string[] | null;
}

/** An address a port may also send from (Neutron's allowed_address_pairs). */
export interface AllowedAddressPair {
  /** An address or a CIDR. */
  ipAddress: string;
  /** Defaults to the port's own MAC. */
  mac: string | null;
}

/** A port of a server (device_owner `compute:*`): a tap on the integration bridge. */
export interface PortSpec {
  portId: string;
  networkId: string;
  /** The network's VLAN tag. */
  segmentationId: number;
  mtu: number;
  mac: string;
  fixedIps: FixedIp[];
  adminStateUp: boolean;
  /**
   * When false, no filtering at all (any source address, any traffic). When true, anti-spoofing
   * (only the port's MAC and fixed IPs, plus allowed address pairs, may send; DHCP client
   * traffic allowed) and the security group rules (stateful: replies of allowed connections
   * pass; nothing else comes in; egress only as the rules allow).
   */
  portSecurityEnabled: boolean;
  /** The union of the rules of the port's security groups. */
  rules: FirewallRule[];
  allowedAddressPairs: AllowedAddressPair[];
}

/** Where QEMU finds a plugged port. */
export interface PluggedPort {
  portId: string;
  /** The tap device QEMU opens (`-netdev tap,ifname=<tapName>,script=no,downscript=no`). */
  tapName: string;
  mac: string;
}

/** A router's leg on one subnet (device_owner `network:router_interface`). */
export interface RouterInterfaceSpec {
  portId: string;
  networkId: string;
  segmentationId: number;
  mtu: number;
  mac: string;
  /** The router's address on the subnet (usually the gateway IP). */
  fixedIp: FixedIp;
}

/** A floating IP: DNAT from `floatingIp` to `fixedIp` (and SNAT back from it). */
export interface FloatingIpSpec {
  floatingIpId: string;
  floatingIp: string;
  fixedIp: string;
}

/** A router and everything behind it, as the L3 agent sets it up in `qrouter-<id>`. */
export interface RouterSpec {
  routerId: string;
  adminStateUp: boolean;
  interfaces: RouterInterfaceSpec[];
  /** The external gateway (device_owner `network:router_gateway`), or null. */
  gateway: {
    portId: string;
    networkId: string;
    segmentationId: number;
    mtu: number;
    mac: string;
    fixedIp: FixedIp;
    /** The external subnet's gateway: the router's default route. Null: no default route. */
    nexthop: string | null;
    /** Masquerade traffic from the interfaces' subnets behind `fixedIp` (Neutron's enable_snat). */
    enableSnat: boolean;
  } | null;
  /** Only meaningful with a gateway: floating IPs live on the gateway's segment. */
  floatingIps: FloatingIpSpec[];
}

/** What the host has, for a reconciler. Ids as derived from host-side names; order unspecified. */
export interface NetworkInventory {
  networks: string[];
  /** Plugged ports. Tap names keep only 11 characters of the id: the service matches prefixes. */
  ports: { tapName: string; portIdPrefix: string }[];
  routers: string[];
}

export interface NetworkDriver {
  info(): NetworkDriverInfo;
  /**
   * Checks the host can carry networks (tools present, OVS running or startable, namespaces
   * usable) and starts what the driver needs (e.g. ovsdb-server, ovs-vswitchd, the
   * integration bridge); throws `DriverUnavailableError` with the reason otherwise.
   */
  probe(): Promise<void>;
  /** Creates or updates a network's segment and DHCP service to match `spec`. */
  ensureNetwork(spec: NetworkSpec): Promise<void>;
  /** Removes a network's DHCP service and anything else it has on the host. Idempotent. */
  deleteNetwork(networkId: string): Promise<void>;
  /**
   * Creates or updates a server port: its tap on the integration bridge with the network's
   * tag, its anti-spoofing and firewall. The tap exists before QEMU opens it and stays when
   * QEMU exits (a stopped server keeps its ports plugged). Fails with nothing left behind.
   */
  ensurePort(spec: PortSpec): Promise<PluggedPort>;
  /** Removes a port's tap, flows and firewall. Idempotent (an unknown id succeeds). */
  deletePort(portId: string): Promise<void>;
  /** Creates or updates a router to match `spec`. */
  ensureRouter(spec: RouterSpec): Promise<void>;
  /** Removes a router's namespace, legs and NAT. Idempotent. */
  deleteRouter(routerId: string): Promise<void>;
  /** What exists on the host. */
  list(): Promise<NetworkInventory>;
  /** Releases what the process holds (connections), leaving the data path as it is. */
  close(): Promise<void>;
}
