import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidVolumeSpecError,
  SnapshotNotFoundError,
  VolumeBusyError,
  type VolumeDriver,
  VolumeExistsError,
  VolumeNotFoundError,
} from '../../drivers/volume/index';

/**
 * One conformance suite over every volume driver (file: real qemu-img in a temporary root;
 * lvm: a real volume group where there is one). Imported by the driver test files.
 */

export const GIB = 1024 ** 3;

/** What a conformance run needs from a driver's world. */
export interface VolumeWorld {
  driver: VolumeDriver;
  /** A raw image with recognisable data (a few MiB) and its qcow2 conversion. */
  rawImage: string;
  qcow2Image: string;
  /** A sparse raw image of 1 GiB + 1 MiB: too large for a 1 GiB volume. */
  largeImage: string;
  /** Everything the backend holds, read behind the driver's back (files, LVs). */
  contents(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export function virtualSize(driver: VolumeDriver, volumeId: string): Promise<number> {
  return driver.connectionInfo(volumeId).then(({ driver: format, path }) => {
    const out = execFileSync('qemu-img', ['info', '-U', '--output=json', '-f', format, path], {
      encoding: 'utf8',
    });
    return JSON.parse(out)['virtual-size'] as number;
  });
}

/** `qemu-img compare` of an image with a volume: true when their content is equal. */
export async function sameContent(
  driver: VolumeDriver,
  image: string,
  imageFormat: 'raw' | 'qcow2',
  volumeId: string,
): Promise<boolean> {
  const { driver: format, path } = await driver.connectionInfo(volumeId);
  const result = spawnSync(
    'qemu-img',
    ['compare', '-U', '-f', imageFormat, '-F', format, image, path],
    { encoding: 'utf8' },
  );
  if (result.status !== 0 && result.status !== 1) {
    throw new Error(`qemu-img compare failed: ${result.stderr}`);
  }
  return result.status === 0;
}

/** Makes the test images in `dir` (needs qemu-img). */
export function makeImages(
  dir: string,
): Pick<VolumeWorld, 'rawImage' | 'qcow2Image' | 'largeImage'> {
  const rawImage = `${dir}/image.raw`;
  const qcow2Image = `${dir}/image.qcow2`;
  const largeImage = `${dir}/large.raw`;
  const data = Buffer.alloc(4 << 20);
  for (let i = 0; i < data.length; i += 4096) data.write(`block ${i / 4096} of the test image`, i);
  execFileSync('sh', ['-c', 'cat > "$1"', 'sh', rawImage], { input: data });
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', rawImage, qcow2Image]);
  execFileSync('truncate', ['-s', `${GIB + (1 << 20)}`, largeImage]);
  return { rawImage, qcow2Image, largeImage };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export function volumeConformance(
  title: string,
  skip: string | null,
  makeWorld: () => Promise<VolumeWorld>,
): void {
  describe.skipIf(skip !== null)(skip === null ? title : `${title} (skipped: ${skip})`, () => {
    let world: VolumeWorld;
    let driver: VolumeDriver;
    beforeAll(async () => {
      world = await makeWorld();
      driver = world.driver;
    });
    afterAll(async () => {
      await world?.cleanup();
    });

    it('probes the backend capacity', async () => {
      const capacity = await driver.probe();
      expect(capacity.totalGib).toBeGreaterThan(0);
      expect(capacity.freeGib).toBeGreaterThanOrEqual(0);
      expect(capacity.freeGib).toBeLessThanOrEqual(capacity.totalGib);
    });

    it('creates a blank volume of the asked size, and refuses the same id again', async () => {
      const volumeId = randomUUID();
      await expect(driver.create({ volumeId, sizeGib: 1 })).resolves.toEqual({
        volumeId,
        sizeGib: 1,
      });
      expect(await virtualSize(driver, volumeId)).toBe(GIB);
      expect((await driver.list()).volumes).toContain(volumeId);
      const err = await rejection(driver.create({ volumeId, sizeGib: 2 }));
      expect(err).toBeInstanceOf(VolumeExistsError);
      expect(await virtualSize(driver, volumeId)).toBe(GIB);
      await driver.delete(volumeId);
    });

    it.each(['raw', 'qcow2'] as const)('creates a volume from a %s image', async (format) => {
      const volumeId = randomUUID();
      const image = format === 'raw' ? world.rawImage : world.qcow2Image;
      await driver.createFromImage({ volumeId, sizeGib: 1, imagePath: image, imageFormat: format });
      expect(await virtualSize(driver, volumeId)).toBe(GIB);
      expect(await sameContent(driver, image, format, volumeId)).toBe(true);
      await driver.delete(volumeId);
    });

    it('refuses an image larger than the volume, naming sizeGib, and leaves nothing', async () => {
      const before = await world.contents();
      const err = await rejection(
        driver.createFromImage({
          volumeId: randomUUID(),
          sizeGib: 1,
          imagePath: world.largeImage,
          imageFormat: 'raw',
        }),
      );
      expect(err).toBeInstanceOf(InvalidVolumeSpecError);
      expect(err).toMatchObject({ code: 'VOLUME_INVALID_SPEC', field: 'sizeGib' });
      expect(await world.contents()).toEqual(before);
    });

    it('fails on a missing image and leaves nothing behind', async () => {
      const before = await world.contents();
      const volumeId = randomUUID();
      const err = await rejection(
        driver.createFromImage({
          volumeId,
          sizeGib: 1,
          imagePath: '/nonexistent/image.qcow2',
          imageFormat: 'qcow2',
        }),
      );
      expect(err).toMatchObject({ field: 'imagePath' });
      expect(await world.contents()).toEqual(before);
      expect((await driver.list()).volumes).not.toContain(volumeId);
    });

    it('snapshots a volume and creates a volume from the snapshot', async () => {
      const volumeId = randomUUID();
      const snapshotId = randomUUID();
      const copyId = randomUUID();
      await driver.createFromImage({
        volumeId,
        sizeGib: 1,
        imagePath: world.rawImage,
        imageFormat: 'raw',
      });
      await driver.snapshot({ volumeId, snapshotId });
      expect((await driver.list()).snapshots).toContainEqual({ snapshotId, volumeId });
      expect(await rejection(driver.snapshot({ volumeId, snapshotId }))).toBeInstanceOf(
        VolumeExistsError,
      );
      await driver.createFromSnapshot({ volumeId: copyId, snapshotId, sizeGib: 2 });
      expect(await virtualSize(driver, copyId)).toBe(2 * GIB);
      expect(await sameContent(driver, world.rawImage, 'raw', copyId)).toBe(true);
      await driver.delete(copyId);
      await driver.deleteSnapshot(snapshotId);
      await driver.deleteSnapshot(snapshotId);
      await driver.delete(volumeId);
    });

    it('refuses a volume from an unknown snapshot, or smaller than the snapshot', async () => {
      const err = await rejection(
        driver.createFromSnapshot({ volumeId: randomUUID(), snapshotId: randomUUID(), sizeGib: 1 }),
      );
      expect(err).toBeInstanceOf(SnapshotNotFoundError);
      const volumeId = randomUUID();
      const snapshotId = randomUUID();
      await driver.create({ volumeId, sizeGib: 2 });
      await driver.snapshot({ volumeId, snapshotId });
      const before = await world.contents();
      const small = await rejection(
        driver.createFromSnapshot({ volumeId: randomUUID(), snapshotId, sizeGib: 1 }),
      );
      expect(small).toMatchObject({ field: 'sizeGib' });
      expect(await world.contents()).toEqual(before);
      await driver.delete(volumeId, { cascade: true });
    });

    it('extends a volume, and refuses to shrink it or keep its size', async () => {
      const volumeId = randomUUID();
      await driver.create({ volumeId, sizeGib: 1 });
      await expect(driver.extend(volumeId, 3)).resolves.toEqual({ volumeId, sizeGib: 3 });
      expect(await virtualSize(driver, volumeId)).toBe(3 * GIB);
      for (const size of [2, 3]) {
        const err = await rejection(driver.extend(volumeId, size));
        expect(err).toBeInstanceOf(InvalidVolumeSpecError);
        expect(err).toMatchObject({ field: 'newSizeGib' });
        expect((err as Error).message).toContain('volumes only grow');
      }
      expect(await virtualSize(driver, volumeId)).toBe(3 * GIB);
      expect(await rejection(driver.extend(randomUUID(), 4))).toBeInstanceOf(VolumeNotFoundError);
      await driver.delete(volumeId);
    });

    it('refuses to delete a volume with snapshots unless cascade', async () => {
      const volumeId = randomUUID();
      const snapshotIds = [randomUUID(), randomUUID()];
      await driver.create({ volumeId, sizeGib: 1 });
      for (const snapshotId of snapshotIds) await driver.snapshot({ volumeId, snapshotId });
      const err = await rejection(driver.delete(volumeId));
      expect(err).toBeInstanceOf(VolumeBusyError);
      expect(err).toMatchObject({ code: 'VOLUME_BUSY', volumeId });
      expect([...(err as VolumeBusyError).snapshotIds].sort()).toEqual([...snapshotIds].sort());
      expect((await driver.list()).volumes).toContain(volumeId);
      await driver.delete(volumeId, { cascade: true });
      const inventory = await driver.list();
      expect(inventory.volumes).not.toContain(volumeId);
      expect(inventory.snapshots.map((s) => s.snapshotId)).not.toEqual(
        expect.arrayContaining([snapshotIds[0]]),
      );
      expect(inventory.snapshots.map((s) => s.snapshotId)).not.toEqual(
        expect.arrayContaining([snapshotIds[1]]),
      );
    });

    it('deletes idempotently and reports unknown volumes', async () => {
      const volumeId = randomUUID();
      await driver.create({ volumeId, sizeGib: 1 });
      await driver.delete(volumeId);
      await driver.delete(volumeId);
      await driver.delete(randomUUID(), { cascade: true });
      await driver.deleteSnapshot(randomUUID());
      expect(await rejection(driver.connectionInfo(volumeId))).toBeInstanceOf(VolumeNotFoundError);
      expect(
        await rejection(driver.snapshot({ volumeId, snapshotId: randomUUID() })),
      ).toBeInstanceOf(VolumeNotFoundError);
    });

    const badArguments: [string, (d: VolumeDriver) => Promise<unknown>, string][] = [
      ['create', (d: VolumeDriver) => d.create({ volumeId: 'vol-1', sizeGib: 1 }), 'volumeId'],
      ['create', (d: VolumeDriver) => d.create({ volumeId: randomUUID(), sizeGib: 0 }), 'sizeGib'],
      [
        'create',
        (d: VolumeDriver) => d.create({ volumeId: randomUUID(), sizeGib: 1.5 }),
        'sizeGib',
      ],
      [
        'create',
        (d: VolumeDriver) => d.create({ volumeId: randomUUID(), sizeGib: 65537 }),
        'sizeGib',
      ],
      [
        'createFromImage',
        (d: VolumeDriver) =>
          d.createFromImage({
            volumeId: randomUUID(),
            sizeGib: 1,
            imagePath: 'image.raw',
            imageFormat: 'raw',
          }),
        'imagePath',
      ],
      [
        'createFromImage',
        (d: VolumeDriver) =>
          d.createFromImage({
            volumeId: randomUUID(),
            sizeGib: 1,
            imagePath: '/i.vmdk',
            imageFormat: 'vmdk' as never,
          }),
        'imageFormat',
      ],
      [
        'createFromSnapshot',
        (d: VolumeDriver) =>
          d.createFromSnapshot({ volumeId: randomUUID(), snapshotId: 'snap', sizeGib: 1 }),
        'snapshotId',
      ],
      ['extend', (d: VolumeDriver) => d.extend(randomUUID(), -1), 'newSizeGib'],
      ['delete', (d: VolumeDriver) => d.delete('../etc'), 'volumeId'],
      [
        'delete',
        (d: VolumeDriver) => d.delete(randomUUID(), { cascade: 'yes' as never }),
        'options.cascade',
      ],
      [
        'snapshot',
        (d: VolumeDriver) => d.snapshot({ volumeId: randomUUID(), snapshotId: '' }),
        'snapshotId',
      ],
      ['deleteSnapshot', (d: VolumeDriver) => d.deleteSnapshot('x'), 'snapshotId'],
      ['connectionInfo', (d: VolumeDriver) => d.connectionInfo('x'), 'volumeId'],
    ];
    it.each(badArguments.map(([op, call, field]) => ({ op, call, field })))(
      '$op refuses bad arguments naming $field',
      async ({ call, field }) => {
        const before = await world.contents();
        const err = await rejection(call(driver));
        expect(err).toBeInstanceOf(InvalidVolumeSpecError);
        expect(err).toMatchObject({ code: 'VOLUME_INVALID_SPEC', field });
        expect(await world.contents()).toEqual(before);
      },
    );

    it('accepts uppercase ids and stores them lowercase', async () => {
      const volumeId = randomUUID();
      await driver.create({ volumeId: volumeId.toUpperCase(), sizeGib: 1 });
      expect((await driver.list()).volumes).toContain(volumeId);
      await driver.delete(volumeId.toUpperCase());
      expect((await driver.list()).volumes).not.toContain(volumeId);
    });
  });
}
