import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { loadComputeDriver } from '../../drivers/compute/index';
import type { ComputeConfig, NetworkConfig } from '../../server/config';
import type { TestStratus } from './harness';

/**
 * Teardown shared by the tests that run Stratus on real QEMU and Open vSwitch: what a failed
 * run may leave must not outlive the file (a host gateway veth left on an external CIDR takes
 * the route of the next run's floating IPs).
 */

/** Removes what the network driver still has (routers, networks: namespaces, dnsmasq, veths). */
export async function clearDataPath(s: TestStratus): Promise<void> {
  const driver = s.stratus.runtime.network?.driver;
  if (!driver) return;
  const left = await driver.list();
  for (const id of left.routers) await driver.deleteRouter(id);
  for (const id of left.networks) await driver.deleteNetwork(id);
}

/** After Stratus stopped: every guest of the compute state dir, the test bridge, their dirs. */
export async function removeRealDrivers(
  compute: ComputeConfig | undefined,
  network: NetworkConfig | undefined,
): Promise<void> {
  if (compute) {
    const d = await loadComputeDriver('qemu', compute.driverConfig);
    for (const id of await d.list({ all: true })) await d.destroy(id);
    await d.close();
    await fs.rm(String(compute.driverConfig.stateDir), { recursive: true, force: true });
  }
  if (network) {
    execFileSync('ovs-vsctl', ['--if-exists', 'del-br', String(network.driverConfig.bridge)]);
    await fs.rm(String(network.driverConfig.stateDir), { recursive: true, force: true });
  }
}

/** One ICMP echo from the host (busybox ping: Debian's ping is not installed here). */
export function hostPings(ip: string): boolean {
  try {
    execFileSync('busybox', ['ping', '-c', '1', '-W', '2', ip], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
