import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DriverUnavailableError } from '../../drivers/errors';
import {
  type CommandRunner,
  InvalidVolumeSpecError,
  LvmVolumeDriver,
  SnapshotNotFoundError,
  VolumeBusyError,
  VolumeCommandError,
  VolumeExistsError,
  VolumeNotFoundError,
} from '../../drivers/volume/index';
import { makeImages, volumeConformance } from './conformance-suite';

/**
 * The lvm driver's command sequences and error handling, against a recording fake runner that
 * keeps a volume group in memory; then the conformance suite against a real volume group,
 * where the machine has one.
 */

const VG = 'stratus-vg';
const V1 = '11111111-1111-4111-8111-111111111111';
const V2 = '22222222-2222-4222-8222-222222222222';
const S1 = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const S2 = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const GIB = 1024 ** 3;

const LVS = [
  'lvs',
  '--noheadings',
  '--separator',
  ',',
  '--units',
  'g',
  '--nosuffix',
  '-o',
  'lv_name,origin,lv_size',
  VG,
];

/** A failure as `runTool` throws it: a message and what the tool printed. */
class FakeFailure extends Error {
  constructor(readonly stderr: string) {
    super(stderr);
  }
}

/** lvm2 and qemu-img in memory: records every argv, fails where `failWhen` says. */
class FakeLvm {
  calls: string[][] = [];
  lvs = new Map<string, { origin: string; sizeGib: number }>();
  images: Record<string, number> = { '/images/small.qcow2': 64 << 20, '/images/big.raw': 3 * GIB };
  failWhen: (argv: string[]) => string | null = () => null;

  runner: CommandRunner = async (binary, args) => {
    const argv = [binary, ...args];
    this.calls.push(argv);
    const failure = this.failWhen(argv);
    if (failure) throw new FakeFailure(failure);
    const out = (stdout: string) => ({ stdout, stderr: '' });
    switch (binary) {
      case 'vgs':
        return out('    20.00g   12.50g\n');
      case 'lvs':
        return out(
          [...this.lvs]
            .map(([name, lv]) => `  ${name},${lv.origin},${lv.sizeGib.toFixed(2)}\n`)
            .join(''),
        );
      case 'lvcreate': {
        const size = Number(args[args.indexOf('-L') + 1].replace('G', ''));
        const name = args[args.indexOf('-n') + 1];
        const origin = args.includes('-s') ? args.at(-1)!.split('/')[1] : '';
        this.lvs.set(name, { origin, sizeGib: size });
        return out('');
      }
      case 'lvremove':
        this.lvs.delete(args.at(-1)!.split('/')[1]);
        return out('');
      case 'lvextend':
        this.lvs.get(args.at(-1)!.split('/')[1])!.sizeGib = Number(args[1].replace('G', ''));
        return out('');
      case 'qemu-img': {
        if (args[0] === 'info') {
          const size = this.images[args.at(-1)!];
          if (size === undefined) {
            throw new FakeFailure(
              `qemu-img: Could not open '${args.at(-1)}': No such file or directory`,
            );
          }
          return out(JSON.stringify({ 'virtual-size': size }));
        }
        return out('');
      }
    }
    throw new Error(`unexpected command ${argv.join(' ')}`);
  };

  driver() {
    return new LvmVolumeDriver({ volumeGroup: VG, runner: this.runner });
  }

  /** The calls made so far, forgetting them. */
  take(): string[][] {
    const calls = this.calls;
    this.calls = [];
    return calls;
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('lvm driver with a recording fake runner', () => {
  it('probes the volume group with vgs', async () => {
    const lvm = new FakeLvm();
    await expect(lvm.driver().probe()).resolves.toEqual({ totalGib: 20, freeGib: 12.5 });
    expect(lvm.take()).toEqual([
      ['vgs', '--noheadings', '--units', 'g', '-o', 'vg_size,vg_free', VG],
    ]);
    lvm.failWhen = () => `  Volume group "${VG}" not found`;
    const err = await rejection(lvm.driver().probe());
    expect(err).toBeInstanceOf(DriverUnavailableError);
    expect((err as Error).message).toBe(
      `driver "lvm" is not usable: volume group "${VG}" is not usable:   Volume group "${VG}" not found`,
    );
  });

  it('creates a blank volume with lvcreate, refusing an existing id', async () => {
    const lvm = new FakeLvm();
    const driver = lvm.driver();
    await expect(driver.create({ volumeId: V1, sizeGib: 2 })).resolves.toEqual({
      volumeId: V1,
      sizeGib: 2,
    });
    expect(lvm.take()).toEqual([LVS, ['lvcreate', '-L', '2G', '-n', `volume-${V1}`, VG]]);
    expect(await rejection(driver.create({ volumeId: V1, sizeGib: 2 }))).toBeInstanceOf(
      VolumeExistsError,
    );
    expect(lvm.take()).toEqual([LVS]);
    expect(await driver.connectionInfo(V1)).toEqual({
      driver: 'raw',
      path: `/dev/${VG}/volume-${V1}`,
    });
  });

  it('a failing lvcreate leaves nothing to undo', async () => {
    const lvm = new FakeLvm();
    lvm.failWhen = (argv) =>
      argv[0] === 'lvcreate' ? 'Volume group "stratus-vg" has insufficient free space' : null;
    const err = await rejection(lvm.driver().create({ volumeId: V1, sizeGib: 50 }));
    expect(err).toBeInstanceOf(VolumeCommandError);
    expect((err as Error).message).toBe(
      `creating the volume of "${V1}" failed: Volume group "stratus-vg" has insufficient free space`,
    );
    expect(lvm.take().map((argv) => argv[0])).toEqual(['lvs', 'lvcreate']);
    expect(lvm.lvs.size).toBe(0);
  });

  it('creates a volume from an image: lvcreate, then qemu-img convert -O raw into the LV', async () => {
    const lvm = new FakeLvm();
    await lvm.driver().createFromImage({
      volumeId: V1,
      sizeGib: 1,
      imagePath: '/images/small.qcow2',
      imageFormat: 'qcow2',
    });
    expect(lvm.take()).toEqual([
      LVS,
      ['qemu-img', 'info', '-U', '--output=json', '-f', 'qcow2', '/images/small.qcow2'],
      ['lvcreate', '-L', '1G', '-n', `volume-${V1}`, VG],
      [
        'qemu-img',
        'convert',
        '-f',
        'qcow2',
        '-O',
        'raw',
        '/images/small.qcow2',
        `/dev/${VG}/volume-${V1}`,
      ],
    ]);
  });

  it('a failing image copy removes the LV it created', async () => {
    const lvm = new FakeLvm();
    lvm.failWhen = (argv) => (argv[1] === 'convert' ? 'qemu-img: error while writing' : null);
    const err = await rejection(
      lvm.driver().createFromImage({
        volumeId: V1,
        sizeGib: 1,
        imagePath: '/images/small.qcow2',
        imageFormat: 'qcow2',
      }),
    );
    expect(err).toBeInstanceOf(VolumeCommandError);
    expect(err).toMatchObject({ stderr: 'qemu-img: error while writing' });
    expect(lvm.take().slice(2)).toEqual([
      ['lvcreate', '-L', '1G', '-n', `volume-${V1}`, VG],
      [
        'qemu-img',
        'convert',
        '-f',
        'qcow2',
        '-O',
        'raw',
        '/images/small.qcow2',
        `/dev/${VG}/volume-${V1}`,
      ],
      ['lvremove', '-f', `${VG}/volume-${V1}`],
    ]);
    expect(lvm.lvs.size).toBe(0);
  });

  it('refuses an image larger than the volume or missing before creating anything', async () => {
    const lvm = new FakeLvm();
    const driver = lvm.driver();
    const big = await rejection(
      driver.createFromImage({
        volumeId: V1,
        sizeGib: 2,
        imagePath: '/images/big.raw',
        imageFormat: 'raw',
      }),
    );
    expect(big).toBeInstanceOf(InvalidVolumeSpecError);
    expect(big).toMatchObject({ field: 'sizeGib' });
    const missing = await rejection(
      driver.createFromImage({
        volumeId: V1,
        sizeGib: 2,
        imagePath: '/images/none.raw',
        imageFormat: 'raw',
      }),
    );
    expect(missing).toMatchObject({ field: 'imagePath' });
    expect(lvm.take().filter((argv) => argv[0] === 'lvcreate')).toEqual([]);
  });

  it('snapshots with lvcreate -s as large as the volume, and copies one into a new volume', async () => {
    const lvm = new FakeLvm();
    const driver = lvm.driver();
    await driver.create({ volumeId: V1, sizeGib: 2 });
    lvm.take();
    await driver.snapshot({ volumeId: V1, snapshotId: S1 });
    expect(lvm.take()).toEqual([
      LVS,
      ['lvcreate', '-s', '-L', '2G', '-n', `snapshot-${S1}`, `${VG}/volume-${V1}`],
    ]);
    expect(await driver.list()).toEqual({
      volumes: [V1],
      snapshots: [{ snapshotId: S1, volumeId: V1 }],
    });
    lvm.take();
    expect(
      await rejection(driver.createFromSnapshot({ volumeId: V2, snapshotId: S1, sizeGib: 1 })),
    ).toMatchObject({ field: 'sizeGib' });
    lvm.take();
    await driver.createFromSnapshot({ volumeId: V2, snapshotId: S1, sizeGib: 3 });
    expect(lvm.take()).toEqual([
      LVS,
      ['lvcreate', '-L', '3G', '-n', `volume-${V2}`, VG],
      [
        'qemu-img',
        'convert',
        '-f',
        'raw',
        '-O',
        'raw',
        `/dev/${VG}/snapshot-${S1}`,
        `/dev/${VG}/volume-${V2}`,
      ],
    ]);
    expect(
      await rejection(driver.createFromSnapshot({ volumeId: V2, snapshotId: S2, sizeGib: 3 })),
    ).toBeInstanceOf(VolumeExistsError);
    await driver.delete(V2);
    expect(
      await rejection(driver.createFromSnapshot({ volumeId: V2, snapshotId: S2, sizeGib: 3 })),
    ).toBeInstanceOf(SnapshotNotFoundError);
  });

  it('a failing snapshot copy removes the new volume', async () => {
    const lvm = new FakeLvm();
    const driver = lvm.driver();
    await driver.create({ volumeId: V1, sizeGib: 1 });
    await driver.snapshot({ volumeId: V1, snapshotId: S1 });
    lvm.take();
    lvm.failWhen = (argv) => (argv[1] === 'convert' ? 'Input/output error' : null);
    await expect(
      driver.createFromSnapshot({ volumeId: V2, snapshotId: S1, sizeGib: 1 }),
    ).rejects.toThrow(`copying the snapshot of "${V2}" failed: Input/output error`);
    expect(lvm.take().at(-1)).toEqual(['lvremove', '-f', `${VG}/volume-${V2}`]);
    expect([...lvm.lvs.keys()].sort()).toEqual([`snapshot-${S1}`, `volume-${V1}`]);
  });

  it('refuses to delete a volume with snapshots unless cascade, which removes them first', async () => {
    const lvm = new FakeLvm();
    const driver = lvm.driver();
    await driver.create({ volumeId: V1, sizeGib: 1 });
    await driver.snapshot({ volumeId: V1, snapshotId: S1 });
    await driver.snapshot({ volumeId: V1, snapshotId: S2 });
    lvm.take();
    const busy = await rejection(driver.delete(V1));
    expect(busy).toBeInstanceOf(VolumeBusyError);
    expect(busy).toMatchObject({ volumeId: V1, snapshotIds: [S1, S2] });
    expect(lvm.take()).toEqual([LVS]);
    await driver.delete(V1, { cascade: true });
    expect(lvm.take()).toEqual([
      LVS,
      ['lvremove', '-f', `${VG}/snapshot-${S1}`],
      ['lvremove', '-f', `${VG}/snapshot-${S2}`],
      ['lvremove', '-f', `${VG}/volume-${V1}`],
    ]);
    await driver.delete(V1);
    await driver.deleteSnapshot(S1);
    expect(lvm.take()).toEqual([LVS, LVS]);
  });

  it('extends with lvextend and never shrinks', async () => {
    const lvm = new FakeLvm();
    const driver = lvm.driver();
    await driver.create({ volumeId: V1, sizeGib: 2 });
    lvm.take();
    await expect(driver.extend(V1, 5)).resolves.toEqual({ volumeId: V1, sizeGib: 5 });
    expect(lvm.take()).toEqual([LVS, ['lvextend', '-L', '5G', `${VG}/volume-${V1}`]]);
    const shrink = await rejection(driver.extend(V1, 4));
    expect(shrink).toBeInstanceOf(InvalidVolumeSpecError);
    expect(shrink).toMatchObject({ field: 'newSizeGib' });
    expect(await rejection(driver.extend(V2, 4))).toBeInstanceOf(VolumeNotFoundError);
    expect(lvm.take()).toEqual([LVS, LVS]);
  });

  it('validates ids before running anything', async () => {
    const lvm = new FakeLvm();
    const driver = lvm.driver();
    expect(await rejection(driver.create({ volumeId: 'x; rm -rf /', sizeGib: 1 }))).toMatchObject({
      field: 'volumeId',
    });
    expect(await rejection(driver.snapshot({ volumeId: V1, snapshotId: '../x' }))).toMatchObject({
      field: 'snapshotId',
    });
    expect(lvm.calls).toEqual([]);
  });
});

function lvmSkipReason(): string | null {
  if (!existsSync('/dev/mapper/control')) {
    return 'this machine lacks device-mapper (no /dev/mapper/control), so LVM cannot run here';
  }
  if (!process.env.STRATUS_TEST_LVM_VG) {
    return 'STRATUS_TEST_LVM_VG is not set (name a scratch volume group to run it)';
  }
  return null;
}

volumeConformance('lvm driver on a real volume group', lvmSkipReason(), async () => {
  const vg = process.env.STRATUS_TEST_LVM_VG!;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-vol-lvm-'));
  return {
    driver: new LvmVolumeDriver({ volumeGroup: vg }),
    ...makeImages(dir),
    contents: async () =>
      execFileSync('lvs', ['--noheadings', '-o', 'lv_name', vg], { encoding: 'utf8' })
        .split('\n')
        .map((name) => name.trim())
        .filter((name) => /^(volume|snapshot)-/.test(name))
        .sort(),
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
});
