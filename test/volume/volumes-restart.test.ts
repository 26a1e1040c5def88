import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { reconcileVolumes } from '../../resolvers/volumes/reconcile';
import { loadConfig } from '../../server/config';
import { rawId } from '../support/compute';
import {
  createTestDatabase,
  dropTestDatabase,
  startTestStratus,
  type TestStratus,
} from '../support/harness';
import { Seed } from '../support/seed';
import { activeServer, startComputeTestbed } from '../support/servers';
import { availableVolume, getVolume } from './volumes-support';

/**
 * Restart repair: a volume left in a transitional status by a job that was running when the
 * process stopped is settled with an INTERRUPTED fault on the next start, its operation failed;
 * one whose job is still queued is left for the job.
 */

let databaseUrl: string;
const stratuses: TestStratus[] = [];
afterAll(async () => {
  for (const s of stratuses) await s.stop().catch(() => {});
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

/** Pretends a job was running on `volumeId` when the process died: its status and a RUNNING operation. */
async function interrupted(s: TestStratus, volumeId: string, status: string): Promise<string> {
  const id = rawId(volumeId);
  const pool = s.stratus.runtime.pool;
  await pool.query('update volumes set status = $2 where id = $1', [id, status]);
  const { rows } = await pool.query(
    `insert into operations (kind, project_id, resource_type, resource_id, status, stages, input)
     select 'volume.test', project_id, 'Volume', id, 'RUNNING', '[]'::jsonb, '{}'::jsonb
     from volumes where id = $1 returning id`,
    [id],
  );
  return rows[0].id;
}

describe('restart', () => {
  it('settles volumes whose job died with the process, and leaves queued work alone', async () => {
    databaseUrl = await createTestDatabase();
    const volumeRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-volumes-restart-'));
    const volume = {
      ...loadConfig({}).volume,
      driver: 'file',
      driverConfig: { root: volumeRoot },
      detachTimeoutMs: 2_000,
    };
    const first = await startTestStratus({ volume }, databaseUrl);
    stratuses.push(first);
    const seed = new Seed(first);
    const member = await seed.member('member');
    const t = member.token!;
    const creating = await availableVolume(first, t, { sizeGib: 1 });
    const deleting = await availableVolume(first, t, { sizeGib: 1 });
    const queued = await availableVolume(first, t, { sizeGib: 1 });
    const opCreating = await interrupted(first, creating, 'creating');
    const opDeleting = await interrupted(first, deleting, 'deleting');
    // Extending with no running operation: a job still queued will settle it.
    await first.stratus.runtime.pool.query(
      `update volumes set status = 'extending' where id = $1`,
      [rawId(queued)],
    );
    await first.stop();

    const second = await startTestStratus({ volume }, databaseUrl);
    stratuses.push(second);
    const token = await second.login(member.userName, member.password, {
      projectId: member.projectId,
    });
    expect(await getVolume(second, token, creating)).toMatchObject({
      status: 'ERROR',
      fault: { code: 'INTERRUPTED' },
    });
    expect(await getVolume(second, token, deleting)).toMatchObject({
      status: 'ERROR_DELETING',
      fault: { code: 'INTERRUPTED' },
    });
    expect(await getVolume(second, token, queued)).toMatchObject({
      status: 'EXTENDING',
      fault: null,
    });
    const { rows } = await second.stratus.runtime.pool.query(
      'select status, error_code from operations where id = any($1) order by id',
      [[opCreating, opDeleting]],
    );
    expect(rows).toEqual([
      { status: 'FAILED', error_code: 'INTERRUPTED' },
      { status: 'FAILED', error_code: 'INTERRUPTED' },
    ]);
    fs.rmSync(volumeRoot, { recursive: true, force: true });
  });

  it('an attach that died: available again when the guest does not have it', async () => {
    const { s, seed, imageId, flavorId } = await startComputeTestbed();
    stratuses.push(s);
    const t = (await seed.member('member')).token!;
    const serverId = await activeServer(s, t, { name: 'x', imageId, flavorId });
    const volumeId = await availableVolume(s, t, { sizeGib: 1 });
    await s.stratus.runtime.pool.query(
      `insert into volume_attachments (volume_id, server_id, status) values ($1, $2, 'attaching')`,
      [rawId(volumeId), rawId(serverId)],
    );
    await interrupted(s, volumeId, 'attaching');
    const rt = s.stratus.runtime;
    const report = await reconcileVolumes(rt.db, rt.volume!.hostname, rt.compute, rt.logger);
    expect(report.repairedVolumes).toEqual([rawId(volumeId)]);
    expect(await getVolume(s, t, volumeId)).toMatchObject({
      status: 'AVAILABLE',
      attachments: [],
      fault: { code: 'INTERRUPTED' },
    });
  });
});
