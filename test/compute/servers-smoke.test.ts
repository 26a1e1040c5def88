import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFlavor,
  createServer,
  emptyDisk,
  serverAction,
  uploadImage,
  waitForOperation,
  waitForStatus,
} from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';

let s: TestStratus;
let member: SeededUser;
let flavorId: string;
let imageId: string;
beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
  flavorId = await createFlavor(s, { name: 'm1.tiny' });
  imageId = await uploadImage(s, member.token!, { name: 'disk', diskFormat: 'raw' }, emptyDisk());
});
afterAll(async () => {
  await s?.stop();
});

describe('servers on the fake driver', () => {
  it('builds, acts and deletes', async () => {
    const created = await createServer(s, member.token!, { name: 'web', imageId, flavorId });
    expect(created.__typename).toBe('CreateServerSuccess');
    const id = created.created.server.id;
    expect(created.created.server.status).toBe('BUILD');
    const op = await waitForOperation(s, member.token!, created.created.operation.id);
    expect(op.status).toBe('SUCCEEDED');
    await waitForStatus(s, member.token!, id, 'ACTIVE');
    const stop = await serverAction(s, member.token!, 'stopServer', { id });
    expect(stop.__typename).toBe('StopServerSuccess');
    await waitForStatus(s, member.token!, id, 'SHUTOFF');
    const again = await serverAction(s, member.token!, 'stopServer', { id });
    expect(again.__typename).toBe('ServerStateError');
    await serverAction(s, member.token!, 'startServer', { id });
    await waitForStatus(s, member.token!, id, 'ACTIVE');
    const del = await serverAction(s, member.token!, 'deleteServer', { id });
    expect(del.__typename).toBe('DeleteServerSuccess');
    await waitForOperation(s, member.token!, del.started.operation.id);
    await waitForStatus(s, member.token!, id, 'DELETED');
  });
});
