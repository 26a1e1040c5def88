import { Batcher } from './batcher';
import { run } from './run';

/** One ovs-vsctl command: its arguments (joined with `--` into one transaction). */
export type VsctlCommand = string[];

/**
 * The integration bridge through ovs-vsctl and ovs-ofctl. Concurrent callers share
 * transactions: their vsctl commands go into one ovs-vsctl call, their flow changes into one
 * OpenFlow bundle (atomic: a port's old flows are replaced by its new ones in one step).
 */
export class Bridge {
  private readonly vsctlBatcher = new Batcher<VsctlCommand[]>(async (items) => {
    const args = ['--timeout=30'];
    for (const command of items.flat()) args.push('--', ...command);
    await run('ovs-vsctl', args);
    return undefined;
  });

  private readonly flowBatcher = new Batcher<string[]>(async (items) => {
    await run('ovs-ofctl', ['-O', 'OpenFlow14', '--bundle', 'add-flows', this.name, '-'], {
      input: `${items.flat().join('\n')}\n`,
    });
    return undefined;
  });
  private readonly ofportBatcher = new Batcher<string>(async (names) => {
    const unique = [...new Set(names)];
    const out = await run('ovs-vsctl', [
      '--format=json',
      '--columns=name,ofport',
      'list',
      'Interface',
      ...unique,
    ]);
    const rows = (JSON.parse(out) as { data: [string, number | unknown][] }).data;
    const found = new Map(rows.map(([name, ofport]) => [name, ofport]));
    return names.map((name) => {
      const ofport = found.get(name);
      if (typeof ofport === 'number' && ofport > 0) {
        this.ofports.set(name, ofport);
        return null;
      }
      return new Error(
        `bridge port ${name} has no OpenFlow port number (${JSON.stringify(ofport)})`,
      );
    });
  });
  private readonly ofports = new Map<string, number>();

  constructor(readonly name: string) {}

  /** Runs vsctl commands as (part of) one transaction. */
  vsctl(commands: VsctlCommand[]): Promise<void> {
    return this.vsctlBatcher.submit(commands);
  }

  /**
   * Applies flow-mod lines (`add ...`, `delete cookie=X/-1`, ...) in one bundle with other
   * callers' lines.
   */
  flows(lines: string[]): Promise<void> {
    return this.flowBatcher.submit(lines);
  }

  /** Replaces every flow of `cookie` by `flows` atomically. */
  replaceFlows(cookie: string, flows: string[]): Promise<void> {
    return this.flows([`delete cookie=${cookie}/-1`, ...flows.map((f) => `add ${f}`)]);
  }

  /** Removes every flow of `cookie`. */
  deleteFlows(cookie: string): Promise<void> {
    return this.flows([`delete cookie=${cookie}/-1`]);
  }

  /** The OpenFlow port number of a bridge port (vswitchd assigns it when the port is added). */
  async ofport(portName: string): Promise<number> {
    // ovs-vsctl returns once vswitchd applied the change, so the number is there by now; the
    // number of a port stays the same until it is deleted.
    let lastError: unknown;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await this.ofportBatcher.submit(portName);
        const ofport = this.ofports.get(portName);
        if (ofport) return ofport;
      } catch (err) {
        lastError = err;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw lastError instanceof Error ? lastError : new Error(`no ofport for ${portName}`);
  }

  /** Forgets a deleted port's number. */
  forget(portName: string): void {
    this.ofports.delete(portName);
  }

  /** Every port on the bridge with its external ids. */
  async ports(): Promise<{ name: string; externalIds: Record<string, string> }[]> {
    const names = (await run('ovs-vsctl', ['list-ports', this.name])).split('\n').filter(Boolean);
    if (names.length === 0) return [];
    // Every Interface row, not the listed names: a port deleted between the two calls (a
    // server going away meanwhile) would make `list Interface <names>` fail as a whole.
    const out = await run('ovs-vsctl', [
      '--format=json',
      '--columns=name,external_ids',
      'list',
      'Interface',
    ]);
    const onBridge = new Set(names);
    const rows = (JSON.parse(out) as { data: [string, ['map', [string, string][]]][] }).data;
    return rows
      .filter(([name]) => onBridge.has(name))
      .map(([name, ids]) => ({ name, externalIds: Object.fromEntries(ids[1]) }));
  }
}

/** `external_ids:k=v` arguments for `ovs-vsctl set`. */
export function externalIds(ids: Record<string, string>): string[] {
  return Object.entries(ids).map(([k, v]) => `external_ids:${k}=${JSON.stringify(v)}`);
}
