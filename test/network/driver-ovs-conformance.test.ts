import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { FakeNetworkDriver } from '../../drivers/network/fake';
import { OvsNetworkDriver } from '../../drivers/network/ovs/index';
import { describeNetworkDriverConformance } from './conformance-suite';
import { ovsSkipReason, testBridge } from './driver-ovs-support';

/** The network driver contract, run against the ovs driver (real OVS) and the fake. */

const skipReason = ovsSkipReason();

describeNetworkDriverConformance(
  skipReason
    ? `network driver conformance: ovs (skipped: ${skipReason})`
    : 'network driver conformance: ovs',
  async () => {
    const bridge = testBridge();
    const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-ovs-conformance-'));
    const driver = new OvsNetworkDriver({ bridge, stateDir });
    await driver.probe();
    return {
      driver,
      async teardown() {
        const left = await driver.list();
        execFileSync('ovs-vsctl', ['--if-exists', 'del-br', bridge]);
        await fs.rm(stateDir, { recursive: true, force: true });
        expect(left).toEqual({ networks: [], ports: [], routers: [] });
      },
    };
  },
  { skip: skipReason !== null },
);

describeNetworkDriverConformance('network driver conformance: fake', async () => ({
  driver: new FakeNetworkDriver(),
  async teardown() {},
}));
