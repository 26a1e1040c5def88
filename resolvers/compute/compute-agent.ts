import { and, eq, inArray, isNotNull, ne, sql } from 'drizzle-orm';
import type { Database } from '../../db/connection';
import { computeHosts, operations, servers } from '../../db/tables';
import type { ComputeDriver, ComputeEvent, HostResources } from '../../drivers/compute/types';
import type { Logger } from '../../server/logger';
import { publishEvent } from '../events';
import { finishOperation } from '../operations';
import type { ImageCache } from './image-cache';
import { finishAction, recordAction } from './instance-actions';
import { publishServerEvent } from './server-events';
import { restingStateFor, type ServerRow } from './server-states';

export interface ComputeAgentOptions {
  hostname: string;
  availabilityZone: string;
  driver: ComputeDriver;
  imageCache: ImageCache;
  db: Database;
  logger: Logger;
  /** How long a guest gets to power off on stop (Nova's shutdown_timeout). */
  shutdownTimeoutMs: number;
}

/** Who the agent records as the requester of what it does on its own. */
const AGENT_REQUEST = 'compute-agent';

/**
 * The host side of compute (Nova's nova-compute): owns this host's driver, registers the host
 * for the scheduler, turns driver events into server state, serialises jobs per server, and on
 * start reconciles the database with what actually runs here.
 */
export class ComputeAgent {
  readonly hostname: string;
  readonly driver: ComputeDriver;
  readonly imageCache: ImageCache;
  readonly shutdownTimeoutMs: number;
  private readonly db: Database;
  private readonly logger: Logger;
  private readonly availabilityZone: string;
  private readonly serverLocks = new Map<string, Promise<unknown>>();
  private readonly eventChains = new Map<string, Promise<void>>();
  private unsubscribe: (() => void) | null = null;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(options: ComputeAgentOptions) {
    this.hostname = options.hostname;
    this.driver = options.driver;
    this.imageCache = options.imageCache;
    this.db = options.db;
    this.logger = options.logger.child({ component: 'compute-agent' });
    this.availabilityZone = options.availabilityZone;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs;
  }

  /** Registers the host, reconciles, then follows driver events. Call before the worker starts. */
  async start(resources: HostResources): Promise<ReconcileReport> {
    const host = {
      hostname: this.hostname,
      availabilityZone: this.availabilityZone,
      driver: this.driver.info().name,
      accelerator: resources.accelerator,
      vcpus: resources.vcpus,
      memoryMib: resources.memoryMib,
      diskGib: resources.diskGib,
    };
    await this.db
      .insert(computeHosts)
      .values(host)
      .onConflictDoUpdate({
        target: computeHosts.hostname,
        set: { ...host, lastSeenAt: new Date() },
      });
    this.unsubscribe = this.driver.onEvent((event) => {
      // One instance's events are applied in the order they happened (a STOP then a RESUME
      // must not commit the other way round); different instances do not wait for each other.
      const id = event.instanceId;
      const handled = (this.eventChains.get(id) ?? Promise.resolve())
        .then(() => this.onDriverEvent(event))
        .catch((err) => this.logger.error({ err, event }, 'handling a driver event failed'));
      this.eventChains.set(id, handled);
      void handled.then(() => {
        if (this.eventChains.get(id) === handled) this.eventChains.delete(id);
      });
    });
    const report = await this.reconcile();
    await this.repairStuckBuilds();
    this.heartbeat = setInterval(() => {
      void this.db
        .update(computeHosts)
        .set({ lastSeenAt: new Date() })
        .where(eq(computeHosts.hostname, this.hostname))
        .catch(() => {});
      void this.repairStuckBuilds().catch((err) =>
        this.logger.warn({ err }, 'repairing stuck builds failed'),
      );
    }, 30_000);
    this.heartbeat.unref();
    return report;
  }

  /** Stops following events and detaches from the VMs, which keep running for the next start. */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.unsubscribe?.();
    await this.driver.close();
  }

  /** Runs `work` when no other job of the same server runs (a delete waits for its build). */
  async withServer<T>(serverId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.serverLocks.get(serverId) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(work);
    const settled = run.catch(() => {});
    this.serverLocks.set(serverId, settled);
    try {
      return await run;
    } finally {
      if (this.serverLocks.get(serverId) === settled) this.serverLocks.delete(serverId);
    }
  }

  /**
   * A guest that powers itself off, or a process that dies, moves its server to SHUTOFF (Nova's
   * power-state sync; a server in VERIFY_RESIZE keeps that status, shut off), with an instance
   * action saying why. Servers with a task running are left to their job, which sets the final
   * state itself.
   */
  private async onDriverEvent(event: ComputeEvent): Promise<void> {
    if (event.kind === 'SHUTDOWN' || event.kind === 'GONE') {
      const message =
        event.kind === 'GONE'
          ? 'The hypervisor process ended unexpectedly'
          : 'The guest shut itself down';
      await this.db.transaction(async (tx) => {
        const [current] = await tx
          .select()
          .from(servers)
          .where(
            and(
              eq(servers.id, event.instanceId),
              sql`${servers.taskState} is null`,
              inArray(servers.vmState, ['active', 'paused', 'suspended', 'resized']),
            ),
          )
          .for('update');
        if (!current) return;
        // A resize waiting for confirm or revert stays in VERIFY_RESIZE, shut off (as Nova's
        // power-state sync leaves RESIZED alone): the host still keeps what a revert needs,
        // and only confirm or revert may end it.
        const [row] = await tx
          .update(servers)
          .set({
            vmState: current.vmState === 'resized' ? 'resized' : 'stopped',
            powerState: 'shutdown',
          })
          .where(eq(servers.id, current.id))
          .returning();
        const action = await recordAction(tx, {
          serverId: row.id,
          projectId: row.projectId,
          userId: null,
          action: 'stop',
          requestId: AGENT_REQUEST,
        });
        await finishAction(tx, action.id, message);
        await publishServerEvent(tx, 'SERVER_UPDATED', row);
      });
    } else if (event.kind === 'STOP' || event.kind === 'RESUME') {
      await this.db.transaction(async (tx) => {
        const [row] = await tx
          .update(servers)
          .set({ powerState: event.kind === 'STOP' ? 'paused' : 'running' })
          .where(
            and(
              eq(servers.id, event.instanceId),
              sql`${servers.taskState} is null`,
              eq(servers.vmState, 'active'),
            ),
          )
          .returning();
        if (row) await publishServerEvent(tx, 'SERVER_UPDATED', row);
      });
    }
  }

  /**
   * After a start: adopts VMs that still run, marks servers whose VM is gone SHUTOFF, fails
   * jobs a crash interrupted (their server is repaired to what the host shows, a build goes to
   * ERROR), and removes instances that belong to no server.
   */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { adopted: [], stopped: [], repaired: [], orphans: [] };
    const running = new Set(await this.driver.list());
    const present = await this.driver.list({ all: true });
    const mine = await this.db
      .select()
      .from(servers)
      .where(and(eq(servers.host, this.hostname), ne(servers.vmState, 'deleted')));
    const known = new Set(mine.map((s) => s.id));
    const interrupted = await this.interruptedOperations(mine.map((s) => s.id));

    for (const server of mine) {
      const op = interrupted.get(server.id);
      if (server.taskState !== null && !op) continue; // its job is still queued: it will run
      if (op) await this.failInterrupted(op);
      if (running.has(server.id)) {
        const handle = await this.driver.adopt(server.id).catch((err) => {
          this.logger.warn({ err, serverId: server.id }, 'adopting a VM failed');
          return null;
        });
        if (handle) report.adopted.push(server.id);
        await this.settle(server, handle?.powerState ?? 'shutdown', op, report);
      } else {
        await this.settle(server, 'shutdown', op, report);
      }
    }
    for (const id of present) {
      if (known.has(id)) continue;
      this.logger.warn({ instanceId: id }, 'removing an instance that belongs to no server');
      await this.driver.destroy(id);
      report.orphans.push(id);
      await this.db.transaction((tx) =>
        publishEvent(tx, {
          kind: 'ORPHAN_INSTANCE_REMOVED',
          projectId: null,
          resourceType: 'ComputeHost',
          resourceId: this.hostname,
          payload: { instanceId: id },
        }),
      );
    }
    if (
      report.adopted.length +
      report.stopped.length +
      report.repaired.length +
      report.orphans.length
    ) {
      this.logger.info(report, 'compute reconciled');
    }
    return report;
  }

  /** Brings a server's row in line with the power state the host shows. */
  private async settle(
    server: ServerRow,
    power: 'running' | 'paused' | 'suspended' | 'shutdown' | 'crashed',
    interrupted: InterruptedOperation | undefined,
    report: ReconcileReport,
  ): Promise<void> {
    const building = server.vmState === 'building';
    const vmState = building
      ? 'error'
      : server.vmState === 'error' || server.vmState === 'resized'
        ? server.vmState
        : restingStateFor(power);
    if (!interrupted && !building && vmState === server.vmState && power === server.powerState) {
      return;
    }
    await this.db.transaction(async (tx) => {
      const [row] = await tx
        .update(servers)
        .set({
          vmState,
          powerState: power,
          taskState: null,
          ...(building
            ? {
                fault: {
                  code: 500,
                  message: 'The build was interrupted by a restart of Stratus',
                  details: `operation ${interrupted?.id ?? 'unknown'} was running when the process stopped`,
                  createdAt: new Date().toISOString(),
                },
              }
            : {}),
        })
        .where(eq(servers.id, server.id))
        .returning();
      // A VM that died while no Stratus watched it: recorded as the event path records a
      // crash, so the server's actions say why it is off.
      const wasUp = ['running', 'paused', 'suspended'].includes(server.powerState);
      if (!interrupted && !building && power === 'shutdown' && wasUp) {
        const action = await recordAction(tx, {
          serverId: row.id,
          projectId: row.projectId,
          userId: null,
          action: 'stop',
          requestId: AGENT_REQUEST,
        });
        await finishAction(
          tx,
          action.id,
          'The hypervisor process was not running when Stratus started',
        );
      }
      await publishServerEvent(tx, 'SERVER_UPDATED', row);
    });
    if (interrupted || building) report.repaired.push(server.id);
    else if (vmState === 'stopped') report.stopped.push(server.id);
  }

  /** Operations of these servers that were running when a previous process stopped. */
  private async interruptedOperations(
    serverIds: string[],
  ): Promise<Map<string, InterruptedOperation>> {
    if (serverIds.length === 0) return new Map();
    const rows = await this.db
      .select({
        id: operations.id,
        resourceId: operations.resourceId,
        input: operations.input,
      })
      .from(operations)
      .where(
        and(
          eq(operations.resourceType, 'Server'),
          inArray(operations.resourceId, serverIds),
          eq(operations.status, 'RUNNING'),
          isNotNull(operations.resourceId),
        ),
      );
    return new Map(
      rows.map((r) => [
        r.resourceId!,
        { id: r.id, actionId: (r.input.actionId as string | undefined) ?? null },
      ]),
    );
  }

  /**
   * Builds that died while scheduling (before any host took them) belong to no host's
   * reconciler: any compute process fails those whose operation has not moved for
   * `staleAfterMs` (scheduling takes milliseconds), with a fault. Runs at start and from the
   * housekeeping timer. Returns the ids of the servers moved to ERROR.
   */
  async repairStuckBuilds(staleAfterMs = 120_000): Promise<string[]> {
    const stale = await this.db
      .select({ server: servers, opId: operations.id, input: operations.input })
      .from(servers)
      .innerJoin(
        operations,
        and(
          eq(operations.resourceType, 'Server'),
          sql`${operations.resourceId} = ${servers.id}::text`,
          eq(operations.status, 'RUNNING'),
        ),
      )
      .where(
        and(
          sql`${servers.host} is null`,
          eq(servers.vmState, 'building'),
          eq(servers.taskState, 'scheduling'),
          sql`${operations.updatedAt} < ${new Date(Date.now() - staleAfterMs)}`,
        ),
      );
    for (const { server, opId, input } of stale) {
      await this.failInterrupted({ id: opId, actionId: (input.actionId as string) ?? null });
      await this.db.transaction(async (tx) => {
        const [row] = await tx
          .update(servers)
          .set({
            vmState: 'error',
            taskState: null,
            fault: {
              code: 500,
              message: 'The build was interrupted while it was being scheduled',
              details: `operation ${opId} stopped moving in the scheduling stage`,
              createdAt: new Date().toISOString(),
            },
          })
          .where(and(eq(servers.id, server.id), eq(servers.taskState, 'scheduling')))
          .returning();
        if (row) await publishServerEvent(tx, 'SERVER_UPDATED', row);
      });
    }
    return stale.map((s) => s.server.id);
  }

  private async failInterrupted(op: InterruptedOperation): Promise<void> {
    // The job is still locked by the dead worker; fail it so it never runs half again.
    await this.db
      .execute(
        sql`select graphile_worker.permanently_fail_jobs(array(select id from graphile_worker.jobs where payload->>'operationId' = ${op.id}), 'interrupted by a restart')`,
      )
      .catch((err) => this.logger.warn({ err }, 'could not fail an interrupted job'));
    await finishOperation(this.db, op.id, {
      errorCode: 'INTERRUPTED',
      errorMessage: 'Stratus restarted while this operation ran; the server was repaired',
    });
    if (op.actionId) {
      await this.db.transaction((tx) =>
        finishAction(tx, op.actionId!, 'Interrupted by a restart of Stratus'),
      );
    }
  }
}

interface InterruptedOperation {
  id: string;
  actionId: string | null;
}

export interface ReconcileReport {
  adopted: string[];
  stopped: string[];
  repaired: string[];
  orphans: string[];
}
