import { sql } from 'drizzle-orm';
import type pg from 'pg';
import type { DbOrTx } from '../../db/connection';
import type { MeteredType, Sample } from './samples';

/**
 * Samples as they are recorded, across processes: the pollers NOTIFY them on a channel of
 * their own in the transaction that stores them (delivered at commit), batched per poll round
 * and cut into payloads under NOTIFY's 8000-byte limit. Not through the events table: one row
 * and one advisory lock per event would cost far more than the samples themselves.
 */
export const METERING_CHANNEL = 'stratus_metering';

/** Bytes per NOTIFY payload, under PostgreSQL's 8000 with room for multi-byte characters. */
const PAYLOAD_LIMIT = 7500;

/** One sample on the wire: [meter, type, resourceId, projectId, timestamp ms, value]. */
type WireSample = [string, MeteredType, string, string | null, number, number];

/** The payloads for `samples`: JSON arrays of wire samples, each under the limit. */
export function encodeSamples(samples: readonly Sample[]): string[] {
  const payloads: string[] = [];
  let parts: string[] = [];
  let size = 2;
  for (const s of samples) {
    const wire: WireSample = [
      s.meter,
      s.resourceType,
      s.resourceId,
      s.projectId,
      s.timestamp.getTime(),
      s.value,
    ];
    const text = JSON.stringify(wire);
    const bytes = Buffer.byteLength(text) + 1;
    if (bytes + 2 > PAYLOAD_LIMIT) continue; // cannot happen with ids of sane length
    if (size + bytes > PAYLOAD_LIMIT && parts.length > 0) {
      payloads.push(`[${parts.join(',')}]`);
      parts = [];
      size = 2;
    }
    parts.push(text);
    size += bytes;
  }
  if (parts.length > 0) payloads.push(`[${parts.join(',')}]`);
  return payloads;
}

export function decodeSamples(payload: string): Sample[] {
  const wire = JSON.parse(payload) as WireSample[];
  return wire.map(([meter, resourceType, resourceId, projectId, ms, value]) => ({
    meter,
    resourceType,
    resourceId,
    projectId,
    timestamp: new Date(ms),
    value,
  }));
}

/** Announces `samples` to every process; call in the transaction that records them. */
export async function publishSamples(tx: DbOrTx, samples: readonly Sample[]): Promise<void> {
  const payloads = encodeSamples(samples);
  if (payloads.length === 0) return;
  await tx.execute(
    sql`select pg_notify(${METERING_CHANNEL}, p) from unnest(${sql.param(payloads)}::text[]) as p`,
  );
}

export type SamplesListener = (samples: Sample[]) => void;

/**
 * One LISTEN connection per pool, open only while someone listens (so a process without live
 * subscriptions or alarms holds no connection for it).
 */
class MeteringListener {
  private readonly listeners = new Set<SamplesListener>();
  private client: pg.PoolClient | null = null;
  private connecting: Promise<void> | null = null;

  constructor(private readonly pool: pg.Pool) {}

  async add(listener: SamplesListener): Promise<() => void> {
    this.listeners.add(listener);
    try {
      await this.ensureConnected();
    } catch (error) {
      this.listeners.delete(listener);
      throw error;
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) void this.disconnect();
    };
  }

  private ensureConnected(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = await this.pool.connect();
    client.on('notification', (msg) => {
      if (msg.channel !== METERING_CHANNEL || !msg.payload) return;
      let samples: Sample[];
      try {
        samples = decodeSamples(msg.payload);
      } catch {
        return;
      }
      for (const listener of this.listeners) listener(samples);
    });
    client.on('error', () => {
      // A lost connection: drop it; the next subscriber (or the retry below) opens another.
      if (this.client !== client) return;
      this.client = null;
      client.release(true);
      if (this.listeners.size > 0)
        setTimeout(() => void this.ensureConnected().catch(() => {}), 500);
    });
    await client.query(`listen ${METERING_CHANNEL}`);
    this.client = client;
    if (this.listeners.size === 0) await this.disconnect();
  }

  private async disconnect(): Promise<void> {
    await this.connecting?.catch(() => {});
    const client = this.client;
    if (!client || this.listeners.size > 0) return;
    this.client = null;
    try {
      await client.query(`unlisten ${METERING_CHANNEL}`);
      client.release();
    } catch {
      client.release(true);
    }
  }
}

const byPool = new WeakMap<pg.Pool, MeteringListener>();

/**
 * Calls `listener` with each batch of samples any Stratus process on this database records
 * (as the pollers store them), until the returned function is called. For alarms that want
 * to evaluate as samples arrive, and for live subscriptions.
 */
export function onSamplesRecorded(pool: pg.Pool, listener: SamplesListener): Promise<() => void> {
  let listenerOfPool = byPool.get(pool);
  if (!listenerOfPool) {
    listenerOfPool = new MeteringListener(pool);
    byPool.set(pool, listenerOfPool);
  }
  return listenerOfPool.add(listener);
}
