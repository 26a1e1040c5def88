import fs from 'node:fs/promises';
import path from 'node:path';
import type { BaremetalDriver } from '../../../drivers/baremetal';
import type { Runtime } from '../../runtime';
import type { DeployRequest, DeployResult, DeployTarget, NodeDeployer } from '../deployer';
import { bootImageOf, ipxeScript, prepareBootDir } from './boot-files';
import { hostAddressFor, ipxeBootOpts, setBootOpts } from './dhcp';
import type { PxeSessions } from './sessions';

/**
 * Ironic's iPXE boot and ramdisk deploy, in small: the node's NICs get DHCP options that send
 * their iPXE ROM to a per-deploy script served by Stratus over HTTP; the script loads the
 * image's kernel and ramdisk with a one-time call-back URL on the kernel command line; the
 * booted system POSTs to it and the deploy resolves. Cleaning boots the clean image the same
 * way with `stratus.action=wipe`. Whatever fails, the boot configuration goes (docs/baremetal.md).
 */

export interface PxeDeployerOptions {
  /** Where boot folders live: `<bootRoot>/<nodeId>/`. */
  bootRoot: string;
  sessions: PxeSessions;
  /**
   * The URL nodes reach Stratus at (STRATUS_PXE_BASE_URL); null: http://<the host's address on
   * the node's network>:<the port Stratus listens on>.
   */
  baseUrl: string | null;
  /** The image (kernel_id + ramdisk_id) booted to wipe a node's disks; null: cleaning fails. */
  cleanImageId: string | null;
  /** Why this process has no network driver (DHCP cannot be set up), or null. */
  networkUnavailable?: string | null;
}

type Action = 'deploy' | 'wipe';

export class PxeNodeDeployer implements NodeDeployer {
  private port: number | null = null;

  constructor(readonly options: PxeDeployerOptions) {}

  /** The port Stratus listens on, once it does. */
  listening(port: number): void {
    this.port = port;
  }

  unavailable(): string | null {
    const network = this.options.networkUnavailable;
    if (network) return `network boot needs the node's DHCP, and ${network}`;
    if (!this.options.baseUrl && this.port === null) return 'Stratus does not listen on HTTP yet';
    return null;
  }

  async deploy(rt: Runtime, request: DeployRequest, timeoutMs: number): Promise<DeployResult> {
    const report = await this.boot(
      rt,
      request,
      request.imageId,
      'deploy',
      timeoutMs,
      request.onStage,
      request.userData,
    );
    return { report };
  }

  async clean(rt: Runtime, target: DeployTarget, timeoutMs: number): Promise<void> {
    const imageId = this.options.cleanImageId;
    if (!imageId) {
      throw new Error(
        'no clean image is configured (STRATUS_BAREMETAL_CLEAN_IMAGE_ID: an image with kernel_id and ramdisk_id)',
      );
    }
    await this.boot(rt, target, imageId, 'wipe', timeoutMs);
    await this.driver(rt).setPower(target.bmc, 'off');
  }

  async tearDown(rt: Runtime, target: DeployTarget): Promise<void> {
    this.options.sessions.close(target.nodeId, new Error('the node is being torn down'));
    try {
      await this.driver(rt).setPower(target.bmc, 'off');
    } finally {
      await this.removeBootConfig(rt, target);
    }
  }

  /** Boots the node over the network into `imageId` and resolves with its call-back's report. */
  private async boot(
    rt: Runtime,
    target: DeployTarget,
    imageId: string,
    action: Action,
    timeoutMs: number,
    onStage: (stage: string) => Promise<void> = async () => {},
    userData: string | null = null,
  ): Promise<string> {
    const driver = this.driver(rt);
    if (!rt.network)
      throw new Error('no network driver on this process: DHCP cannot be configured');
    if (target.portIds.length === 0) throw new Error('the node has no ports to boot from');
    const dir = this.bootDir(target.nodeId);
    let timer: NodeJS.Timeout | undefined;
    try {
      await onStage('preparing boot files');
      const base = await this.baseUrl(rt, target.portIds[0]);
      const image = await bootImageOf(rt.db, imageId);
      await fs.rm(dir, { recursive: true, force: true });
      const files = await prepareBootDir(dir, rt.objectStore, image);
      if (userData !== null) await fs.writeFile(files['user-data'], userData, { mode: 0o640 });
      const session = this.options.sessions.open(target.nodeId, files);
      const bootUrl = `${base}/v1/baremetal/boot/${session.bootToken}`;
      await fs.writeFile(
        files['boot.ipxe'],
        ipxeScript({
          nodeId: target.nodeId,
          bootUrl,
          callbackUrl: `${base}/v1/baremetal/callback/${session.callbackToken}`,
          cmdline: image.cmdline,
          action,
          userData: userData !== null,
        }),
      );
      await onStage('configuring DHCP');
      await setBootOpts(rt, target.portIds, ipxeBootOpts(`${bootUrl}/boot.ipxe`));
      await onStage('setting boot device');
      await driver.setBootDevice(target.bmc, 'pxe');
      await onStage('powering on');
      const power = await driver.powerState(target.bmc);
      await driver.setPower(target.bmc, power === 'power on' ? 'reboot' : 'on');
      await onStage('wait call-back');
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no call-back from the node within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      return await Promise.race([session.callback, timeout]);
    } catch (error) {
      // Ironic powers a node off after a failed deploy; a BMC that fails here is already said.
      await driver.setPower(target.bmc, 'off').catch(() => {});
      throw error;
    } finally {
      clearTimeout(timer);
      await this.removeBootConfig(rt, target);
    }
  }

  /** Ends the node's session, removes its DHCP options and its boot folder. */
  private async removeBootConfig(rt: Runtime, target: DeployTarget): Promise<void> {
    this.options.sessions.close(target.nodeId);
    try {
      await setBootOpts(rt, target.portIds, []);
    } finally {
      await fs.rm(this.bootDir(target.nodeId), { recursive: true, force: true });
    }
  }

  private driver(rt: Runtime): BaremetalDriver {
    const driver = rt.baremetal?.driver;
    if (!driver) throw new Error(rt.baremetalUnavailable ?? 'no baremetal driver on this process');
    return driver;
  }

  private async baseUrl(rt: Runtime, portId: string): Promise<string> {
    if (this.options.baseUrl) return this.options.baseUrl.replace(/\/+$/, '');
    if (this.port === null) throw new Error('Stratus does not listen on HTTP yet');
    const address = await hostAddressFor(rt, portId);
    if (!address) {
      throw new Error(
        `port ${portId} is not on an external network with an IPv4 gateway: the node could not reach Stratus (set STRATUS_PXE_BASE_URL, or provision on such a network)`,
      );
    }
    return `http://${address}:${this.port}`;
  }

  private bootDir(nodeId: string): string {
    if (!/^[0-9a-f-]{8,64}$/.test(nodeId)) throw new Error(`bad node id ${nodeId}`);
    return path.join(this.options.bootRoot, nodeId);
  }
}
