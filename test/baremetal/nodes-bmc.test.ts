import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpmiBaremetalDriver } from '../../drivers/baremetal';
import { BmcLab, type BmcSim, bmcSimSkipReason } from '../support/bmc-sim';
import { rawId } from '../support/compute';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { BUILD_GUEST, GUEST_DIR } from '../support/host-tools';
import {
  BOOT,
  baremetalOverrides,
  enroll,
  enrollInput,
  MAINTENANCE,
  POWER,
  PROVISION,
  query,
  waitForNode,
} from './support-nodes';

/**
 * Nodes through the API against simulated machines (test/support/bmc-sim.ts): real ipmitool,
 * OpenIPMI's ipmi_sim as the BMC, a QEMU VM as the machine it powers.
 */

const skipReason = bmcSimSkipReason();
const title = skipReason
  ? `bare-metal nodes against simulated BMCs (skipped: ${skipReason})`
  : 'bare-metal nodes against simulated BMCs';
const WAIT = 120_000;
const SYNC_FAILURES = 2;

describe.skipIf(skipReason !== null)(title, () => {
  let s: TestStratus;
  let lab: BmcLab;
  let sim: BmcSim;
  let dying: BmcSim;

  beforeAll(async () => {
    if (!existsSync(BUILD_GUEST)) throw new Error('scripts/build-test-guest is missing');
    execFileSync(BUILD_GUEST, [GUEST_DIR], { stdio: 'ignore', timeout: 15 * 60_000 });
    lab = new BmcLab();
    [sim, dying] = await Promise.all([lab.start(), lab.start()]);
    s = await startTestStratus(
      baremetalOverrides({ syncIntervalMs: 300, syncFailures: SYNC_FAILURES }),
    );
    // No network booting here (H2's deployer has its own tests): cleaning is skipped.
    s.stratus.runtime.nodeDeployer = null;
  }, 16 * 60_000);

  afterAll(async () => {
    await s?.stop();
    if (!lab) return;
    await lab.stopAll();
    expect(lab.leftovers()).toEqual([]);
  });

  async function provision(id: string, target: string): Promise<Json> {
    const data = await s.ok(PROVISION, { input: { id, target } }, s.adminToken);
    expect(data.setNodeProvisionState.__typename, JSON.stringify(data)).toBe(
      'SetNodeProvisionStateSuccess',
    );
    return data.setNodeProvisionState.started;
  }

  async function power(id: string, target: string): Promise<Json> {
    const data = await s.ok(POWER, { input: { id, target } }, s.adminToken);
    expect(data.setNodePower.__typename, JSON.stringify(data)).toBe('SetNodePowerSuccess');
    const op = data.setNodePower.started.operation.id;
    await waitForNode(s, id, (n) => n.targetPowerState === null, WAIT);
    const [row] = await query<{ status: string; error_message: string | null }>(
      s,
      'select status, error_message from operations where id = $1',
      [rawId(op)],
    );
    expect(row, JSON.stringify(row)).toMatchObject({ status: 'SUCCEEDED' });
    return data.setNodePower.started;
  }

  it(
    'enroll → manage (verifying → manageable) → inspect → provide → available, each step an event',
    async () => {
      const node = await enroll(s, enrollInput(sim.spec()));
      const sub = s.subscribe(
        `subscription($id: ID!) { baremetalNode(id: $id) { provisionState } }`,
        { id: node.id },
        s.adminToken,
      );
      await sub.waitFor(1);
      const started = await provision(node.id, 'MANAGE');
      expect(started.node.provisionState).toBe('VERIFYING');
      expect(started.node.targetProvisionState).toBe('MANAGEABLE');
      const managed = await waitForNode(s, node.id, (n) => n.provisionState === 'MANAGEABLE', WAIT);
      expect(managed).toMatchObject({ powerState: 'POWER_OFF', lastError: null });
      await provision(node.id, 'INSPECT');
      const inspected = await waitForNode(
        s,
        node.id,
        (n) => n.provisionState === 'MANAGEABLE' && n.targetProvisionState === null,
        WAIT,
      );
      expect(inspected.powerState).toBe('POWER_OFF');
      await provision(node.id, 'PROVIDE');
      await waitForNode(s, node.id, (n) => n.provisionState === 'AVAILABLE', WAIT);
      const seen = sub.values.map((v) => v.data.baremetalNode.provisionState);
      const distinct = seen.filter((p, i) => p !== seen[i - 1]);
      expect(distinct).toEqual([
        'ENROLL',
        'VERIFYING',
        'MANAGEABLE',
        'INSPECTING',
        'MANAGEABLE',
        'CLEANING',
        'AVAILABLE',
      ]);
      sub.close();
    },
    WAIT * 2,
  );

  it(
    'a wrong BMC password: verify fails, the node is back in enroll with the error',
    async () => {
      const node = await enroll(s, enrollInput(sim.spec({ password: 'wrong-password' })));
      await provision(node.id, 'MANAGE');
      const failed = await waitForNode(
        s,
        node.id,
        (n) => n.provisionState === 'ENROLL' && n.lastError !== null,
        WAIT,
      );
      expect(failed.lastError).toMatch(/verify failed: .*refused the credentials/);
      expect(failed.lastError).not.toContain('wrong-password');
      const [op] = await query<{ status: string; error_code: string }>(
        s,
        `select status, error_code from operations where resource_id = $1 and kind = 'baremetal.manage'`,
        [rawId(node.id)],
      );
      expect(op).toEqual({ status: 'FAILED', error_code: 'BAREMETAL_BMC_AUTH_FAILED' });
    },
    WAIT,
  );

  it(
    'powers on, reboots and off through the API: the VM appears, changes and disappears',
    async () => {
      const node = await enroll(s, enrollInput(sim.spec()));
      await provision(node.id, 'MANAGE');
      await waitForNode(s, node.id, (n) => n.provisionState === 'MANAGEABLE', WAIT);
      expect(sim.vmPid()).toBeNull();
      await power(node.id, 'POWER_ON');
      expect((await waitForNode(s, node.id, () => true)).powerState).toBe('POWER_ON');
      const first = sim.vmPid();
      expect(first).not.toBeNull();
      await power(node.id, 'REBOOT');
      const second = sim.vmPid();
      expect(second).not.toBeNull();
      expect(second).not.toBe(first);
      // A second action while one runs is refused (one job holds the node).
      const busy = await s.ok(POWER, { input: { id: node.id, target: 'POWER_OFF' } }, s.adminToken);
      const again = await s.ok(POWER, { input: { id: node.id, target: 'POWER_ON' } }, s.adminToken);
      expect(busy.setNodePower.__typename).toBe('SetNodePowerSuccess');
      expect(again.setNodePower.__typename).toBe('NodeStateError');
      await waitForNode(
        s,
        node.id,
        (n) => n.targetPowerState === null && n.powerState === 'POWER_OFF',
        WAIT,
      );
      expect(sim.vmPid()).toBeNull();
      const boot = await s.ok(
        BOOT,
        { input: { id: node.id, device: 'PXE', persistent: true } },
        s.adminToken,
      );
      expect(boot.setNodeBootDevice.__typename).toBe('SetNodeBootDeviceSuccess');
      const booted = await waitForNode(s, node.id, (n) => n.bootDevice === 'pxe', WAIT);
      expect(booted.bootPersistent).toBe(true);
    },
    WAIT * 3,
  );

  it(
    'the sync sees a power change made behind its back, and publishes it',
    async () => {
      const node = await enroll(s, enrollInput(sim.spec()));
      await provision(node.id, 'MANAGE');
      await waitForNode(s, node.id, (n) => n.provisionState === 'MANAGEABLE', WAIT);
      const driver = new IpmiBaremetalDriver({ pollIntervalMs: 200 });
      const before = Number(
        (
          await query<{ n: number }>(
            s,
            `select count(*)::int as n from events where resource_id = $1`,
            [rawId(node.id)],
          )
        )[0].n,
      );
      await driver.setPower(sim.spec(), 'on');
      await waitForNode(s, node.id, (n) => n.powerState === 'POWER_ON', WAIT);
      await driver.setPower(sim.spec(), 'off');
      await waitForNode(s, node.id, (n) => n.powerState === 'POWER_OFF', WAIT);
      const after = Number(
        (
          await query<{ n: number }>(
            s,
            `select count(*)::int as n from events where resource_id = $1`,
            [rawId(node.id)],
          )
        )[0].n,
      );
      expect(after - before).toBeGreaterThanOrEqual(2);
    },
    WAIT * 2,
  );

  it(
    'a killed BMC: unknown with the error, maintenance after N failures; restored and unset: recovered',
    async () => {
      const node = await enroll(s, enrollInput(dying.spec()));
      await provision(node.id, 'MANAGE');
      await waitForNode(s, node.id, (n) => n.provisionState === 'MANAGEABLE', WAIT);
      await dying.killBmc();
      const unknown = await waitForNode(s, node.id, (n) => n.powerState === 'UNKNOWN', WAIT);
      expect(unknown.lastError).toMatch(/power-state sync failed: .*unreachable/);
      const parked = await waitForNode(s, node.id, (n) => n.maintenance, WAIT);
      expect(parked.syncFailures).toBe(SYNC_FAILURES);
      expect(parked.maintenanceReason).toMatch(
        new RegExp(`power-state sync failed ${SYNC_FAILURES} times in a row`),
      );
      // In maintenance the sync leaves it alone, even once the BMC is back.
      await dying.restartBmc();
      await new Promise((r) => setTimeout(r, 1500));
      expect((await waitForNode(s, node.id, () => true)).powerState).toBe('UNKNOWN');
      const off = await s.ok(MAINTENANCE, { input: { id: node.id, on: false } }, s.adminToken);
      expect(off.setNodeMaintenance.node).toMatchObject({ maintenance: false, syncFailures: 0 });
      const recovered = await waitForNode(s, node.id, (n) => n.powerState === 'POWER_OFF', WAIT);
      expect(recovered).toMatchObject({ maintenance: false, lastError: null, syncFailures: 0 });
    },
    WAIT * 3,
  );
});
