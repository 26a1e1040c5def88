import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PxeNodeDeployer } from '../../resolvers/baremetal/pxe/deployer';
import { loadConfig, type NetworkConfig } from '../../server/config';
import { ovsSkipReason, testBridge } from '../network/driver-ovs-support';
import { made } from '../network/networks-support';
import { BmcLab, type BmcSim, bmcSimSkipReason } from '../support/bmc-sim';
import { rawId, uploadTestGuest } from '../support/compute';
import {
  createTestDatabase,
  dropTestDatabase,
  startTestStratus,
  type TestStratus,
} from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import {
  cableNodePort,
  diskStartIs,
  labCidrBase,
  markedDisk,
  namespacesOf,
} from '../support/pxe-lab';
import { baremetalOverrides, enroll, enrollInput, PROVISION, waitForNode } from './support-nodes';

/**
 * The whole Ironic cycle through the API on a simulated machine that boots over the network:
 * enroll (its NIC on a Stratus external network), manage, provide (automated cleaning wipes its
 * disk), deploy the test guest (iPXE over HTTP, the guest's call-back makes the node active
 * with its report), undeploy (cleaning again) back to available.
 */

const skipReason = qemuSkipReason() ?? ovsSkipReason() ?? bmcSimSkipReason();
const title = skipReason
  ? `PXE provisioning through the nodes API (skipped: ${skipReason})`
  : 'PXE provisioning through the nodes API';
const WAIT = 300_000;

describe.skipIf(skipReason !== null)(title, () => {
  let s: TestStratus;
  let databaseUrl: string;
  let network: NetworkConfig;
  let work: string;
  let lab: BmcLab;
  let sim: BmcSim;
  let nodeId: string;
  let imageId: string;
  let disk: string;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-pxe-api-'));
    network = {
      ...loadConfig({}).network,
      driver: 'ovs',
      driverConfig: { bridge: testBridge(), stateDir: path.join(work, 'ovs') },
    };
    const bm = baremetalOverrides({ automatedClean: true, cleanTimeoutMs: WAIT });
    s = await startTestStratus(
      {
        ...bm,
        baremetal: { ...bm.baremetal!, deployTimeoutMs: WAIT },
        network,
        host: '0.0.0.0',
        dataDir: work,
      },
      databaseUrl,
    );
    const deployer = s.stratus.runtime.nodeDeployer as PxeNodeDeployer;
    deployer.options.bootRoot = path.join(work, 'boot');
    imageId = await uploadTestGuest(s, s.adminToken);
    deployer.options.cleanImageId = rawId(imageId);

    const net = await made(
      s,
      s.adminToken,
      'createNetwork',
      { name: 'provisioning', external: true },
      'network',
    );
    await made(
      s,
      s.adminToken,
      'createSubnet',
      { networkId: net.id, cidr: `${labCidrBase()}.0/24` },
      'subnet',
    );
    const mac = 'fa:16:3e:5e:00:02';
    // Enrolled first (its Stratus port names the tap), then pointed at its BMC.
    const node = await enroll(
      s,
      enrollInput({}, { ports: [{ macAddress: mac, networkId: net.id }] }),
    );
    nodeId = node.id;
    const tap = await cableNodePort(s.stratus.runtime, rawId(node.ports[0].port.id));
    disk = path.join(work, 'disk.qcow2');
    await markedDisk(disk);
    lab = new BmcLab();
    sim = await lab.start({ netboot: { tap, mac, disk }, memoryMb: 384 });
    const updated = await s.ok(
      `mutation($input: UpdateNodeInput!) { updateNode(input: $input) { __typename ... on Error { message } } }`,
      {
        input: {
          id: nodeId,
          bmc: { port: sim.port, username: sim.username, password: sim.password },
        },
      },
      s.adminToken,
    );
    expect(updated.updateNode.__typename, JSON.stringify(updated)).toBe('UpdateNodeSuccess');
  }, 600_000);

  afterAll(async () => {
    await lab?.stopAll();
    expect(lab?.leftovers() ?? []).toEqual([]);
    const agent = s?.stratus.runtime.network;
    if (agent) {
      const left = await agent.driver.list();
      for (const p of left.ports) await agent.driver.deletePort(p.portIdPrefix);
      for (const id of left.networks) await agent.driver.deleteNetwork(id);
      expect(namespacesOf(left.networks)).toEqual([]);
    }
    await s?.stop();
    if (network) {
      execFileSync('ovs-vsctl', ['--if-exists', 'del-br', String(network.driverConfig.bridge)]);
    }
    if (work) await fs.rm(work, { recursive: true, force: true });
    if (databaseUrl) await dropTestDatabase(databaseUrl);
  }, 120_000);

  async function provision(target: string, extra: Record<string, unknown> = {}) {
    const data = await s.ok(PROVISION, { input: { id: nodeId, target, ...extra } }, s.adminToken);
    expect(data.setNodeProvisionState.__typename, JSON.stringify(data)).toBe(
      'SetNodeProvisionStateSuccess',
    );
  }

  const settled = (state: string) => (n: { provisionState: string; lastError: string | null }) =>
    n.provisionState === state || /FAILED|ERROR/.test(n.provisionState);

  it(
    'manages and provides the node: automated cleaning wipes its disk',
    async () => {
      await provision('MANAGE');
      expect((await waitForNode(s, nodeId, settled('MANAGEABLE'), WAIT)).provisionState).toBe(
        'MANAGEABLE',
      );
      expect(await diskStartIs(disk, 0x5a)).toBe(true);
      await provision('PROVIDE');
      const node = await waitForNode(s, nodeId, settled('AVAILABLE'), WAIT);
      expect(node.provisionState, JSON.stringify(node)).toBe('AVAILABLE');
      expect(sim.console()).toMatch(/STRATUS-WIPE-DONE vda/);
      await waitForNode(s, nodeId, () => sim.vmPid() === null, 30_000);
      expect(await diskStartIs(disk, 0)).toBe(true);
    },
    2 * WAIT,
  );

  it(
    'deploys the test guest over the network: active with the guest report',
    async () => {
      await provision('DEPLOY', { imageId });
      const node = await waitForNode(s, nodeId, settled('ACTIVE'), WAIT);
      expect(node.provisionState, JSON.stringify(node)).toBe('ACTIVE');
      expect(node.deployReport).toMatch(/^STRATUS-GUEST-BOOT-OK stratus-guest 10\./);
      expect(sim.vmPid()).not.toBeNull();
      expect(sim.console()).toMatch(/STRATUS-CALLBACK-OK/);
    },
    WAIT + 60_000,
  );

  it(
    'undeploys: powered off, cleaned, available, no boot folder left',
    async () => {
      await provision('DELETED');
      const node = await waitForNode(s, nodeId, settled('AVAILABLE'), WAIT);
      expect(node.provisionState, JSON.stringify(node)).toBe('AVAILABLE');
      expect(sim.console()).toMatch(/STRATUS-WIPE-DONE vda/);
      await waitForNode(s, nodeId, () => sim.vmPid() === null, 30_000);
      expect(await fs.readdir(path.join(work, 'boot')).catch(() => [])).toEqual([]);
    },
    WAIT + 60_000,
  );
});
