import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OvsNetworkDriver } from '../../drivers/network/ovs/index';
import type { NetworkSpec, PortSpec, RouterSpec } from '../../drivers/network/types';
import { BUILD_GUEST, GUEST_DIR, qemuSkipReason } from '../support/host-tools';
import {
  fixedIp,
  linkExists,
  namespaces,
  networkSpec,
  ovsSkipReason,
  PING_RULES,
  portSpec,
  processesMentioning,
  randomMac,
  succeeds,
  testBridge,
  until,
} from './driver-ovs-support';

/**
 * The OVS driver with real guests: the test guest (test/guest/README.md) booted under QEMU TCG
 * on the driver's taps gets its address from the driver's dnsmasq, pings its neighbour through
 * the conntrack firewall, is cut off by a security group change, cannot reach another network,
 * and answers on a floating IP from the host through a router namespace.
 */

const skipReason = ovsSkipReason() ?? qemuSkipReason();
const title = skipReason
  ? `ovs network driver with real guests (skipped: ${skipReason})`
  : 'ovs network driver with real guests';

const WAIT = 120_000;

interface Guest {
  qemu: ChildProcess;
  output(): string;
}

describe.skipIf(skipReason !== null)(title, () => {
  const bridge = testBridge();
  let stateDir: string;
  let driver: OvsNetworkDriver;
  const guests: Guest[] = [];

  // Tenant A and tenant B use the same CIDR on different VLANs: only the segment separates them.
  let netA: NetworkSpec;
  let netB: NetworkSpec;
  let ext: NetworkSpec;
  let a1: PortSpec;
  let a2: PortSpec;
  let b1: PortSpec;
  let router: RouterSpec;
  const FLOATING = '172.30.77.50';

  beforeAll(async () => {
    execFileSync(BUILD_GUEST, [GUEST_DIR], { stdio: 'ignore', timeout: 15 * 60_000 });
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-ovs-guests-'));
    driver = new OvsNetworkDriver({ bridge, stateDir });
    await driver.probe();

    netA = networkSpec('10.77.1', 771);
    netB = networkSpec('10.77.1', 772);
    a1 = portSpec(netA, '10.77.1.11');
    // a2 also serves TCP on port 5000 to anyone.
    a2 = portSpec(netA, '10.77.1.12', {
      rules: [
        ...PING_RULES,
        {
          direction: 'ingress',
          ethertype: 'IPv4',
          protocol: 6,
          portRangeMin: 5000,
          portRangeMax: 5000,
          remoteIps: null,
        },
      ],
    });
    b1 = portSpec(netB, '10.77.1.13');
    netA.hosts = [a1, a2].map((p) => ({ portId: p.portId, mac: p.mac, fixedIps: p.fixedIps }));
    netB.hosts = [{ portId: b1.portId, mac: b1.mac, fixedIps: b1.fixedIps }];
    ext = networkSpec('172.30.77', 773, [], {
      dhcpPort: null,
      hostGateway: { ip: '172.30.77.1', prefixLength: 24 },
    });
    ext.subnets[0].enableDhcp = false;
    router = {
      routerId: randomUUID(),
      adminStateUp: true,
      interfaces: [
        {
          portId: randomUUID(),
          networkId: netA.networkId,
          segmentationId: netA.segmentationId,
          mtu: netA.mtu,
          mac: randomMac(),
          fixedIp: fixedIp(netA.subnets[0].subnetId, '10.77.1.1'),
        },
      ],
      gateway: {
        portId: randomUUID(),
        networkId: ext.networkId,
        segmentationId: ext.segmentationId,
        mtu: ext.mtu,
        mac: randomMac(),
        fixedIp: fixedIp(ext.subnets[0].subnetId, '172.30.77.10'),
        nexthop: '172.30.77.1',
        enableSnat: true,
      },
      floatingIps: [{ floatingIpId: randomUUID(), floatingIp: FLOATING, fixedIp: '10.77.1.12' }],
    };
    for (const net of [netA, netB, ext]) await driver.ensureNetwork(net);
    await driver.ensureRouter(router);
    for (const port of [a1, a2, b1]) await driver.ensurePort(port);
  }, 20 * 60_000);

  afterAll(async () => {
    for (const g of guests) g.qemu.kill('SIGKILL');
    if (!driver) return;
    await Promise.all(
      guests.map((g) =>
        g.qemu.exitCode !== null || g.qemu.signalCode !== null
          ? undefined
          : new Promise((done) => g.qemu.once('exit', done)),
      ),
    );
    for (const port of [a1, a2, b1]) await driver.deletePort(port.portId);
    await driver.deleteRouter(router.routerId);
    for (const net of [netA, netB, ext]) await driver.deleteNetwork(net.networkId);
    const left = await driver.list();
    execFileSync('ovs-vsctl', ['--if-exists', 'del-br', bridge]);
    await fs.rm(stateDir, { recursive: true, force: true });
    // Nothing of this file stays on the host.
    expect(left).toEqual({ networks: [], ports: [], routers: [] });
    const ids = [netA, netB, ext].map((n) => n.networkId).concat(router.routerId);
    expect(namespaces().filter((ns) => ids.some((id) => ns.endsWith(id)))).toEqual([]);
    expect([a1, a2, b1].filter((p) => linkExists(`tap${p.portId.slice(0, 11)}`))).toEqual([]);
    expect(linkExists(`qhg${ext.networkId.slice(0, 11)}`)).toBe(false);
    expect(processesMentioning(stateDir)).toEqual([]);
  }, 60_000);

  /** Boots the test guest on a port's tap; `script` runs in the guest (busybox sh). */
  function boot(port: PortSpec, script: string): Guest {
    // A file, not `string=`: QEMU's option parser would need every comma doubled.
    const userData = path.join(stateDir, `user-data-${port.portId}`);
    writeFileSync(userData, script);
    const qemu = spawn(
      'qemu-system-x86_64',
      [
        ...['-accel', 'tcg', '-m', '256', '-nographic', '-no-reboot'],
        ...[
          '-kernel',
          path.join(GUEST_DIR, 'vmlinuz'),
          '-initrd',
          path.join(GUEST_DIR, 'initrd.img'),
        ],
        ...['-append', 'console=ttyS0 panic=-1'],
        ...['-fw_cfg', `name=opt/stratus/user-data,file=${userData}`],
        ...['-netdev', `tap,id=n0,ifname=tap${port.portId.slice(0, 11)},script=no,downscript=no`],
        ...['-device', `virtio-net-pci,netdev=n0,mac=${port.mac}`],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    qemu.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk.replace(/\r/g, '');
    });
    const guest = { qemu, output: () => output };
    guests.push(guest);
    return guest;
  }

  /** A guest script printing `ping ok` or `ping fail` for `target`, once a second, forever. */
  const pingLoop = (target: string, extra: string[] = []) =>
    [
      '#!/bin/sh',
      // The guest's own udhcpc gives up after 10 s; on a loaded host TCG guests are slower.
      'n=0',
      'until ip -4 addr show dev eth0 | grep -q inet || [ $n -gt 90 ]; do',
      '  n=$((n+1)); [ $((n % 15)) -eq 0 ] && echo dhcp retry && udhcpc -i eth0 -q -n -t 5 -T 2 -s /etc/udhcpc.script >/dev/null 2>&1',
      '  sleep 1',
      'done',
      ...extra,
      `while true; do if ping -c1 -W1 ${target} >/dev/null 2>&1; then echo ping ok; else echo ping fail; fi; sleep 1; done`,
      '',
    ].join('\n');

  /** The `ping ok|fail` lines a guest printed after character `from`. */
  const pings = (g: Guest, from = 0) =>
    [
      ...g
        .output()
        .slice(from)
        .matchAll(/^STRATUS-SCRIPT ping (ok|fail)$/gm),
    ].map((m) => m[1]);

  /** Waits until the last `n` ping results after `from` are all `result`. */
  const settles = (g: Guest, result: 'ok' | 'fail', from: number, n = 3) =>
    until(
      () => {
        const seen = pings(g, from);
        return seen.length >= n && seen.slice(-n).every((r) => r === result);
      },
      `${n} consecutive "ping ${result}"`,
      WAIT,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; console tail:\n${g.output().slice(-1500)}`);
    });

  const hostPings = (ip: string) => succeeds('busybox', ['ping', '-c1', '-W1', ip]);

  it(
    'guests get their fixed IPs by DHCP, reach each other, are filtered by security groups, isolated by network, and reachable on a floating IP',
    async () => {
      const g1 = boot(
        a1,
        pingLoop('10.77.1.12', [
          // One TCP exchange through both firewalls (checksums survive the userspace datapath).
          'for i in 1 2 3 4 5 6 7 8 9 10; do r=$(nc -w 2 10.77.1.12 5000 </dev/null 2>/dev/null); [ "$r" = tcp-hello ] && { echo tcp ok; break; }; sleep 1; done',
        ]),
      );
      // a2 pings the host on the external network: out through the router, SNAT'd to its floating IP.
      const g2 = boot(
        a2,
        pingLoop('172.30.77.1', [
          '(while true; do echo tcp-hello | nc -l -p 5000 >/dev/null 2>&1; done) &',
        ]),
      );
      const gb = boot(b1, pingLoop('10.77.1.12'));

      // DHCP gives each guest exactly its port's fixed IP.
      for (const [g, port] of [
        [g1, a1],
        [g2, a2],
        [gb, b1],
      ] as const) {
        const line = await until(
          () => g.output().match(/^STRATUS-ADDR eth0 (\S+)$/m),
          'a DHCP lease',
          WAIT,
        ).catch((err: Error) => {
          throw new Error(`${err.message}; console tail:\n${g.output().slice(-1500)}`);
        });
        expect(line[1]).toBe(port.fixedIps[0].ip);
      }

      // a1 reaches a2 on network A, by TCP and by ping.
      await until(() => /^STRATUS-SCRIPT tcp ok$/m.test(g1.output()), 'a TCP exchange', WAIT);
      await settles(g1, 'ok', 0);
      // a2 reaches the host through the router.
      await settles(g2, 'ok', 0);
      // b1 (same addresses, network B) never reaches a2.
      await settles(gb, 'fail', gb.output().indexOf('STRATUS-ADDR'), 5);
      expect(pings(gb, gb.output().indexOf('STRATUS-ADDR'))).not.toContain('ok');

      // The host reaches a2 through the router's floating IP.
      await until(() => hostPings(FLOATING), `the host pinging ${FLOATING}`, WAIT);

      // Without the ingress ICMP rule, a2 stops answering (a1 and the host both).
      await driver.ensurePort({ ...a2, rules: PING_RULES.filter((r) => r.direction === 'egress') });
      let mark = g1.output().length;
      await settles(g1, 'fail', mark);
      expect(hostPings(FLOATING)).toBe(false);
      // a2's own egress still works (replies to it come back as established).
      mark = g2.output().length;
      await settles(g2, 'ok', mark);

      // Restoring the rule restores the traffic.
      await driver.ensurePort(a2);
      mark = g1.output().length;
      await settles(g1, 'ok', mark);
      await until(() => hostPings(FLOATING), `the host pinging ${FLOATING} again`, WAIT);
    },
    6 * WAIT,
  );
});
