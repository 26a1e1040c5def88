/**
 * A power action through the Stratus API (issue #8: "Stratus adds under 10 %") against the
 * same ipmitool commands run by hand, interleaved in one run, on a simulated BMC
 * (test/support/bmc-sim.ts: ipmi_sim whose chassis starts and kills a QEMU VM).
 *
 *   npx tsx bench/baremetal-power-api.ts   # BM_POWER_ROUNDS (10)
 *
 * Through Stratus: `setNodePower` mutation → the job (graphile-worker) → driver.setPower →
 * the node's row and event; the time ends when the client's `baremetalNode` subscription
 * delivers the row with the power state reached and no target left. By hand: `ipmitool power
 * on|off` with the driver's argv, then `power status` every 50 ms (the driver's poll
 * interval here) until it reports the state.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { bmcSimSkipReason } from '../test/support/bmc-sim';
import {
  enrollBenchNode,
  POLL_MS,
  powerByHand,
  startBaremetalBench,
  stopBaremetalBench,
} from './baremetal-common';
import { fmt, machineLine, printTable, runMain, summarize } from './support';

const ROUNDS = Number(process.env.BM_POWER_ROUNDS ?? 10);

async function main(): Promise<void> {
  const skip = bmcSimSkipReason();
  if (skip) {
    console.log(`baremetal-power-api: skipped (${skip})`);
    return;
  }
  const running = await startBaremetalBench({ driverConfig: { pollIntervalMs: POLL_MS } });
  const { db, lab, bench } = running;
  let client: ReturnType<typeof createClient> | null = null;
  try {
    const sim = await lab.start();
    const token = await bench.adminLogin();
    client = createClient({
      url: bench.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
    });
    const id = await enrollBenchNode(bench, token, sim, 'bench-node');
    // Rows as the subscription delivers them; a waiter resolves on the one it wants.
    let waiter: ((row: { powerState: string; targetPowerState: string | null }) => void) | null =
      null;
    await new Promise<void>((resolve, reject) => {
      client!.subscribe(
        {
          query: `subscription($id: ID!) { baremetalNode(id: $id) { powerState targetPowerState provisionState } }`,
          variables: { id },
        },
        {
          next: (value) => {
            const row = (
              value.data as {
                baremetalNode: { powerState: string; targetPowerState: string | null };
              }
            ).baremetalNode;
            resolve();
            waiter?.(row);
          },
          error: reject,
          complete: () => {},
        },
      );
    }).catch((error) => {
      throw new Error(`subscription failed: ${JSON.stringify(error)}`);
    });
    const reached = (state: string) =>
      new Promise<void>((resolve) => {
        waiter = (row) => {
          if (row.powerState === state && row.targetPowerState === null) {
            waiter = null;
            resolve();
          }
        };
      });
    await bench.ok(
      `mutation($id: ID!) { setNodeProvisionState(input: { id: $id, target: MANAGE }) { __typename } }`,
      { id },
      token,
    );
    await new Promise((r) => setTimeout(r, 3000));
    const viaApi = async (target: 'POWER_ON' | 'POWER_OFF') => {
      const state = target === 'POWER_ON' ? 'POWER_ON' : 'POWER_OFF';
      const done = reached(state);
      const t0 = performance.now();
      const data = await bench.ok(
        `mutation($input: SetNodePowerInput!) { setNodePower(input: $input) { __typename ... on Error { message } } }`,
        { input: { id, target } },
        token,
      );
      if (data.setNodePower.__typename !== 'SetNodePowerSuccess')
        throw new Error(JSON.stringify(data));
      await done;
      return performance.now() - t0;
    };
    const viaHand = async (action: 'on' | 'off') => {
      const t0 = performance.now();
      await powerByHand(sim, action);
      return performance.now() - t0;
    };
    // Warm-up, and the node's state in line with the machine's.
    await viaApi('POWER_ON');
    await viaApi('POWER_OFF');
    await viaHand('on');
    await viaHand('off');
    await viaApi('POWER_ON');
    await viaApi('POWER_OFF');
    const t = {
      apiOn: [] as number[],
      apiOff: [] as number[],
      handOn: [] as number[],
      handOff: [] as number[],
    };
    for (let i = 0; i < ROUNDS; i++) {
      const api = async () => {
        t.apiOn.push(await viaApi('POWER_ON'));
        t.apiOff.push(await viaApi('POWER_OFF'));
      };
      const hand = async () => {
        t.handOn.push(await viaHand('on'));
        t.handOff.push(await viaHand('off'));
      };
      if (i % 2) {
        await api();
        await hand();
      } else {
        await hand();
        await api();
      }
    }
    console.log(machineLine(db.source));
    const row = (label: string, api: number[], hand: number[]) => {
      const a = summarize(api).p50;
      const h = summarize(hand).p50;
      return [label, fmt(a), fmt(h), `${fmt(((a - h) / h) * 100, 1)} %`];
    };
    printTable(`power actions through the API vs ipmitool by hand, ${ROUNDS} interleaved rounds`, [
      ['action', 'API median ms', 'by hand median ms', 'Stratus adds'],
      row('power on (QEMU starts)', t.apiOn, t.handOn),
      row('power off (QEMU killed)', t.apiOff, t.handOff),
    ]);
    // Where the API's time goes: queue wait (created → job started) and the job itself.
    const pool = bench.stratus.runtime.pool;
    const { rows } = await pool.query(
      `select input->>'action' as action,
              percentile_cont(0.5) within group (order by extract(epoch from started_at - created_at) * 1000) as queued,
              percentile_cont(0.5) within group (order by extract(epoch from finished_at - started_at) * 1000) as ran
         from operations where kind = 'baremetal.power' group by 1 order by 1`,
    );
    for (const r of rows) {
      console.log(
        `power ${r.action}: median ${fmt(r.queued)} ms queued before the job started, ${fmt(r.ran)} ms in the job`,
      );
    }
  } finally {
    await client?.dispose();
    await stopBaremetalBench(running);
  }
}

runMain(main);
