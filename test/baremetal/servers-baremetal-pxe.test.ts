import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ovsSkipReason } from '../network/driver-ovs-support';
import { type BmcSim, bmcSimSkipReason } from '../support/bmc-sim';
import {
  createServer,
  rawId,
  serverAction,
  waitForOperation,
  waitForStatus,
} from '../support/compute';
import type { TestStratus } from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import { PxeLab, pxeApiConfig } from '../support/pxe-lab';
import { query, waitForNode } from './support-nodes';

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
  const lab = new PxeLab();
  let s: TestStratus;
  let sim: BmcSim;
  let nodeId: string;
  let imageId: string;
  let flavorId: string;

  beforeAll(async () => {
    await lab.start('stratus-bm-server-', pxeApiConfig(WAIT));
    s = lab.s;
    imageId = lab.imageId;
    ({ nodeId, sim } = await lab.enrollSimNode('fa:16:3e:5e:00:07', {
      resourceClass: 'metal-e2e',
    }));
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

  afterAll(() => lab.stop(), 120_000);

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
