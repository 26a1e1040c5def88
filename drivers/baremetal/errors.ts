import { DriverError } from '../errors';

/*
 * Errors of the `baremetal` kind. None of them ever carries the BMC password: messages name
 * the BMC by address and port, and what ipmitool printed is redacted before it is kept.
 */

/** A malformed BMC spec or argument (address, port, username, password, ...), named by `field`. */
export class InvalidBmcSpecError extends DriverError {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super('BAREMETAL_INVALID_BMC_SPEC', `invalid BMC spec: "${field}" ${reason}`);
  }
}

/** The BMC did not answer (no route, nothing listening, name not resolved, timed out). */
export class BmcUnreachableError extends DriverError {
  constructor(
    readonly address: string,
    readonly port: number,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super('BAREMETAL_BMC_UNREACHABLE', `BMC ${address}:${port} is unreachable: ${reason}`, options);
  }
}

/** The BMC answered but refused the credentials (unknown user, wrong password, privilege). */
export class BmcAuthError extends DriverError {
  constructor(
    readonly address: string,
    readonly port: number,
    readonly username: string,
    readonly reason: string,
  ) {
    super(
      'BAREMETAL_BMC_AUTH_FAILED',
      `BMC ${address}:${port} refused the credentials of user "${username}": ${reason}`,
    );
  }
}

/** The BMC took the session but failed or refused the command; `stderr` is what ipmitool printed. */
export class BmcCommandError extends DriverError {
  constructor(
    readonly address: string,
    readonly port: number,
    readonly operation: string,
    readonly stderr: string,
  ) {
    super(
      'BAREMETAL_BMC_COMMAND_FAILED',
      `${operation} on BMC ${address}:${port} failed${stderr ? `: ${stderr}` : ''}`,
    );
  }
}

/** A power action was accepted but the BMC did not report the target state in time. */
export class PowerStateTimeoutError extends DriverError {
  constructor(
    readonly address: string,
    readonly port: number,
    readonly target: string,
    readonly lastState: string | null,
    readonly waitedMs: number,
  ) {
    super(
      'BAREMETAL_POWER_TIMEOUT',
      `BMC ${address}:${port} did not report "${target}" within ${waitedMs} ms (last: ${lastState ?? 'unknown'})`,
    );
  }
}
