import net from 'node:net';
import {
  QmpBusyError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors';

/** What QEMU says first on a fresh QMP connection. */
export interface QmpGreeting {
  version: {
    qemu: { major: number; minor: number; micro: number };
    package: string;
  };
  capabilities: string[];
}

/** An asynchronous QMP event (`SHUTDOWN`, `STOP`, `RESUME`, `RESET`, `POWERDOWN`, ...). */
export interface QmpEvent {
  event: string;
  /** The event's payload; `{}` when QEMU sent none. */
  data: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

export interface QmpConnectOptions {
  /** How long to wait for the socket and QEMU's greeting; default 5000 ms. */
  timeoutMs?: number;
  /** Sends `qmp_capabilities` after the greeting (leaves negotiation mode); default true. */
  negotiate?: boolean;
  /** Default timeout of `execute`; default 30000 ms. */
  commandTimeoutMs?: number;
}

interface Pending {
  command: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** Why a connection ended: null when `close()` was called, the error otherwise. */
export type QmpCloseListener = (error: QmpDisconnectedError | null) => void;

/**
 * A small QMP client over a unix socket: one connection, commands matched to answers by `id`
 * (so answers may come in any order), asynchronous events to listeners.
 *
 * ```ts
 * const qmp = await QmpClient.connect('/var/lib/stratus/instances/<id>/qmp.sock');
 * qmp.onEvent((e) => console.log(e.event));
 * const status = await qmp.execute<{ status: string }>('query-status');
 * await qmp.close();
 * ```
 */
export class QmpClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Set<(event: QmpEvent) => void>();
  private readonly closeListeners = new Set<QmpCloseListener>();
  private buffer = '';
  private ended = false;
  private closing = false;
  private readonly closedPromise: Promise<void>;
  private markClosed!: () => void;

  private constructor(
    private readonly socket: net.Socket,
    readonly socketPath: string,
    readonly greeting: QmpGreeting,
    private readonly commandTimeoutMs: number,
    /** Lines that came in the same chunk as the greeting. */
    rest: string,
  ) {
    this.closedPromise = new Promise((resolve) => {
      this.markClosed = resolve;
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('error', (err) => this.end(err));
    socket.on('close', () => this.end(null));
    if (rest) this.receive(rest);
  }

  /**
   * Connects to the QMP socket at `socketPath`, reads the greeting and (unless
   * `negotiate: false`) leaves negotiation mode with `qmp_capabilities`. Throws
   * `QmpDisconnectedError` when nothing listens there, `QmpBusyError` when the connection is
   * accepted but no greeting comes (another client holds the monitor), `QmpProtocolError` when
   * the peer does not speak QMP.
   */
  static async connect(socketPath: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const { socket, greeting, rest } = await new Promise<{
      socket: net.Socket;
      greeting: QmpGreeting;
      rest: string;
    }>((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      let connected = false;
      let received = '';
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on('error', () => {});
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => {
        fail(
          connected
            ? new QmpBusyError(socketPath, timeoutMs)
            : new QmpTimeoutError('connect', timeoutMs),
        );
      }, timeoutMs);
      socket.setEncoding('utf8');
      socket.once('connect', () => {
        connected = true;
      });
      socket.on('error', (err) => {
        fail(
          new QmpDisconnectedError(null, `cannot connect to ${socketPath}: ${err.message}`, {
            cause: err,
          }),
        );
      });
      socket.on('close', () => {
        fail(new QmpDisconnectedError(null, `${socketPath} closed before the greeting`));
      });
      socket.on('data', (chunk: string) => {
        received += chunk;
        const newline = received.indexOf('\n');
        if (newline < 0) {
          if (received.length > 1 << 20) fail(new QmpProtocolError('greeting line over 1 MiB'));
          return;
        }
        const line = received.slice(0, newline);
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          fail(new QmpProtocolError(`greeting is not JSON: ${JSON.stringify(line.slice(0, 200))}`));
          return;
        }
        const greeting = (parsed as { QMP?: QmpGreeting } | null)?.QMP;
        if (typeof greeting !== 'object' || greeting === null) {
          fail(new QmpProtocolError(`first message is not a QMP greeting: ${line.slice(0, 200)}`));
          return;
        }
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.pause();
        resolve({ socket, greeting, rest: received.slice(newline + 1) });
      });
    });
    const client = new QmpClient(
      socket,
      socketPath,
      greeting,
      options.commandTimeoutMs ?? 30_000,
      rest,
    );
    socket.resume();
    if (options.negotiate ?? true) {
      try {
        await client.execute('qmp_capabilities', undefined, timeoutMs);
      } catch (err) {
        await client.close();
        throw err;
      }
    }
    return client;
  }

  /** True once the connection has ended (closed by either side). */
  get closed(): boolean {
    return this.ended;
  }

  /**
   * Runs `command` with `args` and resolves with its `return` value. Throws `QmpError` for an
   * error answer, `QmpTimeoutError` when no answer comes within `timeoutMs` (a late answer is
   * then dropped), `QmpDisconnectedError` when the connection ends first.
   */
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    timeoutMs = this.commandTimeoutMs,
  ): Promise<T> {
    if (this.ended || this.closing) {
      return Promise.reject(
        new QmpDisconnectedError(command, this.closing ? 'the client was closed' : 'not connected'),
      );
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeoutError(command, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, {
        command,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer,
      });
      const message =
        args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /**
   * Lets the process exit while this connection is open (a watched VM should not keep Stratus
   * alive); commands in flight still keep it alive through their timers.
   */
  unref(): void {
    this.socket.unref();
  }

  /** Calls `listener` for every asynchronous event; returns the function that unsubscribes. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /**
   * Calls `listener` once when the connection ends: with null after `close()`, with a
   * `QmpDisconnectedError` when the peer went away. Returns the function that unsubscribes.
   */
  onClose(listener: QmpCloseListener): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /**
   * Ends the connection; commands still waiting fail with `QmpDisconnectedError`. Resolves
   * once the socket is closed. Closing twice is harmless.
   */
  async close(): Promise<void> {
    if (!this.ended) {
      this.closing = true;
      this.socket.end();
      const force = setTimeout(() => this.socket.destroy(), 1000);
      force.unref();
      await this.closedPromise;
      clearTimeout(force);
    }
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let newline = this.buffer.indexOf('\n');
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.dispatch(line);
      if (this.ended) return;
      newline = this.buffer.indexOf('\n');
    }
    if (this.buffer.length > 16 << 20) {
      this.protocolFailure('a message over 16 MiB without a newline');
    }
  }

  private dispatch(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line);
    } catch {
      this.protocolFailure(`a line that is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      this.protocolFailure(`a message that is not an object: ${line.slice(0, 200)}`);
      return;
    }
    if (typeof message.event === 'string') {
      const event: QmpEvent = {
        event: message.event,
        data: (message.data as Record<string, unknown> | undefined) ?? {},
        timestamp: (message.timestamp as QmpEvent['timestamp'] | undefined) ?? {
          seconds: 0,
          microseconds: 0,
        },
      };
      for (const listener of this.eventListeners) notify(listener, event);
      return;
    }
    // Answers without a known id (late after a timeout, or QEMU's answer to a line it could
    // not parse) have nobody waiting for them.
    const id = message.id;
    const pending = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!pending) return;
    this.pending.delete(id as number);
    clearTimeout(pending.timer);
    if ('error' in message) {
      const error = (message.error ?? {}) as { class?: string; desc?: string };
      pending.reject(
        new QmpError(
          pending.command,
          error.class ?? 'GenericError',
          error.desc ?? 'no description',
        ),
      );
    } else {
      pending.resolve(message.return);
    }
  }

  private protocolFailure(reason: string): void {
    const error = new QmpProtocolError(`QEMU sent ${reason}`);
    this.end(new QmpDisconnectedError(null, error.message, { cause: error }));
    this.socket.destroy();
  }

  private end(err: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    const expected = this.closing && err === null;
    const reason = expected ? 'the client was closed' : (err?.message ?? 'QEMU closed the socket');
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(
        new QmpDisconnectedError(pending.command, reason, { cause: err ?? undefined }),
      );
    }
    const closeError = expected
      ? null
      : err instanceof QmpDisconnectedError
        ? err
        : new QmpDisconnectedError(null, reason, { cause: err ?? undefined });
    for (const listener of this.closeListeners) notify(listener, closeError);
    this.closeListeners.clear();
    this.eventListeners.clear();
    this.markClosed();
  }
}

/** Calls a listener; one that throws is reported as a process warning, not a crash. */
function notify<A>(listener: (arg: A) => void, arg: A): void {
  try {
    listener(arg);
  } catch (err) {
    process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'QmpListenerError');
  }
}
