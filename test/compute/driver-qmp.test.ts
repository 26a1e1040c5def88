import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { QmpClient, type QmpEvent } from '../../drivers/compute/qmp/client';
import {
  QmpBusyError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from '../../drivers/compute/qmp/errors';
import { DriverError } from '../../drivers/errors';

/**
 * The QMP client against a fake QMP server: a unix socket server that greets like QEMU 7.2,
 * records every command it gets and answers as each test tells it to.
 */

interface Command {
  execute: string;
  arguments?: Record<string, unknown>;
  id?: unknown;
}

interface Peer {
  socket: net.Socket;
  commands: Command[];
  send(message: unknown): void;
  reply(command: Command, value?: unknown): void;
}

type Handler = (command: Command, peer: Peer) => void;

const GREETING = {
  QMP: {
    version: { qemu: { micro: 22, minor: 2, major: 7 }, package: 'Debian 1:7.2+dfsg-7' },
    capabilities: ['oob'],
  },
};

let dir: string;
let servers: net.Server[] = [];
let clients: QmpClient[] = [];
let sockets: net.Socket[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-qmp-'));
});
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const socket of sockets) socket.destroy();
  sockets = [];
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  clients = [];
  servers = [];
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

let socketCount = 0;

/**
 * Starts a fake QMP server; `handler` sees every command after `qmp_capabilities` (which is
 * answered automatically unless `answerCapabilities` is false). Resolves with its socket path
 * and the connections it accepted.
 */
async function fakeQmp(
  handler: Handler = (command, peer) => peer.reply(command),
  options: { greeting?: string | null; answerCapabilities?: boolean } = {},
) {
  const socketPath = path.join(dir, `qmp-${++socketCount}.sock`);
  const peers: Peer[] = [];
  const server = net.createServer((socket) => {
    const peer: Peer = {
      socket,
      commands: [],
      send: (message) => socket.write(`${JSON.stringify(message)}\r\n`),
      reply: (command, value = {}) => peer.send({ return: value, id: command.id }),
    };
    peers.push(peer);
    sockets.push(socket);
    socket.on('error', () => {});
    if (options.greeting !== null) {
      socket.write(options.greeting ?? `${JSON.stringify(GREETING)}\r\n`);
    }
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const command = JSON.parse(buffer.slice(0, i)) as Command;
        buffer = buffer.slice(i + 1);
        peer.commands.push(command);
        if (command.execute !== 'qmp_capabilities') handler(command, peer);
        else if (options.answerCapabilities !== false) peer.reply(command);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return { socketPath, peers };
}

async function connect(socketPath: string, options?: Parameters<typeof QmpClient.connect>[1]) {
  const client = await QmpClient.connect(socketPath, options);
  clients.push(client);
  return client;
}

function event(name: string, data?: Record<string, unknown>) {
  return {
    event: name,
    ...(data ? { data } : {}),
    timestamp: { seconds: 1700000000, microseconds: 42 },
  };
}

describe('QmpClient.connect', () => {
  it('reads the greeting and leaves negotiation mode with qmp_capabilities', async () => {
    const { socketPath, peers } = await fakeQmp();
    const client = await connect(socketPath);
    expect(client.greeting.version.qemu).toEqual({ major: 7, minor: 2, micro: 22 });
    expect(client.greeting.capabilities).toEqual(['oob']);
    expect(peers[0].commands.map((c) => c.execute)).toEqual(['qmp_capabilities']);
    expect(client.closed).toBe(false);
  });

  it('stays in negotiation mode when asked not to negotiate', async () => {
    const { socketPath, peers } = await fakeQmp();
    await connect(socketPath, { negotiate: false });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(peers[0].commands).toEqual([]);
  });

  it('fails with QmpDisconnectedError when nothing listens on the socket', async () => {
    const failure = QmpClient.connect(path.join(dir, 'nobody-here.sock'));
    await expect(failure).rejects.toBeInstanceOf(QmpDisconnectedError);
    await expect(failure).rejects.toThrow(/cannot connect to .*nobody-here\.sock/);
    await expect(failure).rejects.toMatchObject({ code: 'QMP_DISCONNECTED' });
  });

  it('fails with QmpBusyError, a timeout, when the socket accepts but never greets', async () => {
    const { socketPath } = await fakeQmp(undefined, { greeting: null });
    const failure = QmpClient.connect(socketPath, { timeoutMs: 100 });
    await expect(failure).rejects.toBeInstanceOf(QmpBusyError);
    await expect(failure).rejects.toBeInstanceOf(QmpTimeoutError);
    await expect(failure).rejects.toThrow(/sent no greeting within 100 ms/);
    await expect(failure).rejects.toMatchObject({ code: 'QMP_BUSY', command: 'connect' });
  });

  it('fails with QmpProtocolError when the peer does not greet in QMP', async () => {
    const notJson = await fakeQmp(undefined, { greeting: 'SSH-2.0-OpenSSH_9.2\r\n' });
    await expect(QmpClient.connect(notJson.socketPath)).rejects.toBeInstanceOf(QmpProtocolError);
    const notGreeting = await fakeQmp(undefined, { greeting: '{"hello": 1}\n' });
    await expect(QmpClient.connect(notGreeting.socketPath)).rejects.toThrow(
      /first message is not a QMP greeting/,
    );
  });

  it('fails when qmp_capabilities gets no answer, closing the socket', async () => {
    const { socketPath, peers } = await fakeQmp(undefined, { answerCapabilities: false });
    const failure = QmpClient.connect(socketPath, { timeoutMs: 100 });
    await expect(failure).rejects.toBeInstanceOf(QmpTimeoutError);
    await expect(failure).rejects.toThrow(
      'QMP command "qmp_capabilities" got no answer within 100 ms',
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(peers[0].socket.readableEnded || peers[0].socket.destroyed).toBe(true);
  });

  it('takes messages that arrive together with the greeting', async () => {
    const { socketPath } = await fakeQmp(undefined, {
      greeting: `${JSON.stringify(GREETING)}\r\n${JSON.stringify(event('RESUME'))}\r\n`,
    });
    const client = await connect(socketPath);
    expect(client.greeting.version.qemu.major).toBe(7);
  });
});

describe('QmpClient.execute', () => {
  it('sends the command with its arguments and resolves with the return value', async () => {
    const { socketPath, peers } = await fakeQmp((command, peer) =>
      peer.reply(command, { status: 'running', running: true }),
    );
    const client = await connect(socketPath);
    await expect(client.execute('query-status')).resolves.toEqual({
      status: 'running',
      running: true,
    });
    await client.execute('device_del', { id: 'disk1' });
    const sent = peers[0].commands.slice(1);
    expect(sent[0]).toEqual({ execute: 'query-status', id: expect.any(Number) });
    expect(sent[1]).toEqual({
      execute: 'device_del',
      arguments: { id: 'disk1' },
      id: expect.any(Number),
    });
    expect(sent[0].id).not.toEqual(sent[1].id);
  });

  it('matches answers to commands by id when they come out of order', async () => {
    const held: Command[] = [];
    const { socketPath } = await fakeQmp((command, peer) => {
      held.push(command);
      if (held.length === 3) {
        for (const c of [held[2], held[0], held[1]]) peer.reply(c, { for: c.execute });
      }
    });
    const client = await connect(socketPath);
    const answers = await Promise.all([
      client.execute('first'),
      client.execute('second'),
      client.execute('third'),
    ]);
    expect(answers).toEqual([{ for: 'first' }, { for: 'second' }, { for: 'third' }]);
  });

  it('rejects with QmpError carrying the error class and description', async () => {
    const { socketPath } = await fakeQmp((command, peer) =>
      peer.send({
        error: { class: 'DeviceNotFound', desc: "Device 'disk9' not found" },
        id: command.id,
      }),
    );
    const client = await connect(socketPath);
    const failure = client.execute('device_del', { id: 'disk9' });
    await expect(failure).rejects.toBeInstanceOf(QmpError);
    await expect(failure).rejects.toBeInstanceOf(DriverError);
    await expect(failure).rejects.toMatchObject({
      code: 'QMP_ERROR',
      command: 'device_del',
      errorClass: 'DeviceNotFound',
      desc: "Device 'disk9' not found",
    });
    await expect(failure).rejects.toThrow(
      `QMP command "device_del" failed: DeviceNotFound: Device 'disk9' not found`,
    );
  });

  it('times out with QmpTimeoutError, drops the late answer and keeps working', async () => {
    let slow: Command | null = null;
    const { socketPath, peers } = await fakeQmp((command, peer) => {
      if (command.execute === 'slow') slow = command;
      else peer.reply(command, { ok: command.execute });
    });
    const client = await connect(socketPath);
    const failure = client.execute('slow', undefined, 50);
    await expect(failure).rejects.toBeInstanceOf(QmpTimeoutError);
    await expect(failure).rejects.toMatchObject({
      code: 'QMP_TIMEOUT',
      command: 'slow',
      timeoutMs: 50,
    });
    await expect(failure).rejects.toThrow('QMP command "slow" got no answer within 50 ms');
    // The late answer has nobody waiting for it; the next command gets its own answer.
    expect(slow).not.toBeNull();
    peers[0].reply(slow!, { late: true });
    await expect(client.execute('fast')).resolves.toEqual({ ok: 'fast' });
    expect(client.closed).toBe(false);
  });

  it('rejects waiting commands with QmpDisconnectedError when QEMU goes away', async () => {
    const { socketPath, peers } = await fakeQmp(() => {});
    const client = await connect(socketPath);
    const closed = new Promise((resolve) => client.onClose(resolve));
    const waiting = client.execute('query-status');
    await new Promise((resolve) => setTimeout(resolve, 20));
    peers[0].socket.destroy();
    await expect(waiting).rejects.toBeInstanceOf(QmpDisconnectedError);
    await expect(waiting).rejects.toThrow(/QMP connection lost while waiting for "query-status"/);
    const error = await closed;
    expect(error).toBeInstanceOf(QmpDisconnectedError);
    expect(client.closed).toBe(true);
    await expect(client.execute('query-status')).rejects.toThrow(
      'QMP connection lost while waiting for "query-status": not connected',
    );
  });

  it('fails the connection when QEMU sends a line that is not JSON', async () => {
    const { socketPath } = await fakeQmp((_command, peer) => peer.socket.write('garbage\r\n'));
    const client = await connect(socketPath);
    const failure = client.execute('query-status');
    await expect(failure).rejects.toBeInstanceOf(QmpDisconnectedError);
    await expect(failure).rejects.toThrow(/a line that is not JSON: "garbage"/);
    expect(client.closed).toBe(true);
  });

  it('reassembles messages split across reads and splits several in one read', async () => {
    const { socketPath } = await fakeQmp((command, peer) => {
      const answer = JSON.stringify({ return: { long: 'x'.repeat(10_000) }, id: command.id });
      const both = `${JSON.stringify(event('STOP'))}\r\n${answer}\r\n`;
      peer.socket.write(both.slice(0, 17));
      setTimeout(() => peer.socket.write(both.slice(17, 5000)), 5);
      setTimeout(() => peer.socket.write(both.slice(5000)), 10);
    });
    const client = await connect(socketPath);
    const events: string[] = [];
    client.onEvent((e) => events.push(e.event));
    await expect(client.execute('big')).resolves.toEqual({ long: 'x'.repeat(10_000) });
    expect(events).toEqual(['STOP']);
  });
});

describe('QmpClient events', () => {
  it('delivers asynchronous events, between answers, to every listener', async () => {
    const { socketPath, peers } = await fakeQmp((command, peer) => {
      peer.send(event('STOP'));
      peer.reply(command);
      peer.send(event('SHUTDOWN', { guest: true, reason: 'guest-shutdown' }));
    });
    const client = await connect(socketPath);
    const seen: QmpEvent[] = [];
    const other: string[] = [];
    client.onEvent((e) => seen.push(e));
    const unsubscribe = client.onEvent((e) => other.push(e.event));
    await client.execute('stop');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen).toEqual([
      { event: 'STOP', data: {}, timestamp: { seconds: 1700000000, microseconds: 42 } },
      {
        event: 'SHUTDOWN',
        data: { guest: true, reason: 'guest-shutdown' },
        timestamp: { seconds: 1700000000, microseconds: 42 },
      },
    ]);
    expect(other).toEqual(['STOP', 'SHUTDOWN']);
    unsubscribe();
    peers[0].send(event('RESUME'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(other).toEqual(['STOP', 'SHUTDOWN']);
    expect(seen.map((e) => e.event)).toEqual(['STOP', 'SHUTDOWN', 'RESUME']);
  });

  it('keeps delivering when a listener throws (reported as a process warning)', async () => {
    const { socketPath, peers } = await fakeQmp();
    const client = await connect(socketPath);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const seen: string[] = [];
      client.onEvent(() => {
        throw new Error('listener bug');
      });
      client.onEvent((e) => seen.push(e.event));
      peers[0].send(event('RESET'));
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(seen).toEqual(['RESET']);
      expect(warn).toHaveBeenCalledWith(
        expect.objectContaining({ message: 'listener bug' }),
        'QmpListenerError',
      );
      await expect(client.execute('query-status')).resolves.toEqual({});
    } finally {
      warn.mockRestore();
    }
  });
});

describe('QmpClient.close', () => {
  it('rejects waiting commands, tells close listeners null, and can be called twice', async () => {
    const { socketPath } = await fakeQmp(() => {});
    const client = await connect(socketPath);
    const reasons: unknown[] = [];
    client.onClose((error) => reasons.push(error));
    const waiting = client.execute('query-status');
    await client.close();
    await client.close();
    await expect(waiting).rejects.toBeInstanceOf(QmpDisconnectedError);
    await expect(waiting).rejects.toThrow(/the client was closed/);
    expect(reasons).toEqual([null]);
    expect(client.closed).toBe(true);
    await expect(client.execute('cont')).rejects.toBeInstanceOf(QmpDisconnectedError);
  });

  it('tells close listeners the error when QEMU closes the socket', async () => {
    const { socketPath, peers } = await fakeQmp();
    const client = await connect(socketPath);
    const closed = new Promise<unknown>((resolve) => client.onClose(resolve));
    peers[0].socket.end();
    const error = await closed;
    expect(error).toBeInstanceOf(QmpDisconnectedError);
    expect((error as Error).message).toBe('QMP connection lost: QEMU closed the socket');
  });
});
