/**
 * Volume attach (Cinder + Nova): time from `attachVolume` to the disk visible in the guest,
 * against the same QMP commands sent by hand over a raw QMP socket, in the same run, on the
 * same guest and the same volume file. Goal (issue #4): overhead below 20 %.
 *
 *   npx tsx bench/volume-attach.ts        # ~1 min; VOLUME_ROUNDS (default 15)
 *
 * One test guest (scripts/build-test-guest, TCG) runs a user-data script that prints
 * `DISKS vda vdb` within 2 ms of /sys/block changing. Each round, interleaved:
 *   (a) driver: `driver.attachVolume` -> console shows `DISKS vda vdb`; then detachVolume;
 *   (b) by hand: the driver lets go of the QMP socket (`close`, the VM keeps running), a raw
 *       socket sends blockdev-add (file), blockdev-add (qcow2), device_add virtio-blk-pci into
 *       the same root port -> console shows it; then device_del, DEVICE_DELETED, blockdev-del.
 * Connecting (the driver re-adopting, the raw socket's greeting) is outside the timed part.
 * Prints medians of "visible" and of the call itself, and the ratio of medians.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadComputeDriver } from '../drivers/compute/index';
import { BUILD_GUEST, GUEST_DIR, qemuSkipReason } from '../test/support/host-tools';
import {
  attachByHand,
  ConsoleTail,
  DISK_WATCH_SCRIPT,
  detachByHand,
  disksLine,
  median,
  RawQmp,
  timeToConsole,
} from './volume-attach-common';

const ROUNDS = Number(process.env.VOLUME_ROUNDS ?? 15);

async function main(): Promise<void> {
  const skip = qemuSkipReason();
  if (skip) {
    console.log(`volume-attach: skipped (${skip})`);
    return;
  }
  execFileSync(BUILD_GUEST, [GUEST_DIR], { stdio: 'ignore' });
  // WARNING: the driver's QMP sockets and close() timers are unref'd (a VM must not keep
  // Stratus alive), so without this an awaited close() could let the process exit mid-run.
  const keepAlive = setInterval(() => {}, 1000);
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-bench-vol-'));
  const driver = await loadComputeDriver('qemu', { stateDir, accelerator: 'tcg' });
  const instanceId = randomUUID();
  try {
    const base = path.join(stateDir, 'base.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
    const volume = {
      volumeId: randomUUID(),
      driver: 'qcow2' as const,
      path: path.join(stateDir, 'volume.qcow2'),
    };
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', volume.path, '64M']);
    await driver.spawn({
      instanceId,
      name: 'bench-volume-attach',
      vcpus: 1,
      memoryMib: 256,
      rootDisk: { baseImagePath: base, format: 'qcow2', sizeGib: 1 },
      kernel: {
        kernelPath: path.join(GUEST_DIR, 'vmlinuz'),
        initrdPath: path.join(GUEST_DIR, 'initrd.img'),
      },
      userData: DISK_WATCH_SCRIPT,
    });
    const folder = path.join(stateDir, 'instances', instanceId);
    const tail = new ConsoleTail(path.join(folder, 'console.log'));
    await tail.waitFor(disksLine(['vda']), 0, 120_000);

    const driverVisible: number[] = [];
    const driverCall: number[] = [];
    const handVisible: number[] = [];
    const handCall: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // (a) through the driver (already attached to the VM: status reconnects after (b)).
      await driver.status(instanceId);
      const a = await timeToConsole(tail, disksLine(['vda', 'vdb']), () =>
        driver.attachVolume(instanceId, volume),
      );
      driverVisible.push(a.visibleMs);
      driverCall.push(a.actionMs);
      const detached = await tail.mark();
      await driver.detachVolume(instanceId, volume.volumeId);
      await tail.waitFor(disksLine(['vda']), detached);

      // (b) by hand, on a raw socket the driver gave up.
      await driver.close();
      const qmp = await RawQmp.connect(path.join(folder, 'qmp.sock'));
      const b = await timeToConsole(tail, disksLine(['vda', 'vdb']), () =>
        attachByHand(qmp, volume, 0),
      );
      handVisible.push(b.visibleMs);
      handCall.push(b.actionMs);
      const from = await tail.mark();
      await detachByHand(qmp, volume.volumeId);
      await tail.waitFor(disksLine(['vda']), from);
      await qmp.close();
      process.stdout.write(
        `round ${round + 1}/${ROUNDS}: driver ${a.visibleMs.toFixed(1)} ms (call ${a.actionMs.toFixed(1)}), by hand ${b.visibleMs.toFixed(1)} ms (commands ${b.actionMs.toFixed(1)})\n`,
      );
    }

    const rows: [string, number[], number[]][] = [
      ['attach call -> DISKS vda vdb on the console', driverVisible, handVisible],
      ['the call / the QMP commands alone', driverCall, handCall],
    ];
    console.log(`\nvolume attach, ${ROUNDS} interleaved rounds, test guest under TCG`);
    console.log(
      '| measure | driver median ms | by hand median ms | ratio | driver min-max | by hand min-max |',
    );
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const [label, mine, hand] of rows) {
      const range = (v: number[]) => `${Math.min(...v).toFixed(1)}-${Math.max(...v).toFixed(1)}`;
      console.log(
        `| ${label} | ${median(mine).toFixed(1)} | ${median(hand).toFixed(1)} | ${(median(mine) / median(hand)).toFixed(2)} | ${range(mine)} | ${range(hand)} |`,
      );
    }
    const overhead = (median(driverVisible) / median(handVisible) - 1) * 100;
    console.log(
      `\noverhead to visible: ${overhead.toFixed(1)} % (goal < 20 %: ${overhead < 20 ? 'met' : 'not met'})`,
    );
  } finally {
    await driver.destroy(instanceId).catch(() => {});
    await driver.close();
    await fs.rm(stateDir, { recursive: true, force: true });
    clearInterval(keepAlive);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
