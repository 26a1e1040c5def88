import { ConflictError, InvalidInputError, StratusError } from '../errors';

/** Neutron's typed failures, named as Neutron names them where it has a name. */

/** A requested fixed IP is held by another port (Neutron's IpAddressInUse). */
export class IpAddressInUseError extends StratusError {
  constructor(
    readonly field: string,
    readonly ip: string,
    readonly networkId: string,
  ) {
    super(
      'CONFLICT',
      `Unable to complete operation for network ${networkId}: the IP address ${ip} is in use (${field})`,
    );
  }
}

/** No free address is left in the subnet's pools (Neutron's IpAddressGenerationFailure). */
export class IpAddressGenerationFailureError extends StratusError {
  constructor(
    readonly field: string,
    readonly networkId: string,
    readonly subnetId: string | null,
  ) {
    super(
      'CONFLICT',
      `No more IP addresses available on network ${networkId}${subnetId ? ` (subnet ${subnetId})` : ''}`,
    );
  }
}

/** The network still has ports (Neutron's NetworkInUse). */
export class NetworkInUseError extends StratusError {
  constructor(
    readonly networkId: string,
    readonly portCount: number,
  ) {
    super(
      'CONFLICT',
      `Unable to complete operation on network ${networkId}: there are ${portCount} ports on it; delete them first`,
    );
  }
}

/** The subnet still has allocated addresses besides the DHCP port's (Neutron's SubnetInUse). */
export class SubnetInUseError extends StratusError {
  constructor(
    readonly subnetId: string,
    readonly allocationCount: number,
  ) {
    super(
      'CONFLICT',
      `Unable to complete operation on subnet ${subnetId}: ${allocationCount} IP addresses of it are allocated to ports`,
    );
  }
}

/** The same rule already exists in the group (Neutron's SecurityGroupRuleExists). */
export class SecurityGroupRuleExistsError extends StratusError {
  constructor(readonly ruleId: string) {
    super('CONFLICT', `Security group rule already exists. Rule id is ${ruleId}`);
  }
}

/** Ports still use the group (Neutron's SecurityGroupInUse). */
export class SecurityGroupInUseError extends StratusError {
  constructor(
    readonly securityGroupId: string,
    readonly portCount: number,
  ) {
    super('CONFLICT', `Security group ${securityGroupId} is in use by ${portCount} ports`);
  }
}

/**
 * A floating IP cannot reach the port: no router has a gateway on the floating network and an
 * interface on the port's subnet (Neutron's ExternalGatewayForFloatingIPNotFound).
 */
export class ExternalGatewayForFloatingIpNotFoundError extends StratusError {
  constructor(
    readonly externalNetworkId: string,
    readonly portId: string,
  ) {
    super(
      'CONFLICT',
      `External network ${externalNetworkId} is not reachable from the subnet of port ${portId}; add a router with a gateway on that network and an interface on the subnet`,
    );
  }
}

/** A createServer network request names no network the caller may use (per request index). */
export class NetworkNotFoundError extends InvalidInputError {
  constructor(
    field: string,
    readonly networkId: string,
  ) {
    super(field, `${field}: no network with id "${networkId}" that you may use`);
  }
}

/** A createServer port request names no port the caller may use (per request index). */
export class PortNotFoundError extends InvalidInputError {
  constructor(
    field: string,
    readonly portId: string,
  ) {
    super(field, `${field}: no port with id "${portId}" that you may use`);
  }
}

/** The port belongs to a router, DHCP or a floating IP: change it through that API instead. */
export class PortOwnedError extends ConflictError {
  constructor(
    readonly portId: string,
    readonly deviceOwner: string,
  ) {
    super(
      `Port ${portId} is owned by ${deviceOwner}; use the router, subnet or floating IP API instead`,
    );
  }
}
