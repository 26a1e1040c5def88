import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BmcAuthError,
  BmcUnreachableError,
  IpmiBaremetalDriver,
  loadBaremetalDriver,
} from '../../drivers/baremetal';
import { BmcLab, type BmcSim, bmcSimSkipReason } from '../support/bmc-sim';
import { BUILD_GUEST, GUEST_DIR } from '../support/host-tools';

/**
 * The ipmi driver against simulated machines (test/support/bmc-sim.ts): OpenIPMI's ipmi_sim
 * as the BMC, a QEMU VM booting the test guest as the server it powers.
 */

const skipReason = bmcSimSkipReason();
const title = skipReason
  ? `ipmi driver against simulated BMCs (skipped: ${skipReason})`
  : 'ipmi driver against simulated BMCs';

// TCG boots take seconds, much longer on a loaded machine: generous waits.
const BOOT_WAIT = 120_000;
const POWER_WAIT = 60_000;

describe.skipIf(skipReason !== null)(title, () => {
  let lab: BmcLab;
  let sim: BmcSim;
  let other: BmcSim;
  // A short ipmitool timeout so unreachable BMCs fail fast; every run is still bounded.
  const driver = new IpmiBaremetalDriver({
    timeoutSeconds: 1,
    retries: 1,
    commandTimeoutMs: 15_000,
    pollIntervalMs: 200,
    powerTimeoutMs: POWER_WAIT,
  });

  beforeAll(async () => {
    if (!existsSync(BUILD_GUEST)) throw new Error('scripts/build-test-guest is missing');
    execFileSync(BUILD_GUEST, [GUEST_DIR], { stdio: 'ignore', timeout: 15 * 60_000 });
    lab = new BmcLab();
    [sim, other] = await Promise.all([lab.start(), lab.start({ password: 'other-secret' })]);
  }, 16 * 60_000);

  afterAll(async () => {
    if (!lab) return;
    const root = lab.root;
    await lab.stopAll();
    expect(lab.leftovers()).toEqual([]);
    expect(existsSync(root)).toBe(false);
  });

  it('loads with a strict config and probes ipmitool', async () => {
    const loaded = await loadBaremetalDriver('ipmi', { timeoutSeconds: 1 });
    expect(loaded.info().name).toBe('ipmi');
    expect((await loaded.probe()).version).toMatch(/^\d+\.\d+/);
  });

  it('validates the credentials of two BMCs running at once, each on its own port', async () => {
    expect(sim.port).not.toBe(other.port);
    expect(await driver.validate(sim.spec())).toBe('power off');
    expect(await driver.validate(other.spec())).toBe('power off');
    expect(await driver.validate(sim.spec({ interface: 'lan' }))).toBe('power off');
  });

  it('refuses a wrong password or an unknown user with BmcAuthError, changing nothing', async () => {
    for (const spec of [
      sim.spec({ password: 'not-the-password' }),
      sim.spec({ username: 'nobody' }),
      sim.spec({ password: 'not-the-password', interface: 'lan' }),
    ]) {
      const error = await driver.setPower(spec, 'on').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BmcAuthError);
      expect((error as Error).message).not.toContain('not-the-password');
      expect((error as Error).message).not.toContain(sim.password);
    }
    expect(sim.vmPid()).toBeNull();
    expect(await driver.powerState(sim.spec())).toBe('power off');
  });

  it(
    'powers on: the VM runs and the guest boots; the other machine stays off',
    async () => {
      expect(await driver.setPower(sim.spec(), 'on')).toBe('power on');
      expect(sim.vmPid()).not.toBeNull();
      await sim.waitForConsole(/^STRATUS-GUEST-BOOT-OK$/m, BOOT_WAIT);
      expect(await driver.powerState(sim.spec())).toBe('power on');
      expect(other.vmPid()).toBeNull();
      expect(await driver.powerState(other.spec())).toBe('power off');
    },
    BOOT_WAIT + 30_000,
  );

  it('accepts a boot device and reports it back', async () => {
    await driver.setBootDevice(sim.spec(), 'pxe');
    expect((await driver.getBootDevice(sim.spec())).device).toBe('pxe');
    await driver.setBootDevice(sim.spec(), 'disk', { persistent: true });
    expect((await driver.getBootDevice(sim.spec())).device).toBe('disk');
  });

  it(
    'reboots: a new VM boots the guest again',
    async () => {
      const before = sim.vmPid();
      expect(await driver.setPower(sim.spec(), 'reboot')).toBe('power on');
      const after = sim.vmPid();
      expect(after).not.toBeNull();
      expect(after).not.toBe(before);
      await sim.waitForConsole(/^STRATUS-GUEST-BOOT-OK$/m, BOOT_WAIT);
    },
    BOOT_WAIT + 30_000,
  );

  it('powers off: the VM is gone', async () => {
    const pid = sim.vmPid();
    expect(pid).not.toBeNull();
    expect(await driver.setPower(sim.spec(), 'off')).toBe('power off');
    expect(sim.vmPid()).toBeNull();
    expect(lab.leftovers().includes(pid as number)).toBe(false);
    expect(await driver.powerState(sim.spec())).toBe('power off');
  });

  it('soft off of a running machine ends with it off', async () => {
    expect(await driver.setPower(other.spec(), 'on')).toBe('power on');
    expect(await driver.setPower(other.spec(), 'soft off')).toBe('power off');
    expect(other.vmPid()).toBeNull();
  });

  it('a closed port on 127.0.0.1 is BmcUnreachableError', async () => {
    const closed = { ...sim.spec(), port: 9 };
    const error = await driver.powerState(closed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BmcUnreachableError);
    expect((error as Error).message).not.toContain(sim.password);
  });

  it('a BMC that died is BmcUnreachableError, bounded by the configured timeout', async () => {
    await other.killBmc();
    const error = await driver.setPower(other.spec(), 'on').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BmcUnreachableError);
    expect(other.vmPid()).toBeNull();
  });
});
