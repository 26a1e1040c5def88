import { gt } from 'drizzle-orm';
import type pg from 'pg';
import type { Database } from '../db/connection';
import { events } from '../db/tables';
import { EVENTS_CHANNEL, type StratusEvent, toStratusEvent } from '../resolvers/events';
import type { RevocationCache, RevocationRecord } from '../resolvers/identity/revocation-cache';
import { REVOCATIONS_CHANNEL } from '../resolvers/identity/revocations';
import type { Logger } from './logger';

type Listener = (event: StratusEvent) => void;

/**
 * One LISTEN connection per process: events from any Stratus process on this database reach
 * every local subscriber, and revocations reach the local cache. A lost connection is
 * re-opened and the events missed meanwhile are read back from the table.
 */
export class EventBus {
  private client: pg.PoolClient | null = null;
  private readonly listeners = new Set<Listener>();
  private lastCursor = 0;
  private stopped = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly pool: pg.Pool,
    private readonly db: Database,
    private readonly revocations: RevocationCache,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const [{ max }] = (
      await this.pool.query<{ max: string | null }>('select max(id) as max from events')
    ).rows;
    this.lastCursor = Number(max ?? 0);
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = await this.pool.connect();
    client.on('notification', (msg) => {
      // Chained so an event fetched from the table (too large for NOTIFY) keeps its place.
      if (msg.channel === EVENTS_CHANNEL && msg.payload) {
        const payload = msg.payload;
        this.chain = this.chain
          .then(() => this.onEvent(payload))
          .catch((err) => this.logger.error({ err }, 'event delivery failed'));
      } else if (msg.channel === REVOCATIONS_CHANNEL && msg.payload) this.onRevocation(msg.payload);
    });
    client.on('error', (error) => {
      // Once stop() released the client, a late error (the server shutting down) is not ours.
      if (this.client !== client) return;
      this.logger.warn({ err: error }, 'event bus connection lost; reconnecting');
      this.client = null;
      client.release(true);
      if (!this.stopped) void this.reconnect();
    });
    await client.query(`listen ${EVENTS_CHANNEL}`);
    await client.query(`listen ${REVOCATIONS_CHANNEL}`);
    this.client = client;
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.connect();
        // Catch up on what was published while nobody listened.
        const missed = await this.db
          .select()
          .from(events)
          .where(gt(events.id, this.lastCursor))
          .orderBy(events.id);
        for (const row of missed) this.deliver(toStratusEvent(row));
        return;
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
  }

  private async onEvent(payload: string): Promise<void> {
    let event: StratusEvent;
    if (payload.startsWith('{')) {
      event = JSON.parse(payload) as StratusEvent;
    } else {
      const [row] = await this.db
        .select()
        .from(events)
        .where(gt(events.id, Number(payload) - 1))
        .orderBy(events.id)
        .limit(1);
      if (!row) return;
      event = toStratusEvent(row);
    }
    this.deliver(event);
  }

  private deliver(event: StratusEvent): void {
    const cursor = Number(event.cursor);
    if (cursor <= this.lastCursor) return;
    this.lastCursor = cursor;
    for (const listener of this.listeners) listener(event);
  }

  private onRevocation(payload: string): void {
    this.revocations.apply(JSON.parse(payload) as RevocationRecord);
  }

  /** Registers a listener for every event this process sees; returns the unsubscribe function. */
  listen(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events after `cursor` from the table, oldest first, at most `limit`. */
  async readAfter(cursor: number, limit: number): Promise<StratusEvent[]> {
    const rows = await this.db
      .select()
      .from(events)
      .where(gt(events.id, cursor))
      .orderBy(events.id)
      .limit(limit);
    return rows.map(toStratusEvent);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.listeners.clear();
    const client = this.client;
    if (client) {
      this.client = null;
      await client.query('unlisten *').catch(() => {});
      client.removeAllListeners('notification');
      // Released with destroy: its socket closes now, not after the database has gone.
      client.release(true);
    }
  }
}
