import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { DriverUnavailableError } from '../errors';
import {
  BmcAuthError,
  BmcCommandError,
  BmcUnreachableError,
  InvalidBmcSpecError,
  PowerStateTimeoutError,
} from './errors';
import type {
  BaremetalDriver,
  BaremetalDriverInfo,
  BaremetalProbe,
  BmcSpec,
  BootDevice,
  BootDeviceInfo,
  PowerAction,
  PowerState,
  SetBootDeviceOptions,
  SetPowerOptions,
} from './types';
import { type CheckedBmc, checkBmcSpec } from './validate';

/** One ipmitool run: `env` is added to the inherited environment (it carries the password). */
export interface IpmiCall {
  binary: string;
  args: string[];
  env: Record<string, string>;
  /** Kill the run after this long. */
  timeoutMs: number;
}

/** How a run ended. `exitCode` null when it was killed (`timedOut`). */
export interface IpmiResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs ipmitool (no shell). Resolves with the outcome whatever the exit code; rejects only
 * when the binary cannot be started (an `ErrnoException`, e.g. `ENOENT`). Injectable so unit
 * tests check the exact argv and the error mapping with a recording fake.
 */
export type IpmiRunner = (call: IpmiCall) => Promise<IpmiResult>;

export interface IpmiBaremetalConfig {
  /** Default `ipmitool`. */
  ipmitoolBinary?: string;
  /** Seconds ipmitool waits for each answer (`-N`), 1-60; default 2. */
  timeoutSeconds?: number;
  /** How often ipmitool resends an unanswered request (`-R`), 0-10; default 2. */
  retries?: number;
  /** RMCP+ cipher suite (`-C`, lanplus only), 0-17; default 3 (HMAC-SHA1, AES-CBC-128). */
  cipherSuite?: number;
  /**
   * Hard bound of one ipmitool run, killed after it; default enough for a session setup and
   * one command with every retry: `(4 * timeoutSeconds * (retries + 1) + 2) s`.
   */
  commandTimeoutMs?: number;
  /** How long `setPower` waits for the target state by default; default 60000. */
  powerTimeoutMs?: number;
  /** Interval of the power-state polls while waiting; default 1000. */
  pollIntervalMs?: number;
}

export interface IpmiBaremetalOptions extends IpmiBaremetalConfig {
  runner?: IpmiRunner;
}

/** Runs ipmitool with `execFile`: no shell, bounded, SIGKILL on timeout. */
export const execIpmitool: IpmiRunner = (call) =>
  new Promise((resolve, reject) => {
    execFile(
      call.binary,
      call.args,
      {
        env: { ...process.env, ...call.env },
        timeout: call.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 1 << 20,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ exitCode: 0, stdout, stderr, timedOut: false });
          return;
        }
        const errno = (err as NodeJS.ErrnoException).code;
        if (typeof errno === 'string') {
          reject(err);
          return;
        }
        resolve({
          exitCode: typeof err.code === 'number' ? err.code : null,
          stdout,
          stderr,
          timedOut: err.killed === true,
        });
      },
    );
  });

/** What a failed run's output means. */
type Failure = 'auth' | 'unreachable' | 'session' | 'command';

// Texts ipmitool 1.8.19 prints (the `session` ones without -v; -v tells auth from no answer).
const AUTH =
  /rakp 2 hmac is invalid|rakp 2 message indicates an error|invalid user name|activate session command failed|insufficient privilege|privilege level/i;
const UNREACHABLE =
  /get auth capabilities error|error issuing get channel authentication capabilities|address lookup for .* failed|could not open socket|no response from remote controller|network is unreachable|no route to host|connection refused/i;
const SESSION = /unable to establish (ipmi v2 \/ rmcp\+|ipmi v1\.5 \/ rmcp|lan) session/i;

/** Classifies what a failed ipmitool run printed. Exported for the unit tests. */
export function classifyIpmiFailure(output: string): Failure {
  if (AUTH.test(output)) return 'auth';
  if (UNREACHABLE.test(output)) return 'unreachable';
  if (SESSION.test(output)) return 'session';
  return 'command';
}

const POWER_STATUS = /Chassis Power is (on|off)/;
/** How long a refused power command gets to show its effect anyway (see powerAction). */
const REFUSAL_GRACE_MS = 5_000;

/**
 * The `ipmi` implementation: every BMC operation is one bounded `ipmitool -I lanplus|lan`
 * run, the password passed in the environment (`-E`, `IPMI_PASSWORD`), never in argv.
 */
export class IpmiBaremetalDriver implements BaremetalDriver {
  private readonly binary: string;
  private readonly timeoutSeconds: number;
  private readonly retries: number;
  private readonly cipherSuite: number;
  private readonly commandTimeoutMs: number;
  private readonly powerTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly runner: IpmiRunner;

  constructor(options: IpmiBaremetalOptions = {}) {
    this.binary = options.ipmitoolBinary ?? 'ipmitool';
    this.timeoutSeconds = options.timeoutSeconds ?? 2;
    this.retries = options.retries ?? 2;
    this.cipherSuite = options.cipherSuite ?? 3;
    this.commandTimeoutMs =
      options.commandTimeoutMs ?? (4 * this.timeoutSeconds * (this.retries + 1) + 2) * 1000;
    this.powerTimeoutMs = options.powerTimeoutMs ?? 60_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.runner = options.runner ?? execIpmitool;
  }

  info(): BaremetalDriverInfo {
    return {
      name: 'ipmi',
      capabilities: { softPowerOff: true, setBootDevice: true, getBootDevice: true },
    };
  }

  async probe(): Promise<BaremetalProbe> {
    let result: IpmiResult;
    try {
      result = await this.runner({
        binary: this.binary,
        args: ['-V'],
        env: {},
        timeoutMs: 10_000,
      });
    } catch (err) {
      throw new DriverUnavailableError('ipmi', `${this.binary} cannot be run (${errnoOf(err)})`, {
        cause: err,
      });
    }
    const version = /version\s+(\S+)/.exec(result.stdout + result.stderr)?.[1];
    if (result.exitCode !== 0 || !version) {
      throw new DriverUnavailableError(
        'ipmi',
        `${this.binary} -V did not report a version: ${(result.stderr || result.stdout).trim()}`,
      );
    }
    return { version };
  }

  validate(bmc: BmcSpec): Promise<PowerState> {
    return this.powerState(bmc);
  }

  async powerState(bmc: BmcSpec): Promise<PowerState> {
    const checked = checkBmcSpec(bmc);
    return this.readPower(checked);
  }

  async setPower(
    bmc: BmcSpec,
    action: PowerAction,
    options: SetPowerOptions = {},
  ): Promise<PowerState> {
    const checked = checkBmcSpec(bmc);
    const timeoutMs = options.timeoutMs ?? this.powerTimeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
      throw new InvalidBmcSpecError('timeoutMs', 'must be a positive integer (milliseconds)');
    }
    switch (action) {
      case 'on':
        return this.powerAction(checked, 'power on', ['power', 'on'], 'power on', timeoutMs);
      case 'off':
        return this.powerAction(checked, 'power off', ['power', 'off'], 'power off', timeoutMs);
      case 'soft off':
        return this.powerAction(
          checked,
          'soft power off',
          ['power', 'soft'],
          'power off',
          timeoutMs,
        );
      case 'reboot': {
        // Ironic's ipmitool reboot: a hard power off, then power on, each confirmed.
        const deadline = Date.now() + timeoutMs;
        if ((await this.readPower(checked)) === 'power on') {
          await this.run(checked, 'power off', ['power', 'off']);
          await this.waitFor(checked, 'power off', timeoutMs);
        }
        await this.run(checked, 'power on', ['power', 'on']);
        return this.waitFor(checked, 'power on', Math.max(1, deadline - Date.now()));
      }
      default:
        throw new InvalidBmcSpecError(
          'action',
          `must be "on", "off", "reboot" or "soft off", got ${JSON.stringify(action)}`,
        );
    }
  }

  async setBootDevice(
    bmc: BmcSpec,
    device: BootDevice,
    options: SetBootDeviceOptions = {},
  ): Promise<void> {
    const checked = checkBmcSpec(bmc);
    if (device !== 'pxe' && device !== 'disk') {
      throw new InvalidBmcSpecError(
        'device',
        `must be "pxe" or "disk", got ${JSON.stringify(device)}`,
      );
    }
    const args = ['chassis', 'bootdev', device];
    if (options.persistent) args.push('options=persistent');
    const out = await this.run(checked, `set boot device ${device}`, args);
    if (!/Set Boot Device to/i.test(out)) {
      throw new BmcCommandError(
        checked.address,
        checked.port,
        `set boot device ${device}`,
        this.redact(checked, out.trim()),
      );
    }
  }

  async getBootDevice(bmc: BmcSpec): Promise<BootDeviceInfo> {
    const checked = checkBmcSpec(bmc);
    const out = await this.run(checked, 'get boot device', ['chassis', 'bootparam', 'get', '5']);
    return parseBootParam(out);
  }

  private async readPower(bmc: CheckedBmc): Promise<PowerState> {
    const out = await this.run(bmc, 'power status', ['power', 'status']);
    const state = POWER_STATUS.exec(out)?.[1];
    if (!state) {
      throw new BmcCommandError(
        bmc.address,
        bmc.port,
        'power status',
        `unexpected answer: ${this.redact(bmc, out.trim())}`,
      );
    }
    return state === 'on' ? 'power on' : 'power off';
  }

  /** Polls the power state until it is `target`; each poll is itself bounded. */
  /**
   * Runs a power command and waits for the machine to reach `target`. A BMC busy with a
   * retransmitted request (ipmitool -R on a slow chassis) may refuse with "Unspecified error"
   * while the machine does get there: as Ironic, the power state decides, so a refusal is
   * final only when the machine is not in `target` a moment later.
   */
  private async powerAction(
    bmc: CheckedBmc,
    operation: string,
    command: string[],
    target: PowerState,
    timeoutMs: number,
  ): Promise<PowerState> {
    try {
      await this.run(bmc, operation, command);
    } catch (error) {
      if (!(error instanceof BmcCommandError)) throw error;
      const reached = await this.waitFor(bmc, target, Math.min(timeoutMs, REFUSAL_GRACE_MS)).catch(
        () => null,
      );
      if (reached) return reached;
      throw error;
    }
    return this.waitFor(bmc, target, timeoutMs);
  }

  private async waitFor(bmc: CheckedBmc, target: PowerState, timeoutMs: number) {
    const started = Date.now();
    let last: PowerState | null = null;
    for (;;) {
      last = await this.readPower(bmc);
      if (last === target) return last;
      const left = timeoutMs - (Date.now() - started);
      if (left <= 0) {
        throw new PowerStateTimeoutError(bmc.address, bmc.port, target, last, timeoutMs);
      }
      await sleep(Math.min(this.pollIntervalMs, left));
    }
  }

  /** The argv of one ipmitool run against `bmc` (no password in it). */
  argv(bmc: CheckedBmc, command: string[], verbose = false): string[] {
    return [
      ...['-I', bmc.interface, '-H', bmc.address, '-p', String(bmc.port)],
      ...['-U', bmc.username, '-E'],
      ...['-N', String(this.timeoutSeconds), '-R', String(this.retries)],
      ...(bmc.interface === 'lanplus' ? ['-C', String(this.cipherSuite)] : []),
      ...(verbose ? ['-v'] : []),
      ...command,
    ];
  }

  /** Runs `command` against `bmc`; resolves with stdout, throws the typed error otherwise. */
  private async run(bmc: CheckedBmc, operation: string, command: string[]): Promise<string> {
    const result = await this.exec(bmc, command, false);
    if (result.exitCode === 0 && !result.timedOut) return result.stdout;
    let failure = this.failureOf(result);
    let output = result.stderr || result.stdout;
    if (failure === 'session') {
      // Without -v ipmitool prints the same line for a wrong password and for silence: ask
      // again, read-only and verbose, to tell them apart.
      const probe = await this.exec(bmc, ['power', 'status'], true);
      if (probe.exitCode === 0 && !probe.timedOut) {
        // A lost packet, not a refusal: a read of the power state has its answer now.
        if (command.join(' ') === 'power status') return probe.stdout;
        throw new BmcUnreachableError(
          bmc.address,
          bmc.port,
          `${operation}: the session failed once and then succeeded; retry`,
        );
      }
      failure = this.failureOf(probe);
      output = probe.stderr || probe.stdout;
      if (failure === 'session' || failure === 'command') failure = 'unreachable';
    }
    const printed = this.redact(bmc, lastLines(output));
    switch (failure) {
      case 'auth':
        throw new BmcAuthError(bmc.address, bmc.port, bmc.username, printed);
      case 'unreachable':
        throw new BmcUnreachableError(
          bmc.address,
          bmc.port,
          result.timedOut ? `no answer within ${this.commandTimeoutMs} ms` : printed,
        );
      default:
        throw new BmcCommandError(bmc.address, bmc.port, operation, printed);
    }
  }

  private failureOf(result: IpmiResult): Failure {
    if (result.timedOut) return 'unreachable';
    return classifyIpmiFailure(`${result.stderr}\n${result.stdout}`);
  }

  private async exec(bmc: CheckedBmc, command: string[], verbose: boolean) {
    try {
      return await this.runner({
        binary: this.binary,
        args: this.argv(bmc, command, verbose),
        env: { IPMI_PASSWORD: bmc.password },
        timeoutMs: this.commandTimeoutMs,
      });
    } catch (err) {
      throw new DriverUnavailableError('ipmi', `${this.binary} cannot be run (${errnoOf(err)})`, {
        cause: err,
      });
    }
  }

  /** Removes the password from text ipmitool printed, should it ever echo it. */
  private redact(bmc: CheckedBmc, text: string): string {
    return bmc.password ? text.split(bmc.password).join('***') : text;
  }
}

/** Parses `ipmitool chassis bootparam get 5`. Exported for the unit tests. */
export function parseBootParam(out: string): BootDeviceInfo {
  const selector = /Boot Device Selector\s*:\s*(.+)/.exec(out)?.[1]?.trim() ?? '';
  const persistent = /Options apply to all future boots/i.test(out);
  let device: BootDevice | null = null;
  if (/PXE/i.test(selector)) device = 'pxe';
  else if (/Hard-Drive/i.test(selector)) device = 'disk';
  return { device, persistent };
}

/** The last few non-verbose lines of what ipmitool printed (the reason, without -v noise). */
function lastLines(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('Loading IANA'))
    .slice(-3)
    .join('; ');
}

function errnoOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : String(err);
}
