import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileVolumeDriver, VolumeCommandError } from '../../drivers/volume/index';
import { makeImages, sameContent, volumeConformance } from './conformance-suite';

/** The volume conformance suite against the `file` driver: real qemu-img, a temporary root. */

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

volumeConformance('file driver', null, async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-vol-file-'));
  const images = path.join(dir, 'images');
  await fs.mkdir(images);
  const root = path.join(dir, 'root');
  return {
    driver: new FileVolumeDriver({ root }),
    ...makeImages(images),
    contents: () => filesUnder(root).catch(() => []),
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
});

describe('file driver specifics', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-vol-file2-'));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps its layout: volumes/<id>.qcow2, snapshots/<id>.qcow2 (+ .json)', async () => {
    const root = path.join(dir, 'layout');
    const driver = new FileVolumeDriver({ root });
    await driver.probe();
    const volumeId = randomUUID();
    const snapshotId = randomUUID();
    await driver.create({ volumeId, sizeGib: 1 });
    await driver.snapshot({ volumeId, snapshotId });
    expect(await filesUnder(root)).toEqual(
      [
        `snapshots/${snapshotId}.json`,
        `snapshots/${snapshotId}.qcow2`,
        `volumes/${volumeId}.qcow2`,
      ].sort(),
    );
    expect(await driver.connectionInfo(volumeId)).toEqual({
      driver: 'qcow2',
      path: path.join(root, 'volumes', `${volumeId}.qcow2`),
    });
  });

  it('snapshots are standalone: either side can go without breaking the other', async () => {
    const root = path.join(dir, 'standalone');
    const driver = new FileVolumeDriver({ root });
    const images = makeImages(dir);
    const volumeId = randomUUID();
    const snapshotId = randomUUID();
    const copyId = randomUUID();
    await driver.createFromImage({
      volumeId,
      sizeGib: 1,
      imagePath: images.rawImage,
      imageFormat: 'raw',
    });
    await driver.snapshot({ volumeId, snapshotId });
    const snapshotFile = path.join(root, 'snapshots', `${snapshotId}.qcow2`);
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '--output=json', snapshotFile], { encoding: 'utf8' }),
    );
    expect(info['backing-filename']).toBeUndefined();
    await driver.createFromSnapshot({ volumeId: copyId, snapshotId, sizeGib: 1 });
    // The snapshot goes: the volume and the copy keep their content.
    await driver.deleteSnapshot(snapshotId);
    expect(await sameContent(driver, images.rawImage, 'raw', volumeId)).toBe(true);
    expect(await sameContent(driver, images.rawImage, 'raw', copyId)).toBe(true);
    // A new snapshot, then the volume goes with it (cascade): the copy keeps its content.
    await driver.snapshot({ volumeId, snapshotId });
    await driver.delete(volumeId, { cascade: true });
    expect(await sameContent(driver, images.rawImage, 'raw', copyId)).toBe(true);
    expect(await driver.list()).toEqual({ volumes: [copyId], snapshots: [] });
  });

  it('undoes a failure after the copy (qemu-img resize failing) and leaves nothing', async () => {
    const root = path.join(dir, 'failing');
    const wrapper = path.join(dir, 'qemu-img-failing-resize');
    await fs.writeFile(
      wrapper,
      '#!/bin/sh\nif [ "$1" = resize ]; then echo "resize: injected failure" >&2; exit 1; fi\nexec qemu-img "$@"\n',
      { mode: 0o755 },
    );
    const driver = new FileVolumeDriver({ root, qemuImgBinary: wrapper });
    await driver.probe();
    const images = makeImages(dir);
    const volumeId = randomUUID();
    const failure = driver.createFromImage({
      volumeId,
      sizeGib: 1,
      imagePath: images.qcow2Image,
      imageFormat: 'qcow2',
    });
    await expect(failure).rejects.toBeInstanceOf(VolumeCommandError);
    await expect(failure).rejects.toThrow('injected failure');
    expect(await filesUnder(root)).toEqual([]);
    await driver.create({ volumeId, sizeGib: 1 });
    await expect(driver.extend(volumeId, 2)).rejects.toThrow('injected failure');
    expect(await filesUnder(root)).toEqual([`volumes/${volumeId}.qcow2`]);
  });

  it('probe fails with the reason when qemu-img is missing or the root is unusable', async () => {
    await expect(
      new FileVolumeDriver({ root: dir, qemuImgBinary: '/nonexistent/qemu-img' }).probe(),
    ).rejects.toThrow('driver "file" is not usable: /nonexistent/qemu-img was not found');
    const file = path.join(dir, 'a-file');
    await fs.writeFile(file, '');
    await expect(new FileVolumeDriver({ root: file }).probe()).rejects.toThrow(
      /driver "file" is not usable: root ".*a-file" is not a writable folder/,
    );
  });
});
