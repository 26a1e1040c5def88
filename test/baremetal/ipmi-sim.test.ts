import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
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
  // ipmitool's default-like timeouts: a loaded machine may leave ipmi_sim slow to answer.
  const driver = new IpmiBaremetalDriver({ pollIntervalMs: 200, powerTimeoutMs: POWER_WAIT });
  // A short timeout for the BMCs that never answer; every run is still bounded.
  const impatient = new IpmiBaremetalDriver({
    timeoutSeconds: 1,
    retries: 1,
    commandTimeoutMs: 10_000,
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

  it('no command line on the machine shows the password while ipmitool runs', async () => {
    // Sample every process's argv (what `ps` shows) while the driver runs ipmitool.
    const seen: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const entry of readdirSync('/proc')) {
          if (!/^\d+$/.test(entry)) continue;
          try {
            const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
            if (argv.startsWith('ipmitool\0')) seen.push(argv.replaceAll('\0', ' '));
          } catch {}
        }
        await sleep(2);
      }
    })();
    for (let i = 0; i < 20; i++) await driver.powerState(sim.spec());
    sampling = false;
    await sampler;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((argv) => argv.includes(sim.password))).toEqual([]);
    expect(seen.some((argv) => argv.includes(' -E '))).toBe(true);
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
    const error = await impatient.powerState(closed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BmcUnreachableError);
    expect((error as Error).message).not.toContain(sim.password);
  });

  it('a BMC that died is BmcUnreachableError, bounded by the configured timeout', async () => {
    await other.killBmc();
    const error = await impatient.setPower(other.spec(), 'on').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BmcUnreachableError);
    expect(other.vmPid()).toBeNull();
  });
});
