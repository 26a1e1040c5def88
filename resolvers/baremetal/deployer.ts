import type { BmcSpec } from '../../drivers/baremetal';
import type { Runtime } from '../runtime';

/**
 * The seam between the node state machine (resolvers/baremetal/nodes*, the deploy and clean
 * jobs) and network booting (resolvers/baremetal/pxe/*): the jobs decide when, the deployer
 * knows how a machine is booted over the network, as Ironic's deploy and boot interfaces.
 */

/** One node as the deployer needs it. */
export interface DeployTarget {
  nodeId: string;
  /** Decrypted credentials, held only for the job's duration. */
  bmc: BmcSpec;
  /** Stratus port ids of the node's NICs (Ironic ports bound to Neutron ports), in order. */
  portIds: string[];
  /** MAC addresses of those NICs, same order. */
  macs: string[];
}

export interface DeployRequest extends DeployTarget {
  /** The image to boot (an ami with kernel and ramdisk, or a kernel + ramdisk pair). */
  imageId: string;
  /** User data handed to the deployed system (may be null). */
  userData: string | null;
  /** Reported in `progress`, e.g. "preparing boot files". */
  onStage?: (stage: string) => Promise<void>;
}

export interface DeployResult {
  /** What the deployed system reported when it called back (its first console-like line). */
  report: string;
}

export interface NodeDeployer {
  /** Why this process cannot deploy (no network driver, no dnsmasq...), or null. */
  unavailable(): string | null;
  /**
   * Prepares network boot for the image, sets the boot device to pxe, powers the node on and
   * resolves when the deployed system calls back; rejects with a message on timeout or error,
   * having removed the boot configuration it made.
   */
  deploy(rt: Runtime, request: DeployRequest, timeoutMs: number): Promise<DeployResult>;
  /**
   * Cleans the node: boots it over the network into a ramdisk that wipes its disk, waits for
   * the ramdisk to report the wipe done, powers it off and removes every boot configuration.
   */
  clean(rt: Runtime, target: DeployTarget, timeoutMs: number): Promise<void>;
  /** Powers off and removes boot configuration for the node (undeploy before cleaning). */
  tearDown(rt: Runtime, target: DeployTarget): Promise<void>;
}
