import fs from 'node:fs/promises';
import { loadComputeDriver } from '../../drivers/compute/index';
import { type ComputeConfig, loadConfig, type StratusConfig } from '../../server/config';
import {
  createFlavor,
  createServer,
  qemuCompute,
  uploadTestGuest,
  waitForOperation,
  waitForStatus,
} from './compute';
import { startTestStratus, type TestStratus } from './harness';
import { Seed } from './seed';
import { deleteAndWait, uniq } from './servers';

/**
 * One real QEMU (TCG) guest of a member, for the tests that watch a running guest: Stratus on
 * the QEMU compute driver, the test guest uploaded, a 1-vCPU 256 MiB server with `userData`
 * ACTIVE. Fields fill in as `start` gets through, so `stop` cleans up whatever a failed start
 * left, down to every VM in the test's compute state folder.
 */
export class QemuGuest {
  s!: TestStratus;
  token!: string;
  serverId!: string;
  private compute?: ComputeConfig;

  /** `config` is merged under the QEMU compute config. */
  async start(
    config: Partial<StratusConfig>,
    server: { name: string; flavorPrefix: string; userData: string },
  ): Promise<void> {
    const compute = qemuCompute(loadConfig({}).compute);
    this.compute = compute;
    const s = await startTestStratus({ ...config, compute });
    this.s = s;
    this.token = (await new Seed(s).member('member')).token!;
    const imageId = await uploadTestGuest(s, this.token);
    const flavorId = await createFlavor(s, {
      name: uniq(server.flavorPrefix),
      vcpus: 1,
      ramMib: 256,
    });
    const created = await createServer(s, this.token, {
      name: server.name,
      imageId,
      flavorId,
      userData: server.userData,
    });
    this.serverId = created.created.server.id;
    await waitForOperation(s, this.token, created.created.operation.id);
    await waitForStatus(s, this.token, this.serverId, 'ACTIVE');
  }

  async stop(): Promise<void> {
    if (this.serverId) await deleteAndWait(this.s, this.token, this.serverId).catch(() => {});
    await this.s?.stop();
    if (this.compute) {
      // Whatever a failed step left: end every VM in the test's state folder.
      const d = await loadComputeDriver('qemu', this.compute.driverConfig);
      for (const id of await d.list({ all: true })) await d.destroy(id);
      await d.close();
      await fs.rm(String(this.compute.driverConfig.stateDir), { recursive: true, force: true });
    }
  }
}
