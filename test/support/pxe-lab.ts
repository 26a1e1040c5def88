import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { portSpec } from '../../resolvers/networks/specs';
import type { Runtime } from '../../resolvers/runtime';

/**
 * The lab around a network-booted simulated machine: its NIC's cable (a tap on the integration
 * bridge with the port's VLAN, as a switch port configured for the provisioning network) and
 * its local disk (a small qcow2 with a marker the cleaning must zero).
 */

const exec = promisify(execFile);

/** Plugs the tap the machine's NIC uses for Stratus port `portId`; returns the tap's name. */
export async function cableNodePort(rt: Runtime, portId: string): Promise<string> {
  const agent = rt.network;
  if (!agent) throw new Error('the test Stratus has no network driver');
  const spec = await portSpec(rt.db, portId);
  if (!spec) throw new Error(`no port ${portId}`);
  return (await agent.driver.ensurePort(spec)).tapName;
}

/** A random private range for one test file's provisioning network: 10.2xx.y.0/24. */
export function labCidrBase(): string {
  const [a, b] = randomBytes(2);
  return `10.${200 + (a % 50)}.${b % 250}`;
}

/** A qcow2 disk of `mib` MiB whose first 64 KiB hold the byte 0x5a. */
export async function markedDisk(file: string, mib = 16): Promise<void> {
  await exec('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${mib}M`]);
  await exec('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 64k', file]);
}

/** Whether the first 64 KiB of the disk hold `byte` throughout. */
export async function diskStartIs(file: string, byte: number): Promise<boolean> {
  const { stdout } = await exec('qemu-io', [
    ...['-f', 'qcow2', '-r', '-U'],
    ...['-c', `read -P 0x${byte.toString(16)} 0 64k`, file],
  ]);
  return !/Pattern verification failed/i.test(stdout) && /read 65536\/65536/.test(stdout);
}

/** Network namespaces whose name ends with one of `ids`. */
export function namespacesOf(ids: string[]): string[] {
  let all: string[] = [];
  try {
    all = readdirSync('/run/netns');
  } catch {}
  return all.filter((ns) => ids.some((id) => ns.endsWith(id)));
}
