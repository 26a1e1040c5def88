import { decodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { volumes } from '../../db/tables';
import type { Sample } from '../../resolvers/metering/samples';
import { recordSamples } from '../../resolvers/metering/store';
import type { Json, TestStratus } from '../support/harness';
import type { SeededUser } from '../support/seed';
import { activeServer, startComputeTestbed } from '../support/servers';

/**
 * The metering API through the real server: metrics fields, aggregates, usage reports, bad
 * input as typed errors naming the argument, and tenant isolation. Samples are written with
 * recordSamples at chosen timestamps; server and volume lifetimes are set in the database.
 */

let s: TestStratus;
let alice: SeededUser;
let bob: SeededUser;
let serverGid: string;
let serverId: string;
let projectA: string;
let imageGid: string;
const raw = (gid: string) => decodeGlobalID(gid).id;
const HOUR = 3_600_000;
const base = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
const at = (seconds: number) => new Date(base + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();

beforeAll(async () => {
  const bed = await startComputeTestbed();
  s = bed.s;
  alice = await bed.seed.member('member');
  bob = await bed.seed.member('member');
  projectA = raw(alice.projectId);
  imageGid = bed.imageId;
  serverGid = await activeServer(s, alice.token as string, {
    name: 'metered',
    flavorId: bed.flavorId,
    imageId: bed.imageId,
  });
  serverId = raw(serverGid);
  const sample = (
    meter: string,
    resourceId: string,
    sec: number,
    value: number,
    type = 'server',
  ): Sample => ({
    meter,
    resourceType: type as Sample['resourceType'],
    resourceId,
    projectId: projectA,
    timestamp: at(sec),
    value,
  });
  await recordSamples(s.stratus.runtime.db, [
    // cpu_util: minute 0 holds 10, 30 (mean 20); minute 1 holds 50
    sample('cpu_util', serverId, 5, 10),
    sample('cpu_util', serverId, 35, 30),
    sample('cpu_util', serverId, 70, 50),
    // vda read bytes: 0 @0 s, 600 @60 s, 1800 @120 s
    sample('disk.device.read.bytes', `${serverId}/vda`, 0, 0, 'server_disk'),
    sample('disk.device.read.bytes', `${serverId}/vda`, 60, 600, 'server_disk'),
    sample('disk.device.read.bytes', `${serverId}/vda`, 120, 1800, 'server_disk'),
  ]);
});
afterAll(() => s?.stop());

const SERIES = `unit kind granularity aggregation points { timestamp value } gaps { reason }`;
const serverMetrics = (token: string | null, args: string) =>
  s.gql(
    `query($id: ID!) { node(id: $id) { ... on Server { metrics(${args}) { ${SERIES} } } } }`,
    { id: serverGid },
    token,
  );
const points = (series: Json) =>
  (series.points as Json[]).map((p) => [(Date.parse(p.timestamp) - base) / 1000, p.value]);

describe('Server.metrics and diskMetrics', () => {
  it('cpu_util, mean per minute', async () => {
    const r = await serverMetrics(
      alice.token,
      `meter: "cpu_util", from: "${iso(0)}", to: "${iso(120)}", granularity: 60, aggregation: MEAN`,
    );
    expect(r.errors).toBeUndefined();
    const series = r.data?.node.metrics;
    expect(series).toMatchObject({
      unit: '%',
      kind: 'GAUGE',
      granularity: 60,
      aggregation: 'MEAN',
      gaps: [],
    });
    expect(points(series)).toEqual([
      [0, 20],
      [60, 50],
    ]);
  });

  it('a disk counter as a per-second rate', async () => {
    const r = await s.gql(
      `query($id: ID!) { node(id: $id) { ... on Server { diskMetrics(device: "vda", meter: "disk.device.read.bytes", from: "${iso(0)}", to: "${iso(180)}", granularity: 60, aggregation: RATE) { ${SERIES} } } } }`,
      { id: serverGid },
      alice.token,
    );
    expect(r.errors).toBeUndefined();
    // (600-0)/60 = 10, (1800-600)/60 = 20
    expect(points(r.data?.node.diskMetrics)).toEqual([
      [60, 10],
      [120, 20],
    ]);
  });

  it.each([
    ['unknown meter', `meter: "cpu.nope"`, 'meter'],
    ['meter of another resource type', `meter: "volume.size"`, 'meter'],
    ['granularity not in the policy', `meter: "cpu_util", granularity: 30`, 'granularity'],
    ['from after to', `meter: "cpu_util", from: "${iso(100)}", to: "${iso(0)}"`, 'from'],
    [
      'window longer than retention',
      `meter: "cpu_util", from: "${iso(-8 * 86_400)}", to: "${iso(0)}", granularity: 60`,
      'to',
    ],
  ])('bad input: %s', async (_name, args, field) => {
    const r = await serverMetrics(alice.token, args);
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('a bad device name', async () => {
    const r = await s.gql(
      `query($id: ID!) { node(id: $id) { ... on Server { diskMetrics(device: "../x", meter: "disk.device.read.bytes") { unit } } } }`,
      { id: serverGid },
      alice.token,
    );
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'device' });
  });
});

describe('metricsAggregate', () => {
  const AGG = `query($p: ID) { metricsAggregate(meter: "cpu_util", resourceType: SERVER, from: "${iso(0)}", to: "${iso(120)}", granularity: 60, aggregation: MAX, groupBy: FLAVOR, projectId: $p) { key resourceCount series { points { timestamp value } } } }`;
  it("a member sees their project's servers, grouped by flavor", async () => {
    const r = await s.gql(AGG, {}, alice.token);
    expect(r.errors).toBeUndefined();
    const groups = r.data?.metricsAggregate as Json[];
    expect(groups).toHaveLength(1);
    expect(groups[0]?.resourceCount).toBe(1);
    expect(typeof groups[0]?.key).toBe('string');
    expect(points(groups[0]?.series)).toEqual([
      [0, 30],
      [60, 50],
    ]);
  });
  it("another project's member sees none of it, and may not name that project", async () => {
    expect((await s.gql(AGG, {}, bob.token)).data?.metricsAggregate).toEqual([]);
    const r = await s.gql(AGG, { p: alice.projectId }, bob.token);
    expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
  it('an admin may name the project', async () => {
    const r = await s.gql(AGG, { p: alice.projectId }, s.adminToken);
    const groups = (r.data?.metricsAggregate ?? []) as Json[];
    expect(groups[0]?.resourceCount).toBe(1);
  });
  it('groupBy applies to servers only', async () => {
    const r = await s.gql(
      `{ metricsAggregate(meter: "volume.size", resourceType: VOLUME, groupBy: HOST) { key } }`,
      {},
      alice.token,
    );
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'groupBy' });
  });
});

describe('isolation of resource metrics', () => {
  it("another project's member cannot reach the server, hence not its metrics", async () => {
    const r = await serverMetrics(bob.token, `meter: "cpu_util"`);
    expect(r.data?.node ?? null).toBeNull();
  });
  it('no token: refused', async () => {
    const r = await serverMetrics(null, `meter: "cpu_util"`);
    expect(r.data?.node ?? null).toBeNull();
  });
  it("a public image's metrics are its owner's: another project's member is refused", async () => {
    const q = `query($id: ID!) { node(id: $id) { ... on Image { name metrics(meter: "image.size") { unit } } } }`;
    const member = await s.gql(q, { id: imageGid }, alice.token);
    expect(member.data?.node?.name).toBe('public-disk');
    expect(member.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const admin = await s.gql(q, { id: imageGid }, s.adminToken);
    expect(admin.errors).toBeUndefined();
    expect(admin.data?.node?.metrics).toEqual({ unit: 'B' });
  });
});

describe('usageReport', () => {
  const USAGE = `query($p: ID, $from: DateTime!, $to: DateTime!) { usageReport(projectId: $p, from: $from, to: $to) {
    totalHours vcpuHours ramMibHours diskGibHours volumeGibHours objectGibHours
    servers { name hours vcpuHours ramMibHours } volumes { sizeGib hours gibHours } } }`;
  beforeAll(async () => {
    // The server ran from base-5h to base-2h; the volume exists since base-3h.
    await s.stratus.runtime.pool.query(
      'update servers set launched_at = $2, terminated_at = $3 where id = $1',
      [serverId, at(-5 * 3600), at(-2 * 3600)],
    );
    const type = await s.stratus.runtime.pool.query(
      `insert into volume_types (name) values ('usage-test') returning id`,
    );
    await s.stratus.runtime.db.insert(volumes).values({
      projectId: projectA,
      volumeTypeId: type.rows[0].id,
      name: 'usage-vol',
      sizeGib: 5,
      status: 'available',
      createdAt: at(-3 * 3600),
    } as typeof volumes.$inferInsert);
    const size = (sec: number, gib: number): Sample => ({
      meter: 'storage.objects.size',
      resourceType: 'container',
      resourceId: 'usage-container',
      projectId: projectA,
      timestamp: at(sec),
      value: gib * 1024 ** 3,
    });
    // hour base-4h: mean of 2 and 4 GiB = 3; hour base-3h: 1 GiB; hour base-5h (outside): 100
    await recordSamples(s.stratus.runtime.db, [
      size(-5 * 3600 + 60, 100),
      size(-4 * 3600 + 600, 2),
      size(-4 * 3600 + 2400, 4),
      size(-3 * 3600 + 1800, 1),
    ]);
  });

  it('Nova-style server hours, volume and object GiB-hours over [base-4h, base-1h)', async () => {
    const r = await s.gql(USAGE, { from: iso(-4 * 3600), to: iso(-3600) }, alice.token);
    expect(r.errors).toBeUndefined();
    const u = r.data?.usageReport;
    // server: 2 h inside (base-4h..base-2h), flavor 1 vCPU / 128 MiB / 1 GiB
    expect(u.servers).toEqual([{ name: 'metered', hours: 2, vcpuHours: 2, ramMibHours: 256 }]);
    expect(u).toMatchObject({ totalHours: 2, vcpuHours: 2, ramMibHours: 256, diskGibHours: 2 });
    // volume: 2 h (base-3h..base-1h) x 5 GiB
    expect(u.volumes).toEqual([{ sizeGib: 5, hours: 2, gibHours: 10 }]);
    expect(u.volumeGibHours).toBe(10);
    // objects: 3 GiB x 1 h + 1 GiB x 1 h
    expect(u.objectGibHours).toBeCloseTo(4, 9);
  });
  it('half an hour of a bucket counts half', async () => {
    const r = await s.gql(USAGE, { from: iso(-4 * 3600 + 1800), to: iso(-3 * 3600) }, alice.token);
    expect(r.data?.usageReport.objectGibHours).toBeCloseTo(1.5, 9);
  });
  it("another project's usage: refused; from after to: typed error", async () => {
    const other = await s.gql(
      USAGE,
      { p: alice.projectId, from: iso(-3600), to: iso(0) },
      bob.token,
    );
    expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const bad = await s.gql(USAGE, { from: iso(0), to: iso(-3600) }, alice.token);
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'from' });
  });
  it("bob's own report shows nothing of alice's", async () => {
    const r = await s.gql(USAGE, { from: iso(-6 * 3600), to: iso(0) }, bob.token);
    expect(r.data?.usageReport).toMatchObject({ servers: [], volumes: [], objectGibHours: 0 });
  });
});
