/**
 * Helpers for measuring "volume attached -> the guest sees the disk": a console tail, a raw
 * QMP socket (no Stratus code in the way) and the hand-made attach/detach with exactly the QMP
 * commands the qemu driver sends. bench/volume-attach.ts uses them against the driver; a later
 * benchmark through the GraphQL API can reuse them as they are (the console file and QMP socket
 * live in the instance folder: <stateDir>/instances/<id>/console.log, qmp.sock).
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import { volumeBlockdevs, volumeDevice, volumeNames } from '../drivers/compute/qemu-args';
import type { VolumeAttachmentSpec } from '../drivers/compute/types';

// Not from ./support: that one loads the whole server, which this benchmark does not need.
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Nanoseconds, CLOCK_MONOTONIC. */
const nowNs = () => process.hrtime.bigint();

/**
 * User data for the test guest (scripts/build-test-guest runs '#!' user data as a script and
 * prints its lines as `STRATUS-SCRIPT <line>`): prints `DISKS vda vdb ...` whenever the set of
 * disks in /sys/block changes, checking every 2 ms with shell builtins only (the guest's own
 * STRATUS-BLOCK line comes every 2 s, far too coarse to time a hot-plug).
 */
export const DISK_WATCH_SCRIPT = `#!/bin/sh
prev=
while :; do
  cur=
  for d in /sys/block/*; do cur="$cur \${d##*/}"; done
  if [ "$cur" != "$prev" ]; then echo "DISKS$cur"; prev=$cur; fi
  usleep 2000
done
`;

/** The console line `DISK_WATCH_SCRIPT` prints when the guest's disks are exactly `disks`. */
export function disksLine(disks: string[]): RegExp {
  return new RegExp(`^STRATUS-SCRIPT DISKS ${disks.join(' ')}\\r?$`);
}

/** Follows a growing console log file, reading only the new bytes each poll. */
export class ConsoleTail {
  private text = '';
  private position = 0;

  constructor(
    readonly file: string,
    private readonly pollMs = 1,
  ) {}

  /** Reads what was appended since the last read; returns the whole text so far. */
  async read(): Promise<string> {
    const handle = await fs.open(this.file, 'r');
    try {
      const { size } = await handle.stat();
      if (size > this.position) {
        const buffer = Buffer.alloc(size - this.position);
        await handle.read(buffer, 0, buffer.length, this.position);
        this.position = size;
        this.text += buffer.toString('utf8');
      }
    } finally {
      await handle.close();
    }
    return this.text;
  }

  /** The current end of the text: `waitFor` looks only at what comes after such a mark. */
  async mark(): Promise<number> {
    return (await this.read()).length;
  }

  /**
   * Polls until a line after `from` matches `line`; resolves with the monotonic time (ns) of
   * the poll that saw it. Throws after `timeoutMs`.
   */
  async waitFor(line: RegExp, from: number, timeoutMs = 60_000): Promise<bigint> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = (await this.read()).slice(from);
      const seenAt = nowNs();
      if (text.split('\n').some((l) => line.test(l))) return seenAt;
      if (Date.now() > deadline) throw new Error(`no console line ${line} within ${timeoutMs} ms`);
      await sleep(this.pollMs);
    }
  }
}

/**
 * Milliseconds from calling `action` to the console showing `line` (after what it showed
 * before the call), and how long `action` itself took.
 */
export async function timeToConsole(
  tail: ConsoleTail,
  line: RegExp,
  action: () => Promise<unknown>,
): Promise<{ visibleMs: number; actionMs: number }> {
  const from = await tail.mark();
  const started = nowNs();
  await action();
  const returned = nowNs();
  const seen = await tail.waitFor(line, from);
  return {
    visibleMs: Number(seen - started) / 1e6,
    actionMs: Number(returned - started) / 1e6,
  };
}

interface QmpAnswer {
  return?: unknown;
  error?: { class: string; desc: string };
  id?: number;
}

/** A bare QMP connection: newline-delimited JSON over the unix socket, nothing more. */
export class RawQmp {
  private buffer = '';
  private nextId = 1;
  private readonly waiting = new Map<number, (answer: QmpAnswer) => void>();
  private readonly eventWaiters = new Set<(event: { event: string; data?: unknown }) => void>();

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        const message = JSON.parse(this.buffer.slice(0, nl));
        this.buffer = this.buffer.slice(nl + 1);
        if (typeof message.event === 'string') {
          for (const waiter of this.eventWaiters) waiter(message);
        } else if (typeof message.id === 'number') {
          this.waiting.get(message.id)?.(message);
          this.waiting.delete(message.id);
        }
      }
    });
  }

  /** Connects, and leaves negotiation mode once the greeting came. */
  static async connect(socketPath: string): Promise<RawQmp> {
    const socket = net.createConnection(socketPath);
    const greeting = new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('data', () => resolve());
    });
    await greeting;
    const qmp = new RawQmp(socket);
    await qmp.execute('qmp_capabilities');
    return qmp;
  }

  /** Sends one command; resolves with its `return`, rejects with QEMU's error text. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (answer) =>
        answer.error
          ? reject(new Error(`${command}: ${answer.error.class}: ${answer.error.desc}`))
          : resolve(answer.return),
      );
      const message = args ? { execute: command, arguments: args, id } : { execute: command, id };
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Resolves on the first event `matches` accepts (register before causing it). */
  event(matches: (event: { event: string; data?: unknown }) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const waiter = (event: { event: string; data?: unknown }) => {
        if (!matches(event)) return;
        this.eventWaiters.delete(waiter);
        resolve();
      };
      this.eventWaiters.add(waiter);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }
}

/**
 * Attaches a volume by hand with the driver's own QMP commands: two `blockdev-add` (file node,
 * format node) and `device_add virtio-blk-pci` into the root port of `slot`.
 */
export async function attachByHand(
  qmp: RawQmp,
  volume: VolumeAttachmentSpec,
  slot: number,
): Promise<void> {
  for (const node of volumeBlockdevs({ ...volume, blockDevice: false })) {
    await qmp.execute('blockdev-add', node);
  }
  await qmp.execute('device_add', volumeDevice(volume.volumeId, slot));
}

/** Detaches a volume attached by `attachByHand`: device_del, DEVICE_DELETED, blockdev-del. */
export async function detachByHand(qmp: RawQmp, volumeId: string): Promise<void> {
  const names = volumeNames(volumeId);
  const deleted = qmp.event(
    (e) =>
      e.event === 'DEVICE_DELETED' && (e.data as { device?: string })?.device === names.deviceId,
  );
  await qmp.execute('device_del', { id: names.deviceId });
  await deleted;
  await qmp.execute('blockdev-del', { 'node-name': names.formatNode });
  await qmp.execute('blockdev-del', { 'node-name': names.fileNode });
}

/** Median of a list of numbers (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
