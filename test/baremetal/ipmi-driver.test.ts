import { describe, expect, it } from 'vitest';
import {
  BmcAuthError,
  BmcCommandError,
  type BmcSpec,
  BmcUnreachableError,
  classifyIpmiFailure,
  execIpmitool,
  InvalidBmcSpecError,
  IpmiBaremetalDriver,
  type IpmiBaremetalOptions,
  type IpmiCall,
  type IpmiResult,
  loadBaremetalDriver,
  PowerStateTimeoutError,
  parseBootParam,
  validateBaremetalConfig,
} from '../../drivers/baremetal';
import {
  DriverConfigError,
  DriverUnavailableError,
  UnknownDriverError,
} from '../../drivers/errors';

/** Unit tests of the ipmi driver with a recording runner: argv, password handling, errors. */

const PASSWORD = 'Sup3r-S3cret';
const BMC: BmcSpec = { address: '10.0.0.5', username: 'admin', password: PASSWORD };

// What ipmitool 1.8.19 printed against ipmi_sim (see test/support/bmc-sim.ts).
const SESSION_V2 = 'Error: Unable to establish IPMI v2 / RMCP+ session\n';
const WRONG_PASSWORD_V = `Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\n${SESSION_V2}`;
const UNKNOWN_USER_V = `Loading IANA PEN Registry...\nRAKP 2 message indicates an error : unauthorized name\n${SESSION_V2}`;
const NO_ANSWER_V = `Loading IANA PEN Registry...\nGet Auth Capabilities error\nError issuing Get Channel Authentication Capabilities request\n${SESSION_V2}`;
const LAN_WRONG_PASSWORD =
  'Activate Session command failed\nError: Unable to establish LAN session\nError: Unable to establish IPMI v1.5 / RMCP session\n';
const LOOKUP_FAILED = `Address lookup for no.such.host.invalid failed\nCould not open socket!\n${SESSION_V2}`;
const SOFT_REFUSED = 'Set Chassis Power Control to Soft failed: Unspecified error\n';

const ok = (stdout: string): IpmiResult => ({ exitCode: 0, stdout, stderr: '', timedOut: false });
const failed = (stderr: string): IpmiResult => ({
  exitCode: 1,
  stdout: '',
  stderr,
  timedOut: false,
});
const TIMED_OUT: IpmiResult = { exitCode: null, stdout: '', stderr: '', timedOut: true };

/** A driver whose runner records each call and answers from `answer(command)`. */
function recording(
  answer: (command: string, call: IpmiCall) => IpmiResult,
  options: IpmiBaremetalOptions = {},
) {
  const calls: IpmiCall[] = [];
  const driver = new IpmiBaremetalDriver({
    pollIntervalMs: 1,
    ...options,
    runner: async (call) => {
      calls.push(call);
      return answer(commandOf(call.args), call);
    },
  });
  return { driver, calls, commands: () => calls.map((c) => commandOf(c.args)) };
}

/** The ipmitool command after the connection options, e.g. "power status" ("-v" kept). */
function commandOf(args: string[]): string {
  const rest = [...args];
  const out: string[] = [];
  while (rest.length > 0) {
    const arg = rest.shift() as string;
    if (['-I', '-H', '-p', '-U', '-N', '-R', '-C'].includes(arg)) rest.shift();
    else if (arg !== '-E') out.push(arg);
  }
  return out.join(' ');
}

/** A fake BMC whose power follows the actions it is sent. */
function fakeMachine(initial: 'on' | 'off') {
  let power = initial;
  return (command: string): IpmiResult => {
    if (command.endsWith('power status')) return ok(`Chassis Power is ${power}\n`);
    if (command === 'power on') {
      power = 'on';
      return ok('Chassis Power Control: Up/On\n');
    }
    if (command === 'power off' || command === 'power soft') {
      power = 'off';
      return ok('Chassis Power Control: Down/Off\n');
    }
    return failed(`unexpected ${command}`);
  };
}

describe('ipmi driver argv', () => {
  it('passes the password only in the environment (-E), with bounded timeouts', async () => {
    const { driver, calls } = recording(() => ok('Chassis Power is off\n'));
    expect(await driver.powerState(BMC)).toBe('power off');
    expect(calls).toEqual([
      {
        binary: 'ipmitool',
        args: [
          ...['-I', 'lanplus', '-H', '10.0.0.5', '-p', '623', '-U', 'admin', '-E'],
          ...['-N', '2', '-R', '2', '-C', '3', 'power', 'status'],
        ],
        env: { IPMI_PASSWORD: PASSWORD },
        timeoutMs: 26_000,
      },
    ]);
    expect(calls[0].args.join(' ')).not.toContain(PASSWORD);
  });

  it('uses the configured port, interface, -N/-R and command bound; no -C on lan', async () => {
    const { driver, calls } = recording(() => ok('Chassis Power is on\n'), {
      ipmitoolBinary: '/opt/ipmitool',
      timeoutSeconds: 1,
      retries: 0,
      commandTimeoutMs: 5000,
    });
    await driver.validate({ ...BMC, port: 6230, interface: 'lan' });
    expect(calls[0].binary).toBe('/opt/ipmitool');
    expect(calls[0].args).toEqual([
      ...['-I', 'lan', '-H', '10.0.0.5', '-p', '6230', '-U', 'admin', '-E'],
      ...['-N', '1', '-R', '0', 'power', 'status'],
    ]);
    expect(calls[0].timeoutMs).toBe(5000);
  });

  it('power on sends the action then polls until the BMC reports it', async () => {
    const { driver, commands } = recording(fakeMachine('off'));
    expect(await driver.setPower(BMC, 'on')).toBe('power on');
    expect(commands()).toEqual(['power on', 'power status']);
  });

  it('reboot of a running machine is power off, confirmed, then power on, confirmed', async () => {
    const { driver, commands } = recording(fakeMachine('on'));
    expect(await driver.setPower(BMC, 'reboot')).toBe('power on');
    expect(commands()).toEqual([
      'power status',
      'power off',
      'power status',
      'power on',
      'power status',
    ]);
  });

  it('reboot of a machine that is off only powers it on', async () => {
    const { driver, commands } = recording(fakeMachine('off'));
    await driver.setPower(BMC, 'reboot');
    expect(commands()).toEqual(['power status', 'power on', 'power status']);
  });

  it('soft off is `power soft`, waiting for power off', async () => {
    const { driver, commands } = recording(fakeMachine('on'));
    expect(await driver.setPower(BMC, 'soft off')).toBe('power off');
    expect(commands()).toEqual(['power soft', 'power status']);
  });

  it('a state that never comes is PowerStateTimeoutError', async () => {
    const { driver } = recording((command) =>
      command === 'power status' ? ok('Chassis Power is on\n') : ok(''),
    );
    const error = await driver.setPower(BMC, 'off', { timeoutMs: 30 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PowerStateTimeoutError);
    expect(error).toMatchObject({ target: 'power off', lastState: 'power on' });
  });

  it('boot device: `chassis bootdev`, persistent on request; read back from bootparam 5', async () => {
    const { driver, commands } = recording((command) =>
      command.startsWith('chassis bootdev')
        ? ok(`Set Boot Device to ${command.split(' ')[2]}\n`)
        : ok(
            'Boot parameter 5 is valid/unlocked\n - Options apply to all future boots\n - Boot Device Selector : Force PXE\n',
          ),
    );
    await driver.setBootDevice(BMC, 'pxe');
    await driver.setBootDevice(BMC, 'disk', { persistent: true });
    expect(await driver.getBootDevice(BMC)).toEqual({ device: 'pxe', persistent: true });
    expect(commands()).toEqual([
      'chassis bootdev pxe',
      'chassis bootdev disk options=persistent',
      'chassis bootparam get 5',
    ]);
  });

  it('parses the boot devices ipmitool names', () => {
    expect(
      parseBootParam(
        ' - Options apply to only next boot\n - Boot Device Selector : Force Boot from default Hard-Drive\n',
      ),
    ).toEqual({ device: 'disk', persistent: false });
    expect(parseBootParam(' - Boot Device Selector : No override\n')).toEqual({
      device: null,
      persistent: false,
    });
  });
});

describe('ipmi driver errors', () => {
  it('a wrong password: the generic session failure is diagnosed with a read-only -v run', async () => {
    const { driver, commands } = recording((command) =>
      command.startsWith('-v') ? failed(WRONG_PASSWORD_V) : failed(SESSION_V2),
    );
    const error = await driver.setPower(BMC, 'on').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BmcAuthError);
    expect((error as Error).message).toContain('RAKP 2 HMAC is invalid');
    expect((error as Error).message).not.toContain('Loading IANA');
    // The action is never resent: the diagnosis only reads the power state.
    expect(commands()).toEqual(['power on', '-v power status']);
  });

  it('an unknown user is BmcAuthError; on lan the first answer already says so', async () => {
    const lanplus = recording((command) =>
      command.startsWith('-v') ? failed(UNKNOWN_USER_V) : failed(SESSION_V2),
    );
    await expect(lanplus.driver.powerState(BMC)).rejects.toBeInstanceOf(BmcAuthError);
    const lan = recording(() => failed(LAN_WRONG_PASSWORD));
    await expect(lan.driver.powerState({ ...BMC, interface: 'lan' })).rejects.toBeInstanceOf(
      BmcAuthError,
    );
    expect(lan.commands()).toEqual(['power status']);
  });

  it('no answer is BmcUnreachableError (diagnosed, or killed at the command bound)', async () => {
    const silent = recording((command) =>
      command.startsWith('-v') ? failed(NO_ANSWER_V) : failed(SESSION_V2),
    );
    const error = await silent.driver.powerState(BMC).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BmcUnreachableError);
    expect(error).toMatchObject({ address: '10.0.0.5', port: 623 });

    const hung = recording(() => TIMED_OUT, { commandTimeoutMs: 4000 });
    const timedOut = await hung.driver.powerState(BMC).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(BmcUnreachableError);
    expect((timedOut as Error).message).toContain('4000 ms');
    expect(hung.commands()).toEqual(['power status']);

    const lookup = recording(() => failed(LOOKUP_FAILED));
    await expect(
      lookup.driver.powerState({ ...BMC, address: 'no.such.host.invalid' }),
    ).rejects.toBeInstanceOf(BmcUnreachableError);
    expect(lookup.commands()).toEqual(['power status']);
  });

  it('a session that fails once: a read takes the diagnosis answer, an action is not resent', async () => {
    let first = true;
    const flaky = recording((command) => {
      if (first) {
        first = false;
        return failed(SESSION_V2);
      }
      return command.endsWith('power status') ? ok('Chassis Power is on\n') : ok('');
    });
    expect(await flaky.driver.powerState(BMC)).toBe('power on');
    expect(flaky.commands()).toEqual(['power status', '-v power status']);

    first = true;
    const action = recording(() => {
      if (first) {
        first = false;
        return failed(SESSION_V2);
      }
      return ok('Chassis Power is off\n');
    });
    const error = await action.driver.setPower(BMC, 'on').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BmcUnreachableError);
    expect((error as Error).message).toContain('retry');
    expect(action.commands()).toEqual(['power on', '-v power status']);
  });

  it('a refused command is BmcCommandError with what ipmitool printed', async () => {
    const { driver } = recording(() => failed(SOFT_REFUSED));
    const error = await driver.setPower(BMC, 'soft off').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BmcCommandError);
    expect(error).toMatchObject({ operation: 'soft power off' });
    expect((error as Error).message).toContain('Unspecified error');
  });

  it('a refused power off whose machine powers off anyway succeeds, as the state decides', async () => {
    const OFF_REFUSED = 'Set Chassis Power Control to Down/Off failed: Unspecified error\n';
    const { driver, commands } = recording((command) =>
      command === 'power off' ? failed(OFF_REFUSED) : ok('Chassis Power is off\n'),
    );
    await expect(driver.setPower(BMC, 'off')).resolves.toBe('power off');
    expect(commands()).toEqual(['power off', 'power status']);
    // Still on after the refusal: the refusal stands.
    const stuck = recording((command) =>
      command === 'power off' ? failed(OFF_REFUSED) : ok('Chassis Power is on\n'),
    );
    const error = await stuck.driver
      .setPower(BMC, 'off', { timeoutMs: 50 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BmcCommandError);
  });

  it('never repeats the password, even when ipmitool prints it', async () => {
    const { driver } = recording(() => failed(`bad thing near ${PASSWORD}\n`));
    const error = (await driver.powerState(BMC).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(BmcCommandError);
    expect(error.message).not.toContain(PASSWORD);
    expect(JSON.stringify(error)).not.toContain(PASSWORD);
    expect(error.message).toContain('***');
  });

  it('classifies the texts ipmitool prints', () => {
    expect(classifyIpmiFailure(WRONG_PASSWORD_V)).toBe('auth');
    expect(classifyIpmiFailure(UNKNOWN_USER_V)).toBe('auth');
    expect(classifyIpmiFailure(LAN_WRONG_PASSWORD)).toBe('auth');
    expect(classifyIpmiFailure(NO_ANSWER_V)).toBe('unreachable');
    expect(classifyIpmiFailure(LOOKUP_FAILED)).toBe('unreachable');
    expect(classifyIpmiFailure(SESSION_V2)).toBe('session');
    expect(classifyIpmiFailure(SOFT_REFUSED)).toBe('command');
  });

  it('refuses a malformed spec naming the field, before running anything', async () => {
    const { driver, calls } = recording(() => ok('Chassis Power is on\n'));
    const cases: [Partial<BmcSpec> & Record<string, unknown>, string][] = [
      [{ address: '-oProxyCommand=x' }, 'address'],
      [{ address: '' }, 'address'],
      [{ address: 'bmc..example' }, 'address'],
      [{ port: 0 }, 'port'],
      [{ port: 70000 }, 'port'],
      [{ port: 6.5 }, 'port'],
      [{ username: 'a-user-name-longer-than-16' }, 'username'],
      [{ username: 'bad\nname' }, 'username'],
      [{ password: `${PASSWORD}-and-far-too-long-for-ipmi` }, 'password'],
      [{ interface: 'redfish' as 'lan' }, 'interface'],
    ];
    for (const [override, field] of cases) {
      const error = await driver.powerState({ ...BMC, ...override }).catch((e: unknown) => e);
      expect(error, field).toBeInstanceOf(InvalidBmcSpecError);
      expect(error).toMatchObject({ field });
      expect((error as Error).message).not.toContain(PASSWORD);
    }
    await expect(driver.setPower(BMC, 'explode' as 'on')).rejects.toMatchObject({
      field: 'action',
    });
    await expect(driver.setBootDevice(BMC, 'cdrom' as 'pxe')).rejects.toMatchObject({
      field: 'device',
    });
    expect(calls).toEqual([]);
    // IPv6 and host names are addresses too.
    await driver.powerState({ ...BMC, address: 'fd00::5' });
    await driver.powerState({ ...BMC, address: 'bmc-01.rack3.example' });
    expect(calls).toHaveLength(2);
  });
});

describe('ipmi driver loading', () => {
  it('probe: a missing ipmitool is DriverUnavailableError', async () => {
    const driver = new IpmiBaremetalDriver({ ipmitoolBinary: '/nonexistent/ipmitool' });
    await expect(driver.probe()).rejects.toBeInstanceOf(DriverUnavailableError);
    await expect(
      loadBaremetalDriver('ipmi', { ipmitoolBinary: '/nonexistent/ipmitool' }),
    ).rejects.toBeInstanceOf(DriverUnavailableError);
  });

  it('probe reads the version', async () => {
    const { driver, calls } = recording(() => ok('ipmitool version 1.8.19\n'));
    expect(await driver.probe()).toEqual({ version: '1.8.19' });
    expect(calls[0].args).toEqual(['-V']);
  });

  it('strict config: unknown driver, unknown key, bad values', async () => {
    await expect(loadBaremetalDriver('redfish', {})).rejects.toBeInstanceOf(UnknownDriverError);
    expect(() => validateBaremetalConfig('ipmi', { timeout: 3 })).toThrow(DriverConfigError);
    expect(() => validateBaremetalConfig('ipmi', { retries: -1 })).toThrow(/"retries"/);
    expect(() => validateBaremetalConfig('ipmi', { timeoutSeconds: 0 })).toThrow(
      /"timeoutSeconds"/,
    );
    expect(validateBaremetalConfig('ipmi', { retries: 1, 'user.note': 'rack 3' })).toEqual({
      retries: 1,
    });
  });

  it('the default runner hands the password to ipmitool in its environment only', async () => {
    const result = await execIpmitool({
      binary: 'sh',
      args: ['-c', 'printf %s "$IPMI_PASSWORD"'],
      env: { IPMI_PASSWORD: PASSWORD },
      timeoutMs: 5000,
    });
    expect(result).toEqual({ exitCode: 0, stdout: PASSWORD, stderr: '', timedOut: false });
    const hung = await execIpmitool({ binary: 'sleep', args: ['5'], env: {}, timeoutMs: 100 });
    expect(hung.timedOut).toBe(true);
  });
});
