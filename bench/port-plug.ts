/**
 * Ports plugged into Open vSwitch per second: the ovs network driver's ensurePort (tap, bridge
 * port with tag and external ids, firewall flows) from 20 concurrent callers, against raw
 * commands doing the same plugs (`ip tuntap add` + `ip link set up` + `ovs-vsctl add-port
 * tag=`) from 20 concurrent callers, and against the same raw plugs all in one `ip -batch`
 * and one ovs-vsctl call (the floor). Rounds alternate so load on the machine hits both.
 * Needs root and Open vSwitch (the driver's probe starts it). Cleans up its bridge and taps.
 *
 *   npx tsx bench/port-plug.ts            # PORT_PLUG_N=200 PORT_PLUG_CLIENTS=20 PORT_PLUG_ROUNDS=3
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OvsNetworkDriver } from '../drivers/network/ovs/index';
import { run } from '../drivers/network/ovs/run';
import type { PortSpec } from '../drivers/network/types';

const N = Number(process.env.PORT_PLUG_N ?? 200);
const CLIENTS = Number(process.env.PORT_PLUG_CLIENTS ?? 20);
const ROUNDS = Number(process.env.PORT_PLUG_ROUNDS ?? 3);
const VLAN = 100;

const bridge = `br-b${randomBytes(4).toString('hex')}`;
const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-bench-ovs-'));
const driver = new OvsNetworkDriver({ bridge, stateDir });

/** Runs `work` for items 0..n-1 from `clients` concurrent loops; returns seconds taken. */
async function timed(n: number, clients: number, work: (i: number) => Promise<void>) {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < n) await work(next++);
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function portSpec(i: number): PortSpec {
  const mac = `fa:16:3e:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  const subnetId = '00000000-0000-0000-0000-000000000001';
  return {
    portId: randomUUID(),
    networkId: '00000000-0000-0000-0000-000000000002',
    segmentationId: VLAN,
    mtu: 1450,
    mac,
    fixedIps: [
      { subnetId, ip: `10.200.${i >> 8}.${(i & 255) + 1}`, prefixLength: 16, ipVersion: 4 },
    ],
    adminStateUp: true,
    portSecurityEnabled: true,
    rules: [
      {
        direction: 'egress',
        ethertype: 'IPv4',
        protocol: null,
        portRangeMin: null,
        portRangeMax: null,
        remoteIps: null,
      },
      {
        direction: 'ingress',
        ethertype: 'IPv4',
        protocol: 6,
        portRangeMin: 22,
        portRangeMax: 22,
        remoteIps: ['10.200.0.0/16'],
      },
      {
        direction: 'ingress',
        ethertype: 'IPv4',
        protocol: 1,
        portRangeMin: null,
        portRangeMax: null,
        remoteIps: null,
      },
    ],
    allowedAddressPairs: [],
  };
}

async function driverRound(): Promise<number> {
  const specs = Array.from({ length: N }, (_, i) => portSpec(i));
  const seconds = await timed(N, CLIENTS, async (i) => {
    await driver.ensurePort(specs[i]);
  });
  await timed(N, CLIENTS, async (i) => driver.deletePort(specs[i].portId));
  return seconds;
}

const rawName = (round: number, i: number) => `tapr${round}x${i}`;

async function rawRound(round: number): Promise<number> {
  const seconds = await timed(N, CLIENTS, async (i) => {
    const tap = rawName(round, i);
    await run('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    await run('ip', ['link', 'set', 'dev', tap, 'mtu', '1450', 'up']);
    await run('ovs-vsctl', ['add-port', bridge, tap, `tag=${VLAN}`]);
  });
  await removeRaw(round);
  return seconds;
}

async function rawBatchedRound(round: number): Promise<number> {
  const names = Array.from({ length: N }, (_, i) => rawName(round, i));
  const started = process.hrtime.bigint();
  const lines = names.flatMap((t) => [
    `tuntap add dev ${t} mode tap`,
    `link set dev ${t} mtu 1450 up`,
  ]);
  await run('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
  await run(
    'ovs-vsctl',
    names.flatMap((t) => ['--', 'add-port', bridge, t, `tag=${VLAN}`]),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await removeRaw(round);
  return seconds;
}

async function removeRaw(round: number): Promise<void> {
  const names = Array.from({ length: N }, (_, i) => rawName(round, i));
  await run(
    'ovs-vsctl',
    names.flatMap((t) => ['--', '--if-exists', 'del-port', bridge, t]),
  );
  await run('ip', ['-force', '-batch', '-'], {
    input: `${names.map((t) => `link del dev ${t}`).join('\n')}\n`,
  }).catch(() => {});
}

const fmt = (x: number) => x.toFixed(1);
try {
  await driver.probe();
  console.log(
    `port plugging: ${N} ports, ${CLIENTS} concurrent callers, ${ROUNDS} rounds, bridge ${bridge} (netdev)`,
  );
  const rows: { driver: number; raw: number; batched: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const d = N / (await driverRound());
    const raw = N / (await rawRound(r));
    const batched = N / (await rawBatchedRound(r + ROUNDS));
    rows.push({ driver: d, raw, batched });
    console.log(
      `round ${r + 1}: ensurePort ${fmt(d)} ports/s | raw ip + ovs-vsctl per port ${fmt(raw)} ports/s | raw, all in one call ${fmt(batched)} ports/s | driver/raw ${fmt((100 * d) / raw)} %`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const d = median(rows.map((x) => x.driver));
  const raw = median(rows.map((x) => x.raw));
  const batched = median(rows.map((x) => x.batched));
  console.log(
    `median: ensurePort ${fmt(d)} ports/s, raw per port ${fmt(raw)} ports/s (driver ${fmt((100 * d) / raw)} % of it; goal >= 80 %), raw in one call ${fmt(batched)} ports/s`,
  );
} finally {
  execFileSync('ovs-vsctl', ['--if-exists', 'del-br', bridge]);
  await fs.rm(stateDir, { recursive: true, force: true });
}
