import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ComputeDriver,
  type InstanceSpec,
  InstanceStateError,
  InvalidInstanceSpecError,
  loadComputeDriver,
  VolumeAlreadyAttachedError,
  type VolumeAttachmentSpec,
  VolumeDetachTimeoutError,
  VolumeNotAttachedError,
} from '../../drivers/compute/index';
import { BUILD_GUEST, GUEST_DIR, qemuSkipReason } from '../support/host-tools';

/**
 * Volumes and NICs on real QEMU (TCG) with the test guest, which prints every 2 s the disks it
 * sees (`STRATUS-BLOCK: vda vdb`), their sizes in sectors (`STRATUS-BLOCKSIZE: vda=... vdb=...`)
 * and its NICs (`STRATUS-NET: eth0=<mac>`): what the guest sees is the outcome checked.
 */

const skipReason = qemuSkipReason();
const skip = skipReason !== null;
const title = skip
  ? `qemu driver volumes and NICs with real VMs (skipped: ${skipReason})`
  : 'qemu driver volumes and NICs with real VMs';

const MIB = 1024 ** 2;

describe.skipIf(skip)(title, () => {
  let stateDir: string;
  let base: string;
  let driver: ComputeDriver;
  const taps: string[] = [];

  beforeAll(async () => {
    execFileSync(BUILD_GUEST, [GUEST_DIR], { stdio: 'ignore', timeout: 15 * 60_000 });
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-qv-'));
    base = path.join(stateDir, 'base.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
    driver = await loadComputeDriver('qemu', { stateDir, accelerator: 'tcg' });
  }, 20 * 60_000);

  afterAll(async () => {
    if (driver) {
      for (const id of await driver.list({ all: true })) await driver.destroy(id);
      await driver.close();
    }
    for (const tap of taps) execFileSync('ip', ['link', 'del', tap], { stdio: 'ignore' });
    if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  });

  function spec(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
    return {
      instanceId: randomUUID(),
      name: 'qemu-volumes',
      vcpus: 1,
      memoryMib: 256,
      rootDisk: { baseImagePath: base, format: 'qcow2', sizeGib: 1 },
      kernel: {
        kernelPath: path.join(GUEST_DIR, 'vmlinuz'),
        initrdPath: path.join(GUEST_DIR, 'initrd.img'),
      },
      ...overrides,
    };
  }

  /** A fresh qcow2 volume of `mib` MiB, as the file volume driver makes them. */
  function volume(mib: number): VolumeAttachmentSpec {
    const volumeId = randomUUID();
    const file = path.join(stateDir, `volume-${volumeId}.qcow2`);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${mib}M`]);
    return { volumeId, driver: 'qcow2', path: file };
  }

  async function until<T>(probe: () => Promise<T | undefined | false>, what: string, ms = 90_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Where the console log ends now: `sees` only looks at what comes after it. */
  async function mark(id: string): Promise<number> {
    return (await driver.consoleLog(id)).length;
  }

  /** Waits for a console line after `from` starting with `prefix` that matches `line`. */
  function sees(id: string, from: number, line: RegExp): Promise<string> {
    return until(async () => {
      const text = (await driver.consoleLog(id)).slice(from);
      return text.split(/\r?\n/).find((l) => line.test(l));
    }, `${line} on the console of ${id}`);
  }

  /** The sectors of `disk` in the latest STRATUS-BLOCKSIZE line after `from`. */
  function sectorsOf(line: string, disk: string): number {
    return Number(new RegExp(`\\b${disk}=(\\d+)`).exec(line)?.[1]);
  }

  let id: string;
  let first: VolumeAttachmentSpec;
  let second: VolumeAttachmentSpec;

  it('hot-plugs a qcow2 volume: the running guest sees it as vdb, with its size', async () => {
    const s = spec();
    id = s.instanceId;
    await driver.spawn(s);
    await sees(id, 0, /^STRATUS-BLOCK: vda$/);
    first = volume(32);
    const from = await mark(id);
    expect(await driver.attachVolume(id, first)).toEqual({
      device: '/dev/vdb',
      method: 'hot-plug',
    });
    await sees(id, from, /^STRATUS-BLOCK: vda vdb$/);
    const sizes = await sees(id, from, /^STRATUS-BLOCKSIZE: .*\bvdb=/);
    expect(sectorsOf(sizes, 'vdb')).toBe((32 * MIB) / 512);
    expect(await driver.attachedVolumes(id)).toEqual([first.volumeId]);
  }, 180_000);

  it('refuses a second attach of the same volume and a path naming nothing, changing nothing', async () => {
    await expect(driver.attachVolume(id, first)).rejects.toBeInstanceOf(VolumeAlreadyAttachedError);
    const missing = { ...volume(8), path: path.join(stateDir, 'no-such-volume.qcow2') };
    const error = await driver.attachVolume(id, missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInstanceSpecError);
    expect((error as InvalidInstanceSpecError).field).toBe('volume.path');
    // QEMU's own refusal (a raw file attached as qcow2) leaves no node behind either: the
    // same volume attaches fine afterwards with the right format.
    const raw = path.join(stateDir, `raw-${randomUUID()}.img`);
    await fs.writeFile(raw, Buffer.alloc(MIB));
    const wrong: VolumeAttachmentSpec = { volumeId: randomUUID(), driver: 'qcow2', path: raw };
    await expect(driver.attachVolume(id, wrong)).rejects.toThrow(/blockdev-add/);
    expect(await driver.attachedVolumes(id)).toEqual([first.volumeId]);
    await driver.attachVolume(id, { ...wrong, driver: 'raw' });
    await driver.detachVolume(id, wrong.volumeId);
    expect(await driver.attachedVolumes(id)).toEqual([first.volumeId]);
    await expect(driver.detachVolume(id, randomUUID())).rejects.toBeInstanceOf(
      VolumeNotAttachedError,
    );
  }, 180_000);

  it('extends the attached volume online: the guest sees the new size', async () => {
    const from = await mark(id);
    await driver.extendVolume(id, first.volumeId, 64 * MIB);
    const line = await sees(id, from, /^STRATUS-BLOCKSIZE: .*\bvdb=131072\b/);
    expect(sectorsOf(line, 'vdb')).toBe((64 * MIB) / 512);
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--output=json', first.path], { encoding: 'utf8' }),
    );
    expect(info['virtual-size']).toBe(64 * MIB);
    const error = await driver.extendVolume(id, first.volumeId, 32 * MIB).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInstanceSpecError);
    expect((error as InvalidInstanceSpecError).field).toBe('newSizeBytes');
  }, 180_000);

  it('keeps volumes across stop and start; a volume attached while off comes at boot', async () => {
    await driver.powerOff(id, { graceful: false });
    second = volume(16);
    expect(await driver.attachVolume(id, second)).toEqual({
      device: '/dev/vdc',
      method: 'definition',
    });
    const from = await mark(id);
    await driver.start(id);
    await sees(id, from, /^STRATUS-BLOCK: vda vdb vdc$/);
    const sizes = await sees(id, from, /^STRATUS-BLOCKSIZE: .*\bvdc=/);
    expect(sectorsOf(sizes, 'vdb')).toBe((64 * MIB) / 512);
    expect(sectorsOf(sizes, 'vdc')).toBe((16 * MIB) / 512);
    expect(await driver.attachedVolumes(id)).toEqual([first.volumeId, second.volumeId]);
  }, 180_000);

  it('hot-unplugs a volume: it disappears from the guest and the definition', async () => {
    const from = await mark(id);
    expect(await driver.detachVolume(id, first.volumeId)).toEqual({ method: 'hot-unplug' });
    await sees(id, from, /^STRATUS-BLOCK: vda vdc$/);
    expect(await driver.attachedVolumes(id)).toEqual([second.volumeId]);
  }, 180_000);

  it('times out detaching from a frozen guest, keeps the volume, and detaches once it runs', async () => {
    await driver.pause(id);
    const error = await driver
      .detachVolume(id, second.volumeId, { timeoutMs: 1500 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VolumeDetachTimeoutError);
    expect(await driver.attachedVolumes(id)).toEqual([second.volumeId]);
    // Still attached: a second try while frozen times out again (the unplug stays pending).
    await expect(
      driver.detachVolume(id, second.volumeId, { timeoutMs: 500 }),
    ).rejects.toBeInstanceOf(VolumeDetachTimeoutError);
    const from = await mark(id);
    await driver.unpause(id);
    expect(await driver.detachVolume(id, second.volumeId)).toEqual({ method: 'hot-unplug' });
    await sees(id, from, /^STRATUS-BLOCK: vda$/);
    expect(await driver.attachedVolumes(id)).toEqual([]);
  }, 180_000);

  it('detaches a volume through a new driver after a restart (adopted instance)', async () => {
    const third = volume(8);
    await driver.attachVolume(id, third);
    await driver.close();
    driver = await loadComputeDriver('qemu', { stateDir, accelerator: 'tcg' });
    expect(await driver.attachedVolumes(id)).toEqual([third.volumeId]);
    const from = await mark(id);
    await driver.adopt(id);
    expect(await driver.detachVolume(id, third.volumeId)).toEqual({ method: 'hot-unplug' });
    await sees(id, from, /^STRATUS-BLOCK: vda$/);
  }, 180_000);

  it('boots from a volume used in place, which destroy leaves alone', async () => {
    const root = volume(96);
    const s = spec({ rootDisk: { volume: root } });
    await driver.spawn(s);
    const sizes = await sees(s.instanceId, 0, /^STRATUS-BLOCKSIZE: vda=/);
    expect(sectorsOf(sizes, 'vda')).toBe((96 * MIB) / 512);
    expect(existsSync(path.join(stateDir, 'instances', s.instanceId, 'disk.qcow2'))).toBe(false);
    expect(await driver.attachedVolumes(s.instanceId)).toEqual([root.volumeId]);
    await expect(driver.snapshot(s.instanceId, path.join(stateDir, 'snap.qcow2'))).rejects.toThrow(
      /booted from a volume/,
    );
    await expect(driver.detachVolume(s.instanceId, root.volumeId)).rejects.toBeInstanceOf(
      InstanceStateError,
    );
    // The root volume grows online too.
    const from = await mark(s.instanceId);
    await driver.extendVolume(s.instanceId, root.volumeId, 128 * MIB);
    await sees(s.instanceId, from, /^STRATUS-BLOCKSIZE: vda=262144\b/);
    await driver.powerOff(s.instanceId, { graceful: false });
    await expect(
      driver.rebuild(s.instanceId, {
        rootDisk: { baseImagePath: base, format: 'qcow2', sizeGib: 1 },
      }),
    ).rejects.toThrow(/booted from a volume/);
    await driver.destroy(s.instanceId);
    expect(existsSync(root.path)).toBe(true);
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '--output=json', root.path], { encoding: 'utf8' }),
    );
    expect(info['virtual-size']).toBe(128 * MIB);
  }, 180_000);

  it('opens an existing tap as eth0 with the port MAC, again after stop and start', async () => {
    const tap = `stv${randomUUID().slice(0, 8)}`;
    execFileSync('ip', ['tuntap', 'add', 'mode', 'tap', 'name', tap]);
    taps.push(tap);
    const mac = 'fa:16:3e:12:34:56';
    const s = spec({ nics: [{ portId: randomUUID(), tapName: tap, mac }] });
    await driver.spawn(s);
    await sees(s.instanceId, 0, new RegExp(`^STRATUS-NET: eth0=${mac}$`));
    await driver.powerOff(s.instanceId, { graceful: false });
    const from = await mark(s.instanceId);
    await driver.start(s.instanceId);
    await sees(s.instanceId, from, new RegExp(`^STRATUS-NET: eth0=${mac}$`));
    await driver.destroy(s.instanceId);
    // The tap belongs to the network driver: QEMU's exit leaves it.
    expect(existsSync(`/sys/class/net/${tap}`)).toBe(true);
  }, 180_000);

  it('refuses a NIC whose tap does not exist, naming the field, leaving nothing', async () => {
    const s = spec({
      nics: [{ portId: randomUUID(), tapName: 'stvmissing0', mac: 'fa:16:3e:00:00:01' }],
    });
    const error = await driver.spawn(s).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInstanceSpecError);
    expect((error as InvalidInstanceSpecError).field).toBe('nics[0].tapName');
    expect(await driver.list({ all: true })).not.toContain(s.instanceId);
    expect(existsSync('/sys/class/net/stvmissing0')).toBe(false);
  });
});
