import { DriverError } from '../../errors';

/** QEMU answered a command with an error response (`{ "error": { "class", "desc" } }`). */
export class QmpError extends DriverError {
  constructor(
    readonly command: string,
    /** QMP's error class, e.g. `GenericError`, `CommandNotFound`, `DeviceNotActive`. */
    readonly errorClass: string,
    /** QEMU's human-readable description. */
    readonly desc: string,
  ) {
    super('QMP_ERROR', `QMP command "${command}" failed: ${errorClass}: ${desc}`);
  }
}

/** No answer (to a command, or no greeting after connecting) within the allowed time. */
export class QmpTimeoutError extends DriverError {
  constructor(
    /** The command that got no answer, or `connect` for the greeting. */
    readonly command: string,
    readonly timeoutMs: number,
    code = 'QMP_TIMEOUT',
  ) {
    super(
      code,
      `QMP ${command === 'connect' ? 'greeting' : `command "${command}"`} got no answer within ${timeoutMs} ms`,
    );
  }
}

/**
 * The monitor did not even greet us: QEMU accepts one QMP client per socket, so another one
 * (an older Stratus, a `socat` left open) holds it, or QEMU is wedged.
 */
export class QmpBusyError extends QmpTimeoutError {
  constructor(
    readonly socketPath: string,
    timeoutMs: number,
  ) {
    super('connect', timeoutMs, 'QMP_BUSY');
    this.message = `QMP socket ${socketPath} accepted the connection but sent no greeting within ${timeoutMs} ms (another client holds it, or QEMU is wedged)`;
  }
}

/**
 * The connection is gone (QEMU exited, the socket closed, or the client was closed) before an
 * answer came; `command` names the command that was waiting, or null.
 */
export class QmpDisconnectedError extends DriverError {
  constructor(
    readonly command: string | null,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      'QMP_DISCONNECTED',
      command === null
        ? `QMP connection lost: ${reason}`
        : `QMP connection lost while waiting for "${command}": ${reason}`,
      options,
    );
  }
}

/** The peer does not speak QMP: no greeting object, or a line that is not a JSON object. */
export class QmpProtocolError extends DriverError {
  constructor(reason: string) {
    super('QMP_PROTOCOL', `QMP protocol error: ${reason}`);
  }
}
