import { describe, expect, it } from 'vitest';
import { volumeNames } from '../../drivers/compute/qemu-args';
import {
  diskStatsOf,
  parseProcStatCpuNs,
  parseProcStatusRssMib,
  processCpuNs,
  processRssMib,
} from '../../drivers/compute/stats';
import { fakeLoadFactor, fakeStats } from '../../drivers/compute/stats-fake';
import { readDeviceCounters, readTapAsGuest } from '../../drivers/network/tap-stats';
import { cpuUtil } from '../../workers/metering/compute';
import { meteringConfig } from '../../workers/metering/config';

/** The pure parts of the pollers: /proc parsing, device naming, cpu_util, config, fake series. */

const VOL_B = '11111111-1111-4111-8111-111111111111';
const VOL_C = '22222222-2222-4222-8222-222222222222';
const stats = (n: number) => ({
  rd_bytes: n,
  wr_bytes: 2 * n,
  rd_operations: 3 * n,
  wr_operations: 4 * n,
});

describe('/proc parsing', () => {
  it('takes utime + stime after the last parenthesis, in ns at 100 ticks/s', () => {
    // A process name with spaces and a parenthesis must not shift the fields.
    const line = '4242 (qemu (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0';
    expect(parseProcStatCpuNs(line)).toBe(300 * 1e7);
    expect(() => parseProcStatCpuNs('4242 (x) S 1')).toThrow(/utime/);
  });

  it('reads VmRSS in MiB', () => {
    expect(parseProcStatusRssMib('Name:\tqemu\nVmRSS:\t  204800 kB\nThreads: 3\n')).toBe(200);
    expect(() => parseProcStatusRssMib('Name:\tkthread\n')).toThrow(/VmRSS/);
  });

  it('reads this very process', async () => {
    expect(await processCpuNs(process.pid)).toBeGreaterThan(0);
    expect(await processRssMib(process.pid)).toBeGreaterThan(1);
  });
});

describe('QMP blockstats to guest devices', () => {
  const entries = [
    {
      device: 'virtio0',
      qdev: '/machine/peripheral-anon/device[0]/virtio-backend',
      stats: stats(1),
    },
    { device: '', qdev: `${volumeNames(VOL_C).deviceId}/virtio-backend`, stats: stats(3) },
    {
      device: '',
      qdev: `/machine/peripheral/${volumeNames(VOL_B).deviceId}/virtio-backend`,
      stats: stats(2),
    },
  ];
  const vol = (volumeId: string) => ({ volumeId, driver: 'qcow2' as const, path: '/x' });

  it('names the overlay vda and volumes vdb, vdc in definition order', () => {
    const disks = diskStatsOf(entries, true, [vol(VOL_B), vol(VOL_C)]);
    expect(disks).toEqual([
      { device: 'vda', readBytes: 1, writeBytes: 2, readRequests: 3, writeRequests: 4 },
      { device: 'vdb', readBytes: 2, writeBytes: 4, readRequests: 6, writeRequests: 8 },
      { device: 'vdc', readBytes: 3, writeBytes: 6, readRequests: 9, writeRequests: 12 },
    ]);
  });

  it('a root volume is vda; a device QEMU does not list is left out, not renamed', () => {
    const disks = diskStatsOf(entries.slice(1), false, [vol(VOL_B), vol(VOL_C)]);
    expect(disks.map((d) => [d.device, d.readBytes])).toEqual([
      ['vda', 2],
      ['vdb', 3],
    ]);
    const missing = diskStatsOf([entries[0]], true, [vol(VOL_B)]);
    expect(missing.map((d) => d.device)).toEqual(['vda']);
  });
});

describe('cpu_util', () => {
  it('is CPU time over the time the vCPUs had, in %', () => {
    // 1 s of CPU over 2 s with 2 vCPUs: 25 %.
    expect(cpuUtil({ cpuTimeNs: 1e9, atMs: 1000 }, 2e9, 3000, 2)).toBe(25);
    expect(cpuUtil({ cpuTimeNs: 0, atMs: 0 }, 4e9, 1000, 1)).toBe(100);
  });

  it('has no value without an earlier reading, after a counter reset or no elapsed time', () => {
    expect(cpuUtil(undefined, 1e9, 1000, 1)).toBeNull();
    expect(cpuUtil({ cpuTimeNs: 5e9, atMs: 0 }, 1e9, 1000, 1)).toBeNull();
    expect(cpuUtil({ cpuTimeNs: 0, atMs: 1000 }, 1e9, 1000, 1)).toBeNull();
  });
});

describe('configuration', () => {
  it('defaults to 10 s, 0 disables, at least 1 s, anything else is refused', () => {
    expect(meteringConfig({}).intervalMs).toBe(10_000);
    expect(meteringConfig({ STRATUS_METERING_INTERVAL_MS: '0' }).intervalMs).toBe(0);
    expect(meteringConfig({ STRATUS_METERING_INTERVAL_MS: '1000' }).intervalMs).toBe(1000);
    expect(meteringConfig({ STRATUS_METERING_INTERVAL_MS: '200' }).intervalMs).toBe(1000);
    expect(() => meteringConfig({ STRATUS_METERING_INTERVAL_MS: 'fast' })).toThrow(
      /STRATUS_METERING_INTERVAL_MS/,
    );
    expect(() => meteringConfig({ STRATUS_METERING_INTERVAL_MS: '-5' })).toThrow();
  });
});

describe('fake driver series', () => {
  const spec = {
    instanceId: '33333333-3333-4333-8333-333333333333',
    name: 'f',
    vcpus: 2,
    memoryMib: 1000,
    rootDisk: null,
    metadata: { 'fake:cpu_load': '0.25' },
    nics: [{ portId: VOL_B, tapName: 'tap0', mac: '52:54:00:00:00:01' }],
  };

  it('grows with the load factor, memory steady, counters growing', () => {
    const a = fakeStats(spec, ['vda'], 10_000);
    const b = fakeStats(spec, ['vda'], 20_000);
    expect(a.cpuTimeNs).toBe(0.25 * 2 * 10 * 1e9);
    expect(cpuUtil({ cpuTimeNs: a.cpuTimeNs, atMs: 10_000 }, b.cpuTimeNs, 20_000, 2)).toBe(25);
    expect(a.memoryUsageMib).toBe(b.memoryUsageMib);
    expect(b.disks[0].writeBytes).toBeGreaterThan(a.disks[0].writeBytes);
    expect(b.nics[0].incomingPackets).toBeGreaterThan(a.nics[0].incomingPackets);
    expect(fakeStats(spec, ['vda'], 20_000)).toEqual(b);
  });

  it('derives a load factor from the id when none is given', () => {
    const load = fakeLoadFactor({ ...spec, metadata: {} });
    expect(load).toBeGreaterThanOrEqual(0.05);
    expect(load).toBeLessThan(1);
    expect(fakeLoadFactor({ ...spec, metadata: {} })).toBe(load);
  });
});

describe('tap counters', () => {
  it("reads a device's counters, and a tap's from its guest's side", async () => {
    const lo = await readDeviceCounters('lo');
    expect(lo.rxBytes).toBeGreaterThanOrEqual(0);
    const guest = await readTapAsGuest('lo');
    expect(guest.outgoingBytes).toBeGreaterThanOrEqual(lo.rxBytes);
    await expect(readDeviceCounters('no-such-dev0')).rejects.toThrow(/ENOENT/);
    await expect(readDeviceCounters('../../etc')).rejects.toThrow(/not a network device/);
  });
});
