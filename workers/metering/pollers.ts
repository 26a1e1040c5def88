import { sql } from 'drizzle-orm';
import type pg from 'pg';
import type { Database } from '../../db/connection';
import type { FlavorSnapshot } from '../../db/servers';
import type { ComputeDriver } from '../../drivers/compute/types';
import { volumeUsage } from '../../drivers/volume/usage';
import { publishSamples } from '../../resolvers/metering/live';
import type { Sample, SampleGap } from '../../resolvers/metering/samples';
import { recordGaps, recordSamples } from '../../resolvers/metering/store';
import type { VolumeBackend } from '../../resolvers/volumes/backend';
import type { Logger } from '../../server/logger';
import { type CpuHistory, type PolledServer, serverSamples, unreadServer } from './compute';
import { DB_KINDS, dbKindSamples } from './db-kinds';

/**
 * The metering pollers of one process (Ceilometer's polling agents), in the worker: every
 * `intervalMs`, one round of
 * - compute: the servers the DB places on this host, read through this host's driver;
 * - volumes: `volume.allocated` of the volumes on this process's backend;
 * - DB-derived kinds (networks, images, containers, volume sizes, projects): only in the
 *   process holding the metering advisory lock, so one process polls them per round.
 * Each poller records its round in one transaction (samples, gaps, NOTIFY for live
 * subscribers). A resource that cannot be read gets a gap with the reason and a log line.
 */
export interface MeteringPollersOptions {
  db: Database;
  pool: pg.Pool;
  logger: Logger;
  intervalMs: number;
  compute: { hostname: string; driver: ComputeDriver } | null;
  volume: VolumeBackend | null;
  /** Reads of one kind in flight at once (QMP and /proc for qemu); default 16. */
  concurrency?: number;
}

/** What one round did, for tests and the benchmark. */
export interface RoundResult {
  samples: number;
  gaps: number;
  /** Whether this process held the lock and polled the DB-derived kinds. */
  polledDbKinds: boolean;
}

/** Key of the session advisory lock whose holder polls the DB-derived kinds. */
const DB_KINDS_LOCK = 0x5354_4d45; // "STME"

export class MeteringPollers {
  private readonly cpuHistory: CpuHistory = new Map();
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private lockClient: pg.PoolClient | null = null;

  constructor(private readonly opts: MeteringPollersOptions) {}

  /** Polls every `intervalMs` (rounds never overlap); nothing when the interval is 0. */
  start(): void {
    if (this.opts.intervalMs <= 0 || this.stopped) return;
    const schedule = () => {
      this.timer = setTimeout(() => {
        this.round = this.pollOnce()
          .catch((err) => this.opts.logger.error({ err }, 'metering round failed'))
          .finally(() => {
            if (!this.stopped) schedule();
          });
      }, this.opts.intervalMs);
      this.timer.unref();
    };
    schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.round.catch(() => {});
    const client = this.lockClient;
    this.lockClient = null;
    if (client) {
      try {
        await client.query('select pg_advisory_unlock($1)', [DB_KINDS_LOCK]);
        client.release();
      } catch {
        client.release(true);
      }
    }
  }

  /** One round of every poller this process runs. */
  async pollOnce(): Promise<RoundResult> {
    const result: RoundResult = { samples: 0, gaps: 0, polledDbKinds: false };
    const add = (r: { samples: number; gaps: number }) => {
      result.samples += r.samples;
      result.gaps += r.gaps;
    };
    if (this.opts.compute) add(await this.pollCompute(this.opts.compute));
    if (this.opts.volume) add(await this.pollVolumes(this.opts.volume));
    if (await this.holdsDbLock()) {
      result.polledDbKinds = true;
      add(await this.pollDbKinds());
    }
    return result;
  }

  private async pollCompute(compute: { hostname: string; driver: ComputeDriver }) {
    const timestamp = new Date();
    const { rows } = await this.opts.db.execute<{
      id: string;
      project_id: string;
      flavor: FlavorSnapshot;
    }>(sql`select id, project_id, flavor from servers
      where host = ${compute.hostname} and vm_state <> 'deleted'
        and power_state in ('running', 'paused', 'suspended')`);
    const samples: Sample[] = [];
    const gaps: SampleGap[] = [];
    const seen = new Set<string>();
    await eachLimited(rows, this.opts.concurrency ?? 16, async (row) => {
      const server: PolledServer = {
        id: row.id,
        projectId: row.project_id,
        vcpus: row.flavor.vcpus,
        memoryMib: row.flavor.ramMib,
      };
      seen.add(server.id);
      try {
        const stats = await compute.driver.stats(server.id);
        samples.push(...serverSamples(server, stats, timestamp, this.cpuHistory));
      } catch (err) {
        const reason = `reading the server's counters failed: ${messageOf(err)}`;
        this.opts.logger.warn({ serverId: server.id, reason }, 'metering: server not read');
        const unread = unreadServer(server, timestamp, reason);
        samples.push(...unread.samples);
        gaps.push(...unread.gaps);
        this.cpuHistory.delete(server.id);
      }
    });
    for (const id of this.cpuHistory.keys()) if (!seen.has(id)) this.cpuHistory.delete(id);
    return this.record(samples, gaps);
  }

  private async pollVolumes(backend: VolumeBackend) {
    const timestamp = new Date();
    const { rows } = await this.opts.db.execute<{ id: string; project_id: string }>(
      sql`select id, project_id from volumes where host = ${backend.hostname}
        and status not in ('creating', 'deleting', 'error_deleting', 'error')`,
    );
    const samples: Sample[] = [];
    const gaps: SampleGap[] = [];
    await eachLimited(rows, this.opts.concurrency ?? 16, async (row) => {
      const base = {
        meter: 'volume.allocated',
        resourceType: 'volume' as const,
        resourceId: row.id,
        projectId: row.project_id,
        timestamp,
      };
      try {
        const usage = await volumeUsage(backend.driver, row.id);
        samples.push({ ...base, value: usage.allocatedBytes });
      } catch (err) {
        const reason = `reading the volume's usage failed: ${messageOf(err)}`;
        this.opts.logger.warn({ volumeId: row.id, reason }, 'metering: volume not read');
        gaps.push({ ...base, reason });
      }
    });
    return this.record(samples, gaps);
  }

  private async pollDbKinds() {
    const timestamp = new Date();
    const samples: Sample[] = [];
    for (const kind of DB_KINDS)
      samples.push(...(await dbKindSamples(this.opts.db, kind, timestamp)));
    return this.record(samples, []);
  }

  /** Whether this process polls the DB-derived kinds: it holds (or now takes) their lock. */
  private async holdsDbLock(): Promise<boolean> {
    if (this.lockClient) return true;
    if (this.stopped) return false;
    const client = await this.opts.pool.connect();
    try {
      const { rows } = await client.query<{ ok: boolean }>(
        'select pg_try_advisory_lock($1) as ok',
        [DB_KINDS_LOCK],
      );
      if (!rows[0]?.ok) {
        client.release();
        return false;
      }
    } catch (err) {
      client.release(true);
      throw err;
    }
    // A lost connection loses the lock: let another process (or the next round) take it.
    client.on('error', () => {
      if (this.lockClient !== client) return;
      this.lockClient = null;
      client.release(true);
    });
    this.lockClient = client;
    return true;
  }

  /** Stores a poller's round and announces its samples, in one transaction. */
  private async record(samples: Sample[], gaps: SampleGap[]) {
    if (samples.length > 0 || gaps.length > 0) {
      await this.opts.db.transaction(async (tx) => {
        await recordSamples(tx, samples);
        await recordGaps(tx, gaps);
        await publishSamples(tx, samples);
      });
    }
    return { samples: samples.length, gaps: gaps.length };
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs `fn` on every item, at most `limit` at once. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
