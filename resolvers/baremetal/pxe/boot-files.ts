import fs from 'node:fs/promises';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import type { Database } from '../../../db/connection';
import { images } from '../../../db/tables';
import type { ObjectStore } from '../../../drivers/objects/types';
import { ImageCache } from '../../compute/image-cache';
import type { ImageRow } from '../../images/access';
import type { BootFileName } from './sessions';

/**
 * A node's boot folder: the kernel and ramdisk of the image it boots, fetched from the object
 * store (verified against Glance's checksum by the image cache) and the iPXE script that
 * loads them over HTTP with the call-back on the kernel command line.
 */

/** The kernel and ramdisk an image boots with, and its extra kernel arguments. */
export interface BootImage {
  kernel: ImageRow;
  ramdisk: ImageRow;
  cmdline: string | null;
}

/**
 * An ami (or any image) whose `kernel_id` and `ramdisk_id` name active aki and ari images, as
 * compute boots them; a plain kernel + ramdisk pair is the same with an empty root image.
 */
export async function bootImageOf(db: Database, imageId: string): Promise<BootImage> {
  const row = async (id: string) => (await db.select().from(images).where(eq(images.id, id)))[0];
  const image = await row(imageId);
  if (image?.status !== 'active') throw new Error(`image ${imageId} is not active`);
  const companion = async (key: 'kernel_id' | 'ramdisk_id', format: 'aki' | 'ari') => {
    const id = image.properties[key];
    if (!id) {
      throw new Error(
        `image ${imageId} has no ${key}: network boot needs a kernel (aki) and a ramdisk (ari)`,
      );
    }
    const found = await row(id);
    if (found?.status !== 'active' || found.diskFormat !== format || !found.storageKey)
      throw new Error(
        `image ${imageId} names ${key} "${id}", which is not an active ${format} image`,
      );
    return found;
  };
  return {
    kernel: await companion('kernel_id', 'aki'),
    ramdisk: await companion('ramdisk_id', 'ari'),
    cmdline: image.properties.os_command_line ?? null,
  };
}

/** Fetches the kernel and ramdisk into `dir` (created); returns the files by their served name. */
export async function prepareBootDir(
  dir: string,
  store: ObjectStore,
  boot: BootImage,
): Promise<Record<BootFileName, string>> {
  await fs.mkdir(dir, { recursive: true, mode: 0o750 });
  const cache = new ImageCache(dir, store);
  return {
    'boot.ipxe': path.join(dir, 'boot.ipxe'),
    vmlinuz: await cache.ensure(boot.kernel),
    'initrd.img': await cache.ensure(boot.ramdisk),
    'user-data': path.join(dir, 'user-data'),
  };
}

export interface IpxeScript {
  nodeId: string;
  /** e.g. http://10.0.0.1:4000/v1/baremetal/boot/<token> */
  bootUrl: string;
  callbackUrl: string;
  cmdline: string | null;
  action: 'deploy' | 'wipe';
  /** Whether `<bootUrl>/user-data` is there for the booted system. */
  userData: boolean;
}

/** The iPXE script: kernel and initrd over HTTP, the call-back (and action) on the command line. */
export function ipxeScript(s: IpxeScript): string {
  const args = [
    // EFI firmware needs the initrd named; BIOS ignores it.
    'initrd=initrd.img',
    s.cmdline ?? 'console=ttyS0',
    `stratus.callback=${s.callbackUrl}`,
    ...(s.action === 'wipe' ? ['stratus.action=wipe'] : []),
    ...(s.userData ? [`stratus.userdata=${s.bootUrl}/user-data`] : []),
  ];
  return [
    '#!ipxe',
    `echo Stratus: ${s.action} of node ${s.nodeId}`,
    `kernel ${s.bootUrl}/vmlinuz ${args.join(' ')}`,
    `initrd ${s.bootUrl}/initrd.img`,
    'boot',
    '',
  ].join('\n');
}
