import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeSamples, encodeSamples } from '../../resolvers/metering/live';
import type { Sample } from '../../resolvers/metering/samples';
import { MeteringPollers } from '../../workers/metering/pollers';
import { emptyDisk, rawId, uploadImage } from '../support/compute';
import {
  type Json,
  type Subscription,
  startTestStratus,
  type TestStratus,
} from '../support/harness';
import { Seed } from '../support/seed';
import { activeServer, flavor } from '../support/servers';

/**
 * subscription metrics: samples reach the subscriber through PostgreSQL NOTIFY as the pollers
 * record them; only resources the caller may see; typed errors for bad arguments.
 */

let s: TestStratus;
let seed: Seed;
let imageId: string;
let flavorId: string;
let pollers: MeteringPollers;

const SUB = `subscription($type: String!, $ids: [String!]!, $meters: [String!]!) {
  metrics(resourceType: $type, resourceIds: $ids, meters: $meters) {
    meter resourceType resourceId projectId timestamp value } }`;

/** Polls until the subscription got `n` values (the LISTEN may still be starting at first). */
async function pollUntil(sub: Subscription, n: number): Promise<Json[]> {
  const deadline = Date.now() + 20_000;
  while (sub.values.length < n) {
    if (Date.now() > deadline) throw new Error(`got ${JSON.stringify(sub.values)}`);
    await pollers.pollOnce();
    await new Promise((r) => setTimeout(r, 300));
  }
  return sub.values;
}

/** A subscription's refusal: one result with errors and no data. */
async function refusal(sub: Subscription): Promise<Json[]> {
  const end = await sub.ended;
  sub.close();
  expect(end.error).toBeUndefined();
  expect(sub.values).toHaveLength(1);
  expect(sub.values[0].data ?? null).toBeNull();
  return sub.values[0].errors;
}

beforeAll(async () => {
  s = await startTestStratus({ metering: { intervalMs: 0 } });
  seed = new Seed(s);
  flavorId = await flavor(s, { vcpus: 1, ramMib: 128, rootDiskGib: 1 });
  imageId = await uploadImage(
    s,
    s.adminToken,
    { name: 'live-disk', diskFormat: 'raw', visibility: 'public' },
    emptyDisk(),
  );
  const rt = s.stratus.runtime;
  pollers = new MeteringPollers({
    db: rt.db,
    pool: rt.pool,
    logger: rt.logger,
    intervalMs: 0,
    compute: rt.compute,
    volume: rt.volume,
  });
});
afterAll(async () => {
  await pollers?.stop();
  await s?.stop();
});

describe('subscription metrics', () => {
  it("delivers a project's samples to it and nothing of another project", async () => {
    const alice = await seed.member('member');
    const bob = await seed.member('member');
    const aliceServer = await activeServer(s, alice.token!, { name: 'a', imageId, flavorId });
    const bobServer = await activeServer(s, bob.token!, { name: 'b', imageId, flavorId });

    // Global or raw ids both work.
    const mine = s.subscribe(
      SUB,
      { type: 'server', ids: [aliceServer], meters: ['memory.usage', 'cpu_util'] },
      alice.token,
    );
    const bobs = s.subscribe(
      SUB,
      { type: 'server', ids: [rawId(bobServer)], meters: ['memory.usage'] },
      bob.token,
    );
    const admin = s.subscribe(
      SUB,
      { type: 'server', ids: [rawId(aliceServer)], meters: ['memory.usage'] },
      s.adminToken,
    );
    await pollUntil(mine, 3); // memory.usage twice, and cpu_util from the second round on
    await pollUntil(bobs, 1);
    await pollUntil(admin, 1);

    for (const v of mine.values) {
      expect(v.errors).toBeUndefined();
      expect(v.data.metrics).toMatchObject({
        resourceType: 'server',
        resourceId: rawId(aliceServer),
        projectId: rawId(alice.projectId),
      });
      expect(['memory.usage', 'cpu_util']).toContain(v.data.metrics.meter);
    }
    expect(mine.values.map((v) => v.data.metrics.meter)).toContain('cpu_util');
    for (const v of bobs.values) {
      expect(v.data.metrics.resourceId).toBe(rawId(bobServer));
      expect(v.data.metrics.meter).toBe('memory.usage');
    }
    expect(admin.values[0].data.metrics.resourceId).toBe(rawId(aliceServer));
    for (const sub of [mine, bobs, admin]) sub.close();
  });

  it("refuses another project's resource as not found, and bad arguments with the field", async () => {
    const alice = await seed.member('member');
    const bob = await seed.member('member');
    const aliceServer = await activeServer(s, alice.token!, { name: 'a2', imageId, flavorId });
    const cases: [Record<string, unknown>, string | null][] = [
      [{ type: 'server', ids: [aliceServer], meters: ['cpu'] }, null],
      [{ type: 'server', ids: [aliceServer], meters: ['no.such.meter'] }, 'meters[0]'],
      [{ type: 'server', ids: [aliceServer], meters: ['volume.size'] }, 'meters[0]'],
      [{ type: 'galaxy', ids: [aliceServer], meters: ['cpu'] }, 'resourceType'],
      [{ type: 'server', ids: [], meters: ['cpu'] }, 'resourceIds'],
      [{ type: 'server', ids: ['not-an-id'], meters: ['cpu'] }, 'resourceIds[0]'],
      [
        { type: 'server_disk', ids: [rawId(aliceServer)], meters: ['disk.device.read.bytes'] },
        'resourceIds[0]',
      ],
    ];
    for (const [vars, field] of cases) {
      const errors = await refusal(s.subscribe(SUB, vars, bob.token));
      expect(errors).toEqual([
        expect.objectContaining({
          extensions: expect.objectContaining(
            field === null ? { code: 'NOT_FOUND' } : { code: 'BAD_USER_INPUT', field },
          ),
        }),
      ]);
    }
    // Her own server's disk is fine for her.
    const disk = s.subscribe(
      SUB,
      {
        type: 'server_disk',
        ids: [`${rawId(aliceServer)}/vda`],
        meters: ['disk.device.read.bytes'],
      },
      alice.token,
    );
    await pollUntil(disk, 1);
    expect(disk.values[0].data.metrics.resourceId).toBe(`${rawId(aliceServer)}/vda`);
    disk.close();
  });
});

describe('across processes', () => {
  it('a subscriber on another Stratus process gets the samples this one records', async () => {
    const other = await startTestStratus(
      {
        metering: { intervalMs: 0 },
        compute: { ...s.config.compute, hostname: `other-${Date.now()}` },
      },
      s.databaseUrl,
    );
    const rt = other.stratus.runtime;
    const otherPollers = new MeteringPollers({
      db: rt.db,
      pool: rt.pool,
      logger: rt.logger,
      intervalMs: 0,
      compute: rt.compute,
      volume: null,
    });
    try {
      const alice = await seed.member('member');
      const id = await activeServer(s, alice.token!, { name: 'far', imageId, flavorId });
      // The scheduler may place it on either host: the process running it records its
      // samples, the subscriber sits on the other process.
      const { rows } = await rt.pool.query('select host from servers where id = $1', [rawId(id)]);
      const onOther = rows[0].host === rt.compute!.hostname;
      const recorder = onOther ? otherPollers : pollers;
      const remote = (onOther ? s : other).subscribe(
        SUB,
        { type: 'server', ids: [id], meters: ['memory.usage'] },
        alice.token,
      );
      const deadline = Date.now() + 20_000;
      while (remote.values.length === 0 && Date.now() < deadline) {
        await recorder.pollOnce();
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(remote.values[0]?.data.metrics).toMatchObject({
        meter: 'memory.usage',
        resourceId: rawId(id),
      });
      remote.close();
    } finally {
      await otherPollers.stop();
      await other.stop();
    }
  });
});

describe('NOTIFY payloads', () => {
  it('cuts a round into payloads under 8000 bytes and decodes every sample back', () => {
    const samples: Sample[] = Array.from({ length: 2500 }, (_, i) => ({
      meter: 'network.incoming.packets',
      resourceType: 'port',
      resourceId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      projectId: '11111111-2222-4333-8444-555555555555',
      timestamp: new Date(1_700_000_000_000 + i),
      value: i * 1.5,
    }));
    const payloads = encodeSamples(samples);
    expect(payloads.length).toBeGreaterThan(10);
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThan(8000);
    expect(payloads.flatMap(decodeSamples)).toEqual(samples);
  });
});

describe('the pollers on their own timer', () => {
  it('deliver samples every interval with nobody calling them', async () => {
    const timed = await startTestStratus({ metering: { intervalMs: 300 } });
    try {
      const f = await flavor(timed, { vcpus: 1, ramMib: 64, rootDiskGib: 1 });
      const image = await uploadImage(
        timed,
        timed.adminToken,
        { name: 'timed-disk', diskFormat: 'raw', visibility: 'public' },
        emptyDisk(),
      );
      const member = await new Seed(timed).member('member');
      const id = await activeServer(timed, member.token!, {
        name: 't',
        imageId: image,
        flavorId: f,
      });
      const sub = timed.subscribe(
        SUB,
        { type: 'server', ids: [id], meters: ['cpu_util'] },
        member.token,
      );
      const values = await sub.waitFor(2, 30_000);
      expect(values[1].data.metrics).toMatchObject({ meter: 'cpu_util', resourceId: rawId(id) });
      sub.close();
    } finally {
      await timed.stop();
    }
  });
});
