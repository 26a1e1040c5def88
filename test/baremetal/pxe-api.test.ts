import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ovsSkipReason } from '../network/driver-ovs-support';
import type { BmcSim } from '../support/bmc-sim';
import { bmcSimSkipReason } from '../support/bmc-sim';
import type { TestStratus } from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import { diskStartIs, PxeLab, pxeApiConfig } from '../support/pxe-lab';
import { PROVISION, waitForNode } from './support-nodes';

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
  const lab = new PxeLab();
  let s: TestStratus;
  let sim: BmcSim;
  let nodeId: string;
  let imageId: string;
  let disk: string;

  beforeAll(async () => {
    await lab.start('stratus-pxe-api-', pxeApiConfig(WAIT));
    s = lab.s;
    imageId = lab.imageId;
    ({ nodeId, sim, disk } = await lab.enrollSimNode('fa:16:3e:5e:00:02'));
  }, 600_000);

  afterAll(() => lab.stop(), 120_000);

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
      expect(await fs.readdir(path.join(lab.work, 'boot')).catch(() => [])).toEqual([]);
    },
    WAIT + 60_000,
  );
});
