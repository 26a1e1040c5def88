import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config';
import { rawId, waitForOperation } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';
import { quotaInUse, startComputeTestbed } from '../support/servers';
import {
  availableSnapshot,
  availableVolume,
  createVolume,
  getVolume,
  volumeAct,
  volumeFile,
} from './volumes-support';

/**
 * When the backend fails: the volume lands in a status with a fault (never a transitional
 * one), the operation FAILED with the driver's code, and quota follows what exists. And a
 * Stratus whose volume driver cannot run answers with FeatureDisabledError and says why.
 */

let s: TestStratus;
let seed: Seed;

beforeAll(async () => {
  ({ s, seed } = await startComputeTestbed());
});
afterAll(() => s?.stop());

describe('backend failures', () => {
  it('a create that fails leaves the volume in error with a fault; deleting it frees quota', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const source = await availableVolume(s, t, { sizeGib: 1 });
    const snapId = await availableSnapshot(s, t, source);
    // The snapshot's file disappears behind Stratus's back.
    const snapDir = path.join(String(s.config.volume.driverConfig.root), 'snapshots');
    for (const f of fs.readdirSync(snapDir)) {
      if (f.startsWith(rawId(snapId))) fs.rmSync(path.join(snapDir, f));
    }
    const payload = await createVolume(s, t, { snapshotId: snapId });
    const op = await waitForOperation(s, t, payload.started.operation.id);
    expect(op).toMatchObject({ status: 'FAILED', error: { code: 'VOLUME_SNAPSHOT_NOT_FOUND' } });
    const failed = payload.started.volume.id;
    expect(await getVolume(s, t, failed)).toMatchObject({
      status: 'ERROR',
      fault: { code: 'VOLUME_SNAPSHOT_NOT_FOUND' },
    });
    expect(await quotaInUse(s, project)).toMatchObject({ volumes: 2, gigabytes: 3 });
    const deleted = await volumeAct(s, t, 'deleteVolume', 'DeleteVolumeInput', { id: failed });
    expect(deleted.operation.status).toBe('SUCCEEDED');
    expect(await getVolume(s, t, failed)).toBeNull();
    expect(await quotaInUse(s, project)).toMatchObject({ volumes: 1, gigabytes: 2 });
  });

  it('an extend that fails keeps the size, gives the gigabytes back, and says why', async () => {
    const project = await seed.project();
    const t = (await seed.member('member', project)).token!;
    const id = await availableVolume(s, t, { sizeGib: 1 });
    fs.rmSync(volumeFile(s, id));
    const { operation } = await volumeAct(s, t, 'extendVolume', 'ExtendVolumeInput', {
      id,
      newSizeGib: 4,
    });
    expect(operation).toMatchObject({ status: 'FAILED', error: { code: 'VOLUME_NOT_FOUND' } });
    expect(await getVolume(s, t, id)).toMatchObject({
      status: 'AVAILABLE',
      sizeGib: 1,
      fault: { code: 'VOLUME_NOT_FOUND' },
    });
    expect(await quotaInUse(s, project)).toMatchObject({ gigabytes: 1 });
  });

  it('lists by status and bootable', async () => {
    const t = (await seed.member('member')).token!;
    await availableVolume(s, t, { sizeGib: 1, name: 'plain' });
    const id = await availableVolume(s, t, { sizeGib: 1, name: 'boot' });
    await s.ok(
      `mutation($input: UpdateVolumeInput!) { updateVolume(input: $input) { __typename } }`,
      { input: { id, bootable: true } },
      t,
    );
    const data = await s.ok(
      `{ a: volumes(filter: { status: AVAILABLE }) { totalCount }
         b: volumes(filter: { bootable: true }) { totalCount edges { node { name } } }
         c: volumes(filter: { status: IN_USE }) { totalCount }
         d: volumes(filter: { name: "PLA" }) { totalCount } }`,
      {},
      t,
    );
    expect(data).toEqual({
      a: { totalCount: 2 },
      b: { totalCount: 1, edges: [{ node: { name: 'boot' } }] },
      c: { totalCount: 0 },
      d: { totalCount: 1 },
    });
  });
});

describe('a Stratus whose volume driver cannot run', () => {
  it('answers volume mutations with FeatureDisabledError and the catalog says why', async () => {
    const other = await startTestStratus({
      volume: {
        ...loadConfig({}).volume,
        driver: 'lvm',
        driverConfig: { volumeGroup: 'stratus-no-such-vg' },
      },
    });
    try {
      const token = (await new Seed(other).member('member')).token!;
      const payload = await createVolume(other, token, { sizeGib: 1 });
      expect(payload.__typename).toBe('FeatureDisabledError');
      expect(payload.message).toMatch(/lvm volume driver failed/);
      const catalog = await other.ok(
        `{ catalog { drivers { kind implementation healthy detail } } }`,
        {},
        other.adminToken,
      );
      const volume = catalog.catalog.drivers.find((d: { kind: string }) => d.kind === 'volume');
      expect(volume).toMatchObject({ implementation: null, healthy: false });
      expect(volume.detail).toMatch(/lvm/);
      // Listing still works (nothing there).
      const list = await other.ok(
        `{ volumes { totalCount } volumeTypes { totalCount } }`,
        {},
        token,
      );
      expect(list).toEqual({ volumes: { totalCount: 0 }, volumeTypes: { totalCount: 1 } });
    } finally {
      await other.stop();
    }
  });
});
