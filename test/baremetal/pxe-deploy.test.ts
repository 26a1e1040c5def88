import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployTarget } from '../../resolvers/baremetal/deployer';
import type { PxeNodeDeployer } from '../../resolvers/baremetal/pxe/deployer';
import type { Runtime } from '../../resolvers/runtime';
import { ovsSkipReason } from '../network/driver-ovs-support';
import { made } from '../network/networks-support';
import { type BmcSim, bmcSimSkipReason } from '../support/bmc-sim';
import { rawId } from '../support/compute';
import type { TestStratus } from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import { cableNodePort, diskStartIs, PxeLab } from '../support/pxe-lab';

/**
 * Network boot of a simulated machine, real everything: a Stratus external network on Open
 * vSwitch with dnsmasq DHCP, an ipmi_sim BMC whose chassis starts QEMU with one NIC (on the
 * port's tap) and a qcow2 disk, QEMU's iPXE ROM. The deployer sets the port's DHCP options,
 * the boot device and the power through ipmitool; iPXE fetches the script, kernel and ramdisk
 * over HTTP from Stratus at the host's address on the network; the guest calls back. Then
 * cleaning zeroes the disk's marker, and tear-down leaves no DHCP entry, boot folder or VM.
 */

const skipReason = qemuSkipReason() ?? ovsSkipReason() ?? bmcSimSkipReason();
const title = skipReason
  ? `PXE deploy of a simulated machine (skipped: ${skipReason})`
  : 'PXE deploy of a simulated machine';

const BOOT_WAIT = 240_000;

describe.skipIf(skipReason !== null)(title, () => {
  const lab = new PxeLab();
  let s: TestStratus;
  let rt: Runtime;
  let work: string;
  let sim: BmcSim;
  let deployer: PxeNodeDeployer;
  let target: DeployTarget;
  let networkId: string;
  let imageId: string;
  let disk: string;
  let optsFile: string;
  let hostsFile: string;
  const stages: string[] = [];

  beforeAll(async () => {
    await lab.start('stratus-pxe-');
    ({ s, work, deployer, imageId } = lab);
    rt = s.stratus.runtime;
    expect(rt.network?.driver.info().name).toBe('ovs');
    expect(deployer?.unavailable()).toBeNull();
    networkId = rawId(lab.networkId);
    const mac = 'fa:16:3e:5e:00:01';
    const port = await made(
      s,
      s.adminToken,
      'createPort',
      { networkId: lab.networkId, macAddress: mac, portSecurityEnabled: false, name: 'node-nic0' },
      'port',
    );
    const portId = rawId(port.id);
    const dhcpDir = path.join(work, 'ovs', 'networks', networkId, 'dhcp');
    optsFile = path.join(dhcpDir, 'opts');
    hostsFile = path.join(dhcpDir, 'host');
    // The subnet's sync job starts dnsmasq and the host gateway (the host's address .1).
    await until(() => existsSync(path.join(dhcpDir, 'pid')), 'the network DHCP');
    const tap = await cableNodePort(rt, portId);
    ({ sim, disk } = await lab.startSim(tap, mac));
    target = { nodeId: randomUUID(), bmc: sim.spec(), portIds: [portId], macs: [mac] };
  }, 600_000);

  afterAll(() => lab.stop(), 120_000);

  async function until(check: () => boolean, what: string, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const tagLines = () =>
    readFileSync(optsFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes(`port-${target.portIds[0]}`));

  it(
    'boots the machine over the network through iPXE and resolves on its call-back',
    async () => {
      let optsWhileWaiting: string[] = [];
      let hostWhileWaiting = '';
      let bootDirWhileWaiting: string[] = [];
      const { report } = await deployer.deploy(
        rt,
        {
          ...target,
          imageId: rawId(imageId),
          userData: '#!/bin/sh\necho hello-from-user-data\n',
          onStage: async (stage) => {
            stages.push(stage);
            if (stage === 'wait call-back') {
              optsWhileWaiting = tagLines();
              hostWhileWaiting = readFileSync(hostsFile, 'utf8');
              bootDirWhileWaiting = await fs.readdir(path.join(work, 'boot', target.nodeId));
            }
          },
        },
        BOOT_WAIT,
      );
      expect(stages).toEqual([
        'preparing boot files',
        'configuring DHCP',
        'setting boot device',
        'powering on',
        'wait call-back',
      ]);
      // While it waited: dnsmasq sent iPXE clients of this port to the boot script over HTTP.
      expect(optsWhileWaiting).toHaveLength(1);
      expect(optsWhileWaiting[0]).toMatch(
        /^tag:port-[0-9a-f-]+,tag:ipxe,option:bootfile-name,http:\/\/10\.\d+\.\d+\.1:\d+\/v1\/baremetal\/boot\/[\w-]+\/boot\.ipxe$/,
      );
      expect(hostWhileWaiting).toContain(`fa:16:3e:5e:00:01,set:port-${target.portIds[0]}`);
      expect(bootDirWhileWaiting).toContain('user-data');
      expect(bootDirWhileWaiting).toHaveLength(4);
      expect(report).toMatch(/^STRATUS-GUEST-BOOT-OK stratus-guest 10\.\d+\.\d+\.\d+$/);
      // The machine booted through its NIC's iPXE ROM, into the guest, which called back.
      await sim.waitForConsole(/STRATUS-CALLBACK-OK/, 30_000);
      expect(sim.console()).toMatch(/STRATUS-GUEST-BOOT-OK/);
      // The user data came over HTTP too, and ran as a script.
      await sim.waitForConsole(/STRATUS-SCRIPT hello-from-user-data/, 30_000);
      // No kernel of its own and a blank disk: what booted came over the network. dnsmasq
      // acknowledged the MAC twice: iPXE's DHCP, then the booted guest's.
      const pid = sim.vmPid();
      expect(pid).not.toBeNull();
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      expect(argv).not.toContain('-kernel');
      expect(argv).toContain('order=n');
      const acks = readFileSync(path.join(path.dirname(optsFile), 'log'), 'utf8')
        .split('\n')
        .filter((l) => /DHCPACK/.test(l) && l.includes('fa:16:3e:5e:00:01'));
      expect(acks.length).toBeGreaterThanOrEqual(2);
      // The boot configuration is gone once the call-back came.
      expect(tagLines()).toEqual([]);
      expect(existsSync(path.join(work, 'boot', target.nodeId))).toBe(false);
      expect(deployer.options.sessions.nodes()).toEqual([]);
    },
    BOOT_WAIT + 60_000,
  );

  it(
    'cleans: boots the wipe ramdisk, which zeroes the disk and calls back, then powers off',
    async () => {
      expect(await diskStartIs(disk, 0x5a)).toBe(true);
      await deployer.clean(rt, target, BOOT_WAIT);
      expect(sim.console()).toMatch(/STRATUS-WIPE-DONE vda/);
      await until(() => sim.vmPid() === null, 'the machine to be off', 30_000);
      expect(await diskStartIs(disk, 0)).toBe(true);
      expect(tagLines()).toEqual([]);
      expect(existsSync(path.join(work, 'boot', target.nodeId))).toBe(false);
    },
    BOOT_WAIT + 60_000,
  );

  it('a deploy that gets no call-back in time powers off and removes its boot config', async () => {
    await expect(
      deployer.deploy(rt, { ...target, imageId: rawId(imageId), userData: null }, 1_000),
    ).rejects.toThrow(/no call-back from the node within 1000 ms/);
    expect(sim.vmPid()).toBeNull();
    expect(tagLines()).toEqual([]);
    expect(existsSync(path.join(work, 'boot', target.nodeId))).toBe(false);
    expect(deployer.options.sessions.nodes()).toEqual([]);
  }, 120_000);

  it('refuses an image without a kernel and ramdisk, leaving nothing', async () => {
    const kernelId = (
      await s.ok(
        'query($id: ID!) { node(id: $id) { ... on Image { properties } } }',
        { id: imageId },
        s.adminToken,
      )
    ).node.properties.kernel_id as string;
    await expect(
      deployer.deploy(rt, { ...target, imageId: kernelId, userData: null }, 10_000),
    ).rejects.toThrow(/has no kernel_id/);
    expect(tagLines()).toEqual([]);
    expect(existsSync(path.join(work, 'boot', target.nodeId))).toBe(false);
  });

  it('tears down: powered off, no DHCP entry, no boot folder, no VM', async () => {
    await deployer.tearDown(rt, target);
    expect(sim.vmPid()).toBeNull();
    expect(tagLines()).toEqual([]);
    expect(readFileSync(hostsFile, 'utf8')).not.toContain('set:port-');
    expect(existsSync(path.join(work, 'boot', target.nodeId))).toBe(false);
  });

  it('serves boot files only under a live token and takes a call-back once', async () => {
    const sessions = deployer.options.sessions;
    const file = path.join(work, 'script');
    await fs.writeFile(file, '#!ipxe\n');
    const session = sessions.open('00000000-0000-4000-8000-000000000001', {
      'boot.ipxe': file,
      vmlinuz: file,
      'initrd.img': file,
      'user-data': file,
    });
    const get = (p: string) => fetch(`${s.url}/v1/baremetal/boot/${p}`);
    expect((await get(`${session.bootToken}/boot.ipxe`)).status).toBe(200);
    expect((await get(`${session.bootToken}/../../etc/passwd`)).status).toBe(404);
    expect((await get(`${session.bootToken}/other`)).status).toBe(404);
    expect((await get('nope/boot.ipxe')).status).toBe(404);
    const post = () =>
      fetch(`${s.url}/v1/baremetal/callback/${session.callbackToken}`, {
        method: 'POST',
        body: 'STRATUS-GUEST-BOOT-OK x\nmore',
      });
    expect((await post()).status).toBe(204);
    await expect(session.callback).resolves.toBe('STRATUS-GUEST-BOOT-OK x');
    expect((await post()).status).toBe(404);
    sessions.close('00000000-0000-4000-8000-000000000001');
    expect((await get(`${session.bootToken}/boot.ipxe`)).status).toBe(404);
  });
});
