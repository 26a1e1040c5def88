/**
 * Bare-metal power through the ipmi driver (issue #8) against the same ipmitool command run
 * by hand, interleaved in one run, on simulated BMCs (test/support/bmc-sim.ts: ipmi_sim whose
 * chassis boots the test guest in QEMU). Goal: Stratus adds under 10 %.
 *
 *   npx tsx bench/ipmi-power.ts      # ~1-2 min; IPMI_QUERY_ROUNDS (60), IPMI_POWER_ROUNDS (10),
 *                                    # IPMI_SYNC_BMCS (50), IPMI_SYNC_ROUNDS (5), IPMI_SYNC_CONCURRENCY (16)
 *
 * (a) power state query: `driver.powerState(bmc)` vs `ipmitool <same argv> power status`
 *     through execFile, alternating which goes first each round.
 * (b) power on + power off: `driver.setPower(bmc, 'on'|'off')` (the action, then status polls
 *     until the BMC reports it) vs by hand: `ipmitool power on|off`, then `ipmitool power
 *     status` every 50 ms until it reports it. Both poll at the same interval.
 * (c) power-state sync: N simulated BMCs (no VM running), every round reads each one's power
 *     state through the driver, at most C at a time; time per round, and the CPU of this
 *     process, of its ipmitool children and of the ipmi_sim processes per round.
 * Prints medians and the ratio of medians.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BmcLab, type BmcSim, bmcSimSkipReason } from '../test/support/bmc-sim';
import { BUILD_GUEST, GUEST_DIR } from '../test/support/host-tools';
import { byHand, cpuOf, pollingDriver as driver, powerByHand, selfCpu } from './baremetal-common';

const QUERY_ROUNDS = Number(process.env.IPMI_QUERY_ROUNDS ?? 60);
const POWER_ROUNDS = Number(process.env.IPMI_POWER_ROUNDS ?? 10);
const SYNC_BMCS = Number(process.env.IPMI_SYNC_BMCS ?? 50);
const SYNC_ROUNDS = Number(process.env.IPMI_SYNC_ROUNDS ?? 5);
const SYNC_CONCURRENCY = Number(process.env.IPMI_SYNC_CONCURRENCY ?? 16);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function timed(action: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function report(label: string, stratus: number[], hand: number[]): void {
  if (stratus.length === 0) return;
  const s = median(stratus);
  const h = median(hand);
  console.log(
    `${label}: driver median ${s.toFixed(1)} ms, by hand ${h.toFixed(1)} ms, ratio ${(s / h).toFixed(3)} (${(((s - h) / h) * 100).toFixed(1)} %), ${stratus.length} rounds`,
  );
}

async function main(): Promise<void> {
  const skip = bmcSimSkipReason();
  if (skip) {
    console.log(`ipmi-power: skipped (${skip})`);
    return;
  }
  execFileSync(BUILD_GUEST, [GUEST_DIR], { stdio: 'ignore' });
  const lab = new BmcLab();
  try {
    const sim = await lab.start();
    // Warm-up: page cache, ipmitool's first run.
    await driver.powerState(sim.spec());
    await byHand(sim, ['power', 'status']);

    const queryDriver: number[] = [];
    const queryHand: number[] = [];
    for (let i = 0; i < QUERY_ROUNDS; i++) {
      const d = () => timed(() => driver.powerState(sim.spec()));
      const h = () => timed(() => byHand(sim, ['power', 'status']));
      if (i % 2) {
        queryDriver.push(await d());
        queryHand.push(await h());
      } else {
        queryHand.push(await h());
        queryDriver.push(await d());
      }
    }
    report('power status', queryDriver, queryHand);

    const onDriver: number[] = [];
    const onHand: number[] = [];
    const offDriver: number[] = [];
    const offHand: number[] = [];
    const viaDriver = async () => {
      onDriver.push(await timed(() => driver.setPower(sim.spec(), 'on')));
      offDriver.push(await timed(() => driver.setPower(sim.spec(), 'off')));
    };
    const viaHand = async () => {
      onHand.push(await timed(() => powerByHand(sim, 'on')));
      offHand.push(await timed(() => powerByHand(sim, 'off')));
    };
    for (let i = 0; i < POWER_ROUNDS; i++) {
      if (i % 2) {
        await viaDriver();
        await viaHand();
      } else {
        await viaHand();
        await viaDriver();
      }
    }
    report('power on (QEMU starts)', onDriver, onHand);
    report('power off (QEMU killed)', offDriver, offHand);
    await sim.stop();

    if (SYNC_BMCS > 0) await sync(lab);
  } finally {
    await lab.stopAll();
    const left = lab.leftovers();
    if (left.length > 0) console.log(`WARNING: processes left: ${left.join(', ')}`);
  }
}

async function sync(lab: BmcLab): Promise<void> {
  const sims: BmcSim[] = [];
  for (let i = 0; i < SYNC_BMCS; i += 10) {
    sims.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(10, SYNC_BMCS - i) }, () => lab.start()),
      )),
    );
  }
  const simPids = () =>
    lab
      .leftovers()
      .filter((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'ipmi_sim');
  const pids = simPids();
  const rounds: number[] = [];
  const cpu = { self: 0, children: 0, sims: 0 };
  for (let round = 0; round < SYNC_ROUNDS; round++) {
    const before = selfCpu();
    const simsBefore = pids.reduce((sum, pid) => sum + cpuOf(pid), 0);
    rounds.push(
      await timed(async () => {
        let next = 0;
        const worker = async () => {
          while (next < sims.length) {
            const sim = sims[next++];
            const state = await driver.powerState(sim.spec());
            if (state !== 'power off') throw new Error(`${sim.name}: ${state}`);
          }
        };
        await Promise.all(Array.from({ length: SYNC_CONCURRENCY }, worker));
      }),
    );
    const after = selfCpu();
    cpu.self += after.self - before.self;
    cpu.children += after.children - before.children;
    cpu.sims += pids.reduce((sum, pid) => sum + cpuOf(pid), 0) - simsBefore;
  }
  const per = (seconds: number) => ((seconds / SYNC_ROUNDS) * 1000).toFixed(0);
  console.log(
    `power-state sync of ${SYNC_BMCS} BMCs, ${SYNC_CONCURRENCY} at a time: median ${median(rounds).toFixed(0)} ms per round (${(median(rounds) / SYNC_BMCS).toFixed(1)} ms per BMC), ${SYNC_ROUNDS} rounds; CPU per round: Stratus ${per(cpu.self)} ms, ipmitool ${per(cpu.children)} ms, ipmi_sim ${per(cpu.sims)} ms`,
  );
}

await main();
