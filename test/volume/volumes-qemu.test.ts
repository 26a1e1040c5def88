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
import { availableVolume, getVolume, imageInfo, volumeAct, volumeFile } from './volumes-support';

/**
 * A volume on a running server through the API only, on real QEMU (TCG) and the real file
 * volume driver: the test guest prints every 2 s the disks it sees (`STRATUS-BLOCK: vda vdb`)
 * and their sizes in 512-byte sectors (`STRATUS-BLOCKSIZE: vdb=...`), read back through the
 * console-output API. No wall-clock assertions; every wait is generous.
 */

const skipReason = qemuSkipReason();
const title = skipReason
  ? `volumes on a real guest (skipped: ${skipReason})`
  : 'volumes on a real guest through the API';
const GIB = 1024 ** 3;

describe.skipIf(skipReason !== null)(title, () => {
  let s: TestStratus;
  let token: string;
  let serverId: string;
  let volumeId: string;

  beforeAll(async () => {
    s = await startTestStratus({ compute: qemuCompute(loadConfig({}).compute) });
    token = (await new Seed(s).member('member')).token!;
    const imageId = await uploadTestGuest(s, token);
    const flavorId = await createFlavor(s, {
      name: uniq('guest'),
      vcpus: 1,
      ramMib: 256,
      rootDiskGib: 1,
    });
    const created = await createServer(s, token, { name: 'with-volume', imageId, flavorId });
    serverId = created.created.server.id;
    await waitForOperation(s, token, created.created.operation.id);
    await waitForStatus(s, token, serverId, 'ACTIVE');
    await seesAfter(0, /^STRATUS-BLOCK: vda$/);
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

  /** Waits for a console line matching `line` after position `from`; returns it. */
  async function seesAfter(from: number, line: RegExp, ms = 120_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = (await consoleText())
        .slice(from)
        .split(/\r?\n/)
        .find((l) => line.test(l));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no console line ${line} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  const mark = async () => (await consoleText()).length;
  const sectors = (line: string) => Number(/\bvdb=(\d+)/.exec(line)?.[1]);

  it('attaches: the guest sees vdb with the volume size', async () => {
    volumeId = await availableVolume(s, token, { sizeGib: 1, name: 'disk' });
    const from = await mark();
    const { operation } = await volumeAct(s, token, 'attachVolume', 'AttachVolumeInput', {
      volumeId,
      serverId,
    });
    expect(operation.status).toBe('SUCCEEDED');
    expect(await getVolume(s, token, volumeId)).toMatchObject({
      status: 'IN_USE',
      attachments: [{ device: '/dev/vdb', status: 'ATTACHED' }],
    });
    await seesAfter(from, /^STRATUS-BLOCK: vda vdb$/);
    expect(sectors(await seesAfter(from, /^STRATUS-BLOCKSIZE: .*\bvdb=/))).toBe(GIB / 512);
  }, 300_000);

  it('extends online: the guest sees the new size, and so does the file', async () => {
    const from = await mark();
    const { operation } = await volumeAct(s, token, 'extendVolume', 'ExtendVolumeInput', {
      id: volumeId,
      newSizeGib: 2,
    });
    expect(operation.status, JSON.stringify(operation)).toBe('SUCCEEDED');
    expect(await getVolume(s, token, volumeId)).toMatchObject({ status: 'IN_USE', sizeGib: 2 });
    await seesAfter(from, new RegExp(`^STRATUS-BLOCKSIZE: .*\\bvdb=${(2 * GIB) / 512}\\b`));
    expect(imageInfo(volumeFile(s, volumeId)).virtualSize).toBe(2 * GIB);
  }, 300_000);

  it('detaches: the guest lets go of vdb and the volume is available', async () => {
    const from = await mark();
    const { operation } = await volumeAct(s, token, 'detachVolume', 'DetachVolumeInput', {
      volumeId,
      serverId,
    });
    expect(operation.status, JSON.stringify(operation)).toBe('SUCCEEDED');
    expect(await getVolume(s, token, volumeId)).toMatchObject({
      status: 'AVAILABLE',
      attachments: [],
    });
    await seesAfter(from, /^STRATUS-BLOCK: vda$/);
  }, 300_000);
});
