import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import type { PxeNodeDeployer } from '../../resolvers/baremetal/pxe/deployer';
import { portSpec } from '../../resolvers/networks/specs';
import type { Runtime } from '../../resolvers/runtime';
import { loadConfig, type NetworkConfig, type StratusConfig } from '../../server/config';
import { baremetalOverrides, enroll, enrollInput } from '../baremetal/support-nodes';
import { testBridge } from '../network/driver-ovs-support';
import { made } from '../network/networks-support';
import { BmcLab, type BmcSim } from './bmc-sim';
import { rawId, uploadTestGuest } from './compute';
import {
  createTestDatabase,
  dropTestDatabase,
  startTestStratus,
  type TestStratus,
} from './harness';

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

/**
 * The config of the API-level PXE tests: automated cleaning on, deploy and clean waits of
 * `waitMs`, Stratus's data in the lab's work folder.
 */
export function pxeApiConfig(waitMs: number): (work: string) => Partial<StratusConfig> {
  const bm = baremetalOverrides({ automatedClean: true, cleanTimeoutMs: waitMs });
  return (work) => ({
    ...bm,
    baremetal: { ...bm.baremetal!, deployTimeoutMs: waitMs },
    dataDir: work,
  });
}

/**
 * One test file's PXE lab: a fresh database, a work folder, Stratus on the OVS driver listening
 * beyond loopback (nodes reach it at the host's address on their network), the deployer's boot
 * folder in the work folder, the test guest uploaded (also the cleaning image) and an external
 * provisioning network with a subnet. Fields fill in as `start` gets through, so `stop` cleans
 * up whatever a failed start left.
 */
export class PxeLab {
  s!: TestStratus;
  deployer!: PxeNodeDeployer;
  /** GraphQL ids of the uploaded test guest and of the provisioning network. */
  imageId!: string;
  networkId!: string;
  databaseUrl?: string;
  work!: string;
  network?: NetworkConfig;
  bmc?: BmcLab;

  /** `config` gets the work folder; what it returns is merged under the lab's network. */
  async start(
    prefix: string,
    config: (work: string) => Partial<StratusConfig> = () => ({}),
  ): Promise<void> {
    this.databaseUrl = await createTestDatabase();
    this.work = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
    const network: NetworkConfig = {
      ...loadConfig({}).network,
      driver: 'ovs',
      driverConfig: { bridge: testBridge(), stateDir: path.join(this.work, 'ovs') },
    };
    this.network = network;
    const s = await startTestStratus(
      { ...config(this.work), network, host: '0.0.0.0' },
      this.databaseUrl,
    );
    this.s = s;
    this.deployer = s.stratus.runtime.nodeDeployer as PxeNodeDeployer;
    this.deployer.options.bootRoot = path.join(this.work, 'boot');
    this.imageId = await uploadTestGuest(s, s.adminToken);
    this.deployer.options.cleanImageId = rawId(this.imageId);
    const net = await made(
      s,
      s.adminToken,
      'createNetwork',
      { name: 'provisioning', external: true },
      'network',
    );
    this.networkId = net.id;
    await made(
      s,
      s.adminToken,
      'createSubnet',
      { networkId: net.id, cidr: `${labCidrBase()}.0/24` },
      'subnet',
    );
  }

  /** A simulated machine whose NIC is on `tap`, with a marked disk in the work folder. */
  async startSim(tap: string, mac: string): Promise<{ sim: BmcSim; disk: string }> {
    const disk = path.join(this.work, 'disk.qcow2');
    await markedDisk(disk);
    this.bmc = new BmcLab();
    const sim = await this.bmc.start({ netboot: { tap, mac, disk }, memoryMb: 384 });
    return { sim, disk };
  }

  /**
   * Enrolls a node with one port (MAC `mac`) on the provisioning network, cables the port, starts
   * its simulated machine and points the node at that BMC.
   */
  async enrollSimNode(
    mac: string,
    extra: Record<string, unknown> = {},
  ): Promise<{ nodeId: string; sim: BmcSim; disk: string }> {
    const s = this.s;
    // Enrolled first (its Stratus port names the tap), then pointed at its BMC.
    const node = await enroll(
      s,
      enrollInput({}, { ...extra, ports: [{ macAddress: mac, networkId: this.networkId }] }),
    );
    const tap = await cableNodePort(s.stratus.runtime, rawId(node.ports[0].port.id));
    const { sim, disk } = await this.startSim(tap, mac);
    const updated = await s.ok(
      `mutation($input: UpdateNodeInput!) { updateNode(input: $input) { __typename ... on Error { message } } }`,
      {
        input: {
          id: node.id,
          bmc: { port: sim.port, username: sim.username, password: sim.password },
        },
      },
      s.adminToken,
    );
    expect(updated.updateNode.__typename, JSON.stringify(updated)).toBe('UpdateNodeSuccess');
    return { nodeId: node.id, sim, disk };
  }

  /** Stops the machines, removes the network's ports, bridge and namespaces, Stratus, files, database. */
  async stop(): Promise<void> {
    await this.bmc?.stopAll();
    expect(this.bmc?.leftovers() ?? []).toEqual([]);
    const agent = this.s?.stratus.runtime.network;
    if (agent) {
      const left = await agent.driver.list();
      for (const p of left.ports) await agent.driver.deletePort(p.portIdPrefix);
      for (const id of left.networks) await agent.driver.deleteNetwork(id);
      expect(namespacesOf(left.networks)).toEqual([]);
    }
    await this.s?.stop();
    if (this.network) {
      execFileSync('ovs-vsctl', [
        '--if-exists',
        'del-br',
        String(this.network.driverConfig.bridge),
      ]);
    }
    if (this.work) await fs.rm(this.work, { recursive: true, force: true });
    if (this.databaseUrl) await dropTestDatabase(this.databaseUrl);
  }
}
