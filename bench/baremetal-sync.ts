/**
 * Power-state sync of N simulated BMCs per round (issue #8): through the service
 * (resolvers/baremetal/power-sync.ts: lease the nodes in PostgreSQL, read each BMC through the
 * ipmi driver, write each read under its row lock) against the driver alone (the same reads,
 * same concurrency, no database), interleaved in one run, alternating which goes first.
 *
 *   npx tsx bench/baremetal-sync.ts   # BM_SYNC_NODES (50), BM_SYNC_ROUNDS (5), BM_SYNC_CONCURRENCY (16)
 *
 * Nodes are enrolled and managed through the API first (verify runs ipmitool against each).
 * Prints per-round medians, the ratio, and CPU per round of this process (Stratus + PostgreSQL
 * client work), its ipmitool children and the ipmi_sim processes.
 */

import { readFileSync } from 'node:fs';
import type { IpmiBaremetalDriver } from '../drivers/baremetal/index';
import { syncPowerStates } from '../resolvers/baremetal/power-sync';
import { type BmcSim, bmcSimSkipReason } from '../test/support/bmc-sim';
import {
  cpuOf,
  enrollBenchNode,
  selfCpu,
  startBaremetalBench,
  stopBaremetalBench,
} from './baremetal-common';
import { fmt, machineLine, printTable, runMain, summarize } from './support';

const NODES = Number(process.env.BM_SYNC_NODES ?? 50);
const ROUNDS = Number(process.env.BM_SYNC_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BM_SYNC_CONCURRENCY ?? 16);

const MANAGE = `mutation($id: ID!) { setNodeProvisionState(input: { id: $id, target: MANAGE }) { __typename ... on Error { message } } }`;

async function main(): Promise<void> {
  const skip = bmcSimSkipReason();
  if (skip) {
    console.log(`baremetal-sync: skipped (${skip})`);
    return;
  }
  const running = await startBaremetalBench({ syncConcurrency: CONCURRENCY });
  const { db, lab, bench } = running;
  try {
    const sims: BmcSim[] = [];
    for (let i = 0; i < NODES; i += 10) {
      sims.push(
        ...(await Promise.all(Array.from({ length: Math.min(10, NODES - i) }, () => lab.start()))),
      );
    }
    const token = await bench.adminLogin();
    const ids: string[] = [];
    for (const [i, sim] of sims.entries())
      ids.push(await enrollBenchNode(bench, token, sim, `bench-${i}`));
    for (const id of ids) await bench.ok(MANAGE, { id }, token);
    const deadline = Date.now() + 600_000;
    for (;;) {
      const n = await bench.ok(
        `{ baremetalNodes(filter: { provisionState: MANAGEABLE }) { totalCount } }`,
        {},
        token,
      );
      if (n.baremetalNodes.totalCount === NODES) break;
      if (Date.now() > deadline) throw new Error('nodes never all became manageable');
      await new Promise((r) => setTimeout(r, 500));
    }
    const rt = bench.stratus.runtime;
    const driver = rt.baremetal!.driver as IpmiBaremetalDriver;
    const simPids = lab
      .leftovers()
      .filter((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'ipmi_sim');
    const driverAlone = async () => {
      let next = 0;
      const worker = async () => {
        while (next < sims.length) {
          const state = await driver.powerState(sims[next++].spec());
          if (state !== 'power off') throw new Error(`unexpected ${state}`);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    };
    const service = async () => {
      const round = await syncPowerStates(rt);
      if (round.nodes !== NODES || round.failures > 0) throw new Error(JSON.stringify(round));
    };
    const samples = { service: [] as number[], driver: [] as number[] };
    const cpu = {
      service: { self: 0, children: 0, sims: 0 },
      driver: { self: 0, children: 0, sims: 0 },
    };
    const measure = async (kind: 'service' | 'driver', fn: () => Promise<void>) => {
      const before = selfCpu();
      const simsBefore = simPids.reduce((s, p) => s + cpuOf(p), 0);
      const t0 = performance.now();
      await fn();
      samples[kind].push(performance.now() - t0);
      const after = selfCpu();
      cpu[kind].self += after.self - before.self;
      cpu[kind].children += after.children - before.children;
      cpu[kind].sims += simPids.reduce((s, p) => s + cpuOf(p), 0) - simsBefore;
    };
    await service();
    await driverAlone();
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        await measure('service', service);
        await measure('driver', driverAlone);
      } else {
        await measure('driver', driverAlone);
        await measure('service', service);
      }
    }
    const s = summarize(samples.service);
    const d = summarize(samples.driver);
    const per = (seconds: number) => fmt((seconds / ROUNDS) * 1000);
    console.log(machineLine(db.source));
    printTable(
      `power-state sync of ${NODES} simulated BMCs, ${CONCURRENCY} at a time, ${ROUNDS} rounds each`,
      [
        [
          'path',
          'median ms/round',
          'p90 ms',
          'ms per BMC',
          'CPU self ms',
          'CPU ipmitool ms',
          'CPU ipmi_sim ms',
        ],
        [
          'service (syncPowerStates)',
          fmt(s.p50),
          fmt(s.p90),
          fmt(s.p50 / NODES, 1),
          per(cpu.service.self),
          per(cpu.service.children),
          per(cpu.service.sims),
        ],
        [
          'driver alone',
          fmt(d.p50),
          fmt(d.p90),
          fmt(d.p50 / NODES, 1),
          per(cpu.driver.self),
          per(cpu.driver.children),
          per(cpu.driver.sims),
        ],
      ],
    );
    console.log(
      `service vs driver alone: ${fmt(((s.p50 - d.p50) / d.p50) * 100, 1)} % (ratio of medians)`,
    );
  } finally {
    await stopBaremetalBench(running);
  }
}

runMain(main);
