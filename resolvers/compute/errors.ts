import { StratusError } from '../errors';

/** The server's state forbids the action (Nova's 409 "Cannot 'x' instance while it is in ..."). */
export class ServerStateError extends StratusError {
  constructor(
    readonly serverId: string,
    readonly action: string,
    readonly status: string,
    readonly taskState: string | null,
  ) {
    super(
      'CONFLICT',
      taskState
        ? `Cannot '${action}' server ${serverId} while it is in status ${status} with task ${taskState}`
        : `Cannot '${action}' server ${serverId} while it is in status ${status}`,
    );
  }
}

/** The server is locked and the caller is not an admin (Nova's 409 "Instance is locked"). */
export class ServerLockedError extends StratusError {
  constructor(
    readonly serverId: string,
    readonly reason: string | null,
  ) {
    super(
      'CONFLICT',
      `Server ${serverId} is locked${reason ? ` (${reason})` : ''}; an admin or the locker must unlock it first`,
    );
  }
}

/** No compute host can take the server (Nova's NoValidHost). */
export class NoValidHostError extends StratusError {
  constructor(readonly reason: string) {
    super('CONFLICT', `No valid host was found: ${reason}`);
  }
}
