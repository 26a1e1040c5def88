import type { BaremetalDriver, BmcSpec } from '../../drivers/baremetal';
import type { BaremetalConfig } from './config';
import type { CredentialBox } from './credentials';
import type { NodeRow } from './states';

/** What one process needs to act on nodes: the driver and the key their passwords are sealed with. */
export interface BaremetalService {
  driver: BaremetalDriver;
  credentials: CredentialBox;
  config: BaremetalConfig;
}

/** The node's BMC spec with its password opened, for a driver call; never stored or logged. */
export function bmcOf(service: BaremetalService, node: NodeRow): BmcSpec {
  return {
    address: node.bmcAddress,
    port: node.bmcPort,
    username: node.bmcUsername,
    password: service.credentials.open(node.bmcPasswordSealed),
    interface: node.bmcInterface === 'lan' ? 'lan' : 'lanplus',
  };
}
