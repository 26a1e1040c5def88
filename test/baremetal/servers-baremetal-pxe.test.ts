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
import {
  createServer,
  rawId,
  serverAction,
  uploadTestGuest,
  waitForOperation,
  waitForStatus,
} from '../support/compute';
import {
  createTestDatabase,
  dropTestDatabase,
  startTestStratus,
  type TestStratus,
} from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import { cableNodePort, labCidrBase, markedDisk, namespacesOf } from '../support/pxe-lab';
import { baremetalOverrides, enroll, enrollInput, query, waitForNode } from './support-nodes';

/**
 * The whole cycle again from createServer with a bare-metal flavor, real everything (the lab of
 * pxe-api.test.ts): the build claims the simulated machine's node and network-boots the test
 * guest on it (ACTIVE on its call-back, the user data run), stop/start are the node's power
 * through its BMC, and deleteServer undeploys and cleans it back to available. No VM is left.
 */

const skipReason = qemuSkipReason() ?? ovsSkipReason() ?? bmcSimSkipReason();
const title = skipReason
  ? `createServer on a network-booted machine (skipped: ${skipReason})`
  : 'createServer on a network-booted machine';
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
  let flavorId: string;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-bm-server-'));
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
    const mac = 'fa:16:3e:5e:00:07';
    // Enrolled first (its Stratus port names the tap), then pointed at its BMC.
    const node = await enroll(
      s,
      enrollInput(
        {},
        { resourceClass: 'metal-e2e', ports: [{ macAddress: mac, networkId: net.id }] },
      ),
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
    // As provide leaves it (the cleaning boot is pxe-api.test.ts's): available.
    await query(s, `update baremetal_nodes set provision_state = 'available' where id = $1`, [
      rawId(nodeId),
    ]);
    const flavor = await s.ok(
      `mutation($input: CreateFlavorInput!) { createFlavor(input: $input) { ... on CreateFlavorSuccess { flavor { id } } } }`,
      {
        input: {
          name: 'bm.e2e',
          vcpus: 1,
          ramMib: 384,
          rootDiskGib: 1,
          extraSpecs: {
            'resources:CUSTOM_METAL_E2E': '1',
            'resources:VCPU': '0',
            'resources:MEMORY_MB': '0',
            'resources:DISK_GB': '0',
          },
        },
      },
      s.adminToken,
    );
    flavorId = flavor.createFlavor.flavor.id;
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

  it(
    'createServer → the node network-boots the guest → ACTIVE; stop/start power it; delete cleans it back to available',
    async () => {
      const created = await createServer(s, s.adminToken, {
        name: 'metal-e2e',
        flavorId,
        imageId,
        userData: '#!/bin/sh\necho hello-from-metal-server\n',
      });
      expect(created.__typename, JSON.stringify(created)).toBe('CreateServerSuccess');
      const serverId = created.created.server.id;
      const active = await waitForStatus(s, s.adminToken, serverId, 'ACTIVE', WAIT);
      expect(active.powerState).toBe('running');
      const node = await waitForNode(s, nodeId, () => true);
      expect(node.provisionState).toBe('ACTIVE');
      expect(node.deployReport).toMatch(/^STRATUS-GUEST-BOOT-OK stratus-guest 10\./);
      // The machine's console: the guest booted, called back and ran the server's user data.
      expect(sim.console()).toMatch(/STRATUS-CALLBACK-OK/);
      await sim.waitForConsole(/STRATUS-SCRIPT hello-from-metal-server/, 60_000);

      const stopped = await serverAction(s, s.adminToken, 'stopServer', { id: serverId });
      expect(stopped.__typename, JSON.stringify(stopped)).toBe('StopServerSuccess');
      await waitForStatus(s, s.adminToken, serverId, 'SHUTOFF', 120_000);
      expect(sim.vmPid()).toBeNull();
      expect((await waitForNode(s, nodeId, () => true)).powerState).toBe('POWER_OFF');
      const started = await serverAction(s, s.adminToken, 'startServer', { id: serverId });
      expect(started.__typename, JSON.stringify(started)).toBe('StartServerSuccess');
      await waitForStatus(s, s.adminToken, serverId, 'ACTIVE', 120_000);
      expect(sim.vmPid()).not.toBeNull();

      const deleted = await serverAction(s, s.adminToken, 'deleteServer', { id: serverId });
      expect(deleted.__typename, JSON.stringify(deleted)).toBe('DeleteServerSuccess');
      const op = await waitForOperation(s, s.adminToken, deleted.started.operation.id, WAIT);
      expect(op.status, JSON.stringify(op)).toBe('SUCCEEDED');
      const back = await waitForNode(
        s,
        nodeId,
        (n) => n.provisionState === 'AVAILABLE' || /FAILED|ERROR/.test(n.provisionState),
        WAIT,
      );
      expect(back.provisionState, JSON.stringify(back)).toBe('AVAILABLE');
      expect(sim.console()).toMatch(/STRATUS-WIPE-DONE vda/);
      await waitForNode(s, nodeId, () => sim.vmPid() === null, 30_000);
      const [row] = await query<{ instance_id: string | null }>(
        s,
        'select instance_id from baremetal_nodes where id = $1',
        [rawId(nodeId)],
      );
      expect(row.instance_id).toBeNull();
    },
    3 * WAIT,
  );
});
