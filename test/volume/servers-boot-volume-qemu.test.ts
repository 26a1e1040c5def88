import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config';
import {
  createFlavor,
  createServer,
  qemuCompute,
  uploadTestGuest,
  waitForOperation,
  waitForStatus,
} from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import { Seed } from '../support/seed';
import { deleteAndWait, uniq } from '../support/servers';
import { availableVolume, getVolume } from './volumes-support';

/**
 * Boot from volume on real QEMU (TCG) and the real file volume driver: the test guest (an
 * aki/ari/ami trio) boots from a 2 GiB volume made from its ami; its kernel and initrd come
 * from the ami's companions. The guest prints the sizes of the disks it sees, in 512-byte
 * sectors (`STRATUS-BLOCKSIZE: vda=...`), read back through the console-output API.
 */

const skipReason = qemuSkipReason();
const title = skipReason
  ? `boot from volume on a real guest (skipped: ${skipReason})`
  : 'boot from volume on a real guest through the API';
const GIB = 1024 ** 3;

describe.skipIf(skipReason !== null)(title, () => {
  let s: TestStratus;
  let token: string;
  let serverId: string | undefined;
  let imageId: string;
  let flavorId: string;

  beforeAll(async () => {
    s = await startTestStratus({ compute: qemuCompute(loadConfig({}).compute) });
    token = (await new Seed(s).member('member')).token!;
    imageId = await uploadTestGuest(s, token);
    flavorId = await createFlavor(s, { name: uniq('bfv'), vcpus: 1, ramMib: 256, rootDiskGib: 1 });
  }, 20 * 60_000);
  afterAll(async () => {
    if (serverId) await deleteAndWait(s, token, serverId).catch(() => {});
    await s?.stop();
  });

  async function consoleText(): Promise<string> {
    const data = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Server { consoleOutput } } }`,
      { id: serverId },
      token,
    );
    return data.node.consoleOutput ?? '';
  }

  /** Waits for a console line matching `line`; returns it. */
  async function sees(line: RegExp, ms = 180_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = (await consoleText()).split(/\r?\n/).find((l) => line.test(l));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no console line ${line} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it(
    'boots the test guest from a volume made from its image; vda is the volume',
    async () => {
      const volumeId = await availableVolume(s, token, { imageId, sizeGib: 2, name: 'root' });
      const created = await createServer(s, token, {
        name: 'volume-backed',
        flavorId,
        blockDeviceMappings: [{ sourceType: 'VOLUME', uuid: volumeId, bootIndex: 0 }],
      });
      expect(created.__typename, JSON.stringify(created)).toBe('CreateServerSuccess');
      serverId = created.created.server.id;
      expect(created.created.server.image).toBeNull();
      const op = await waitForOperation(s, token, created.created.operation.id);
      expect(op.status, JSON.stringify(op)).toBe('SUCCEEDED');
      await waitForStatus(s, token, serverId!, 'ACTIVE');
      expect(await getVolume(s, token, volumeId)).toMatchObject({
        status: 'IN_USE',
        attachments: [{ device: '/dev/vda' }],
      });
      await sees(/STRATUS-GUEST-BOOT-OK/);
      const line = await sees(/^STRATUS-BLOCKSIZE: .*\bvda=\d+/);
      expect(Number(/\bvda=(\d+)/.exec(line)?.[1])).toBe((2 * GIB) / 512);

      await deleteAndWait(s, token, serverId!);
      serverId = undefined;
      expect(await getVolume(s, token, volumeId)).toMatchObject({ status: 'AVAILABLE' });
    },
    20 * 60_000,
  );

  it(
    'boots the test guest from a new 1 GiB volume of its image, deleted with the server',
    async () => {
      const created = await createServer(s, token, {
        name: 'image-volume',
        flavorId,
        blockDeviceMappings: [
          { sourceType: 'IMAGE', uuid: imageId, volumeSize: 1, deleteOnTermination: true },
        ],
      });
      expect(created.__typename, JSON.stringify(created)).toBe('CreateServerSuccess');
      serverId = created.created.server.id;
      const op = await waitForOperation(s, token, created.created.operation.id);
      expect(op.status, JSON.stringify(op)).toBe('SUCCEEDED');
      await waitForStatus(s, token, serverId!, 'ACTIVE');
      await sees(/STRATUS-GUEST-BOOT-OK/);
      const line = await sees(/^STRATUS-BLOCKSIZE: .*\bvda=\d+/);
      expect(Number(/\bvda=(\d+)/.exec(line)?.[1])).toBe(GIB / 512);
      const count = async () =>
        Number((await s.stratus.runtime.pool.query('select count(*) from volumes')).rows[0].count);
      const before = await count();
      await deleteAndWait(s, token, serverId!);
      serverId = undefined;
      await expect.poll(count, { timeout: 30_000 }).toBe(before - 1);
    },
    20 * 60_000,
  );
});
