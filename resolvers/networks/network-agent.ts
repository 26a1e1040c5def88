import { and, eq, inArray, ne } from 'drizzle-orm';
import type { Database } from '../../db/connection';
import { networks, ports, routers } from '../../db/tables';
import type { NetworkDriver, PluggedPort } from '../../drivers/network/types';
import type { Logger } from '../../server/logger';
import { networkSpec, portSpec, portSpecs, routerSpec } from './specs';
import { publishNetworkEvent } from './sync';

export interface NetworkAgentOptions {
  driver: NetworkDriver;
  db: Database;
  logger: Logger;
  /** This host's name: ports bound here (binding host) are plugged by this agent. */
  hostname: string;
}

/**
 * The process's side of the data path: runs the sync jobs against the network driver and, on
 * start, reconciles what the host has with what the database says.
 */
export class NetworkAgent {
  readonly driver: NetworkDriver;
  readonly hostname: string;
  private readonly db: Database;
  private readonly logger: Logger;
  /** The tail of the work queued per object: one sync of an object at a time, in order. */
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(options: NetworkAgentOptions) {
    this.driver = options.driver;
    this.db = options.db;
    this.logger = options.logger;
    this.hostname = options.hostname;
  }

  /**
   * Runs `work` after the previous work on `key` ended. A job replaced while it runs (a new
   * change came) has a successor that may start at once: without this, the older one could
   * apply the state it read before the change after the newer one applied the change.
   */
  private serially<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.running.get(key) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(work);
    this.running.set(key, next);
    const forget = () => {
      if (this.running.get(key) === next) this.running.delete(key);
    };
    next.then(forget, forget);
    return next;
  }

  /** Makes the network's segment and DHCP match the database (or removes them when it is gone). */
  syncNetwork(networkId: string): Promise<void> {
    return this.serially(`network:${networkId}`, () => this.applyNetwork(networkId));
  }

  private async applyNetwork(networkId: string): Promise<void> {
    const spec = await networkSpec(this.db, networkId);
    if (!spec) {
      await this.driver.deleteNetwork(networkId);
      return;
    }
    await this.driver.ensureNetwork(spec);
    if (spec.dhcpPort) await this.markActive([spec.dhcpPort.portId]);
  }

  /** Plugs a port bound to this host (status ACTIVE after), or unplugs one gone or moved away. */
  syncPort(portId: string): Promise<void> {
    return this.serially(`port:${portId}`, () => this.applyPort(portId));
  }

  /**
   * For compute's build: plugs a port bound to this host now, in turn with its sync jobs, and
   * says where QEMU finds it. Throws when the port is gone or bound elsewhere.
   */
  plugPort(portId: string): Promise<PluggedPort> {
    return this.serially(`port:${portId}`, async () => {
      const [row] = await this.db.select().from(ports).where(eq(ports.id, portId));
      const spec = row?.bindingHost === this.hostname ? await portSpec(this.db, portId) : null;
      if (!spec) throw new Error(`port ${portId} is not bound to host ${this.hostname}`);
      const plugged = await this.driver.ensurePort(spec);
      await this.setStatus([portId], spec.adminStateUp ? 'ACTIVE' : 'DOWN');
      return plugged;
    });
  }

  private async applyPort(portId: string): Promise<void> {
    const [row] = await this.db.select().from(ports).where(eq(ports.id, portId));
    if (!row || row.bindingHost !== this.hostname) {
      await this.driver.deletePort(portId);
      return;
    }
    const spec = await portSpec(this.db, portId);
    if (!spec) return;
    await this.driver.ensurePort(spec);
    await this.setStatus([portId], spec.adminStateUp ? 'ACTIVE' : 'DOWN');
  }

  syncRouter(routerId: string): Promise<void> {
    return this.serially(`router:${routerId}`, () => this.applyRouter(routerId));
  }

  private async applyRouter(routerId: string): Promise<void> {
    const spec = await routerSpec(this.db, routerId);
    if (!spec) {
      await this.driver.deleteRouter(routerId);
      return;
    }
    await this.driver.ensureRouter(spec);
    await this.markActive([
      ...spec.interfaces.map((i) => i.portId),
      ...(spec.gateway ? [spec.gateway.portId] : []),
    ]);
  }

  private markActive(portIds: string[]): Promise<void> {
    return this.setStatus(portIds, 'ACTIVE');
  }

  /** Sets the status of ports whose status differs, publishing each change. */
  private async setStatus(portIds: string[], status: string): Promise<void> {
    if (portIds.length === 0) return;
    await this.db.transaction(async (tx) => {
      const changed = await tx
        .update(ports)
        .set({ status })
        .where(and(inArray(ports.id, portIds), ne(ports.status, status)))
        .returning();
      for (const row of changed) await publishNetworkEvent(tx, 'PORT_UPDATED', 'Port', row);
    });
  }

  /**
   * After a restart: what the host has that the database does not know is removed; what the
   * database knows is ensured again (idempotent), so a half-done change is finished.
   */
  async reconcile(): Promise<{ removed: number; ensured: number }> {
    const inventory = await this.driver.list();
    let removed = 0;
    let ensured = 0;
    const networkIds = new Set(
      (await this.db.select({ id: networks.id }).from(networks)).map((n) => n.id),
    );
    for (const id of inventory.networks.filter((n) => !networkIds.has(n))) {
      await this.driver.deleteNetwork(id);
      removed++;
    }
    for (const id of networkIds) {
      await this.attempt(`network ${id}`, () => this.syncNetwork(id));
      ensured++;
    }
    const bound = await this.db
      .select({ port: ports, network: networks })
      .from(ports)
      .innerJoin(networks, eq(networks.id, ports.networkId))
      .where(eq(ports.bindingHost, this.hostname));
    const known = bound.map((b) => b.port.id);
    for (const tap of inventory.ports) {
      if (known.some((id) => id.startsWith(tap.portIdPrefix))) continue;
      // The tap keeps 11 characters of the id; the driver derives the same name from them.
      await this.driver.deletePort(tap.portIdPrefix);
      removed++;
    }
    for (const spec of await portSpecs(this.db, bound)) {
      await this.attempt(`port ${spec.portId}`, async () => {
        await this.driver.ensurePort(spec);
        await this.setStatus([spec.portId], spec.adminStateUp ? 'ACTIVE' : 'DOWN');
      });
      ensured++;
    }
    const routerIds = new Set(
      (await this.db.select({ id: routers.id }).from(routers)).map((r) => r.id),
    );
    for (const id of inventory.routers.filter((r) => !routerIds.has(r))) {
      await this.driver.deleteRouter(id);
      removed++;
    }
    for (const id of routerIds) {
      await this.attempt(`router ${id}`, () => this.syncRouter(id));
      ensured++;
    }
    this.logger.info({ removed, ensured }, 'network data path reconciled');
    return { removed, ensured };
  }

  /** One object failing to reconcile does not stop the others; its next sync job retries. */
  private async attempt(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.logger.warn({ err: error }, `reconciling ${what} failed`);
    }
  }

  async stop(): Promise<void> {
    await this.driver.close();
  }
}
