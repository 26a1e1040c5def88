import { asc, eq } from 'drizzle-orm';
import type { Task, TaskList } from 'graphile-worker';
import { baremetalNodes, baremetalPorts, operations } from '../../db/tables';
import type { BootDevice, PowerAction } from '../../drivers/baremetal';
import type { DeployTarget } from '../../resolvers/baremetal/deployer';
import { moveNode } from '../../resolvers/baremetal/events';
import { NODE_JOBS, type NodeJobKind } from '../../resolvers/baremetal/jobs';
import { bmcOf } from '../../resolvers/baremetal/service';
import type { NodeRow } from '../../resolvers/baremetal/states';
import { enterStage, finishOperation } from '../../resolvers/operations';
import type { Runtime } from '../../resolvers/runtime';

/**
 * The node jobs (Ironic's conductor): each holds the node by its reservation (the operation
 * id) and moves it on only while it still holds it, so an abort in between wins.
 */

type NodeSet = Partial<typeof baremetalNodes.$inferInsert>;

/** A step failed: the node lands in `state` (null: stays) with the message as lastError. */
class StepError extends Error {
  constructor(
    readonly state: NodeRow['provisionState'] | null,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const RELEASE: NodeSet = { reservation: null, targetProvisionState: null, targetPowerState: null };

export function registerBaremetalTasks(
  tasks: TaskList,
  rt: Runtime,
  operationTask: (body: (operationId: string) => Promise<void>) => Task,
): void {
  for (const kind of Object.keys(NODE_JOBS) as NodeJobKind[]) {
    tasks[NODE_JOBS[kind]] = operationTask((id) => runNodeJob(rt, id, kind));
  }
}

function errorText(error: unknown): { code: string; message: string } {
  const e = error as { code?: unknown; message?: unknown };
  return {
    code: typeof e?.code === 'string' ? e.code : 'BAREMETAL_ERROR',
    message: typeof e?.message === 'string' ? e.message : String(error),
  };
}

export async function runNodeJob(
  rt: Runtime,
  operationId: string,
  kind: NodeJobKind,
): Promise<void> {
  const db = rt.db;
  const [op] = await db.select().from(operations).where(eq(operations.id, operationId));
  const input = (op?.input ?? {}) as Record<string, unknown>;
  const nodeId = String(input.nodeId);
  const [node] = await db.select().from(baremetalNodes).where(eq(baremetalNodes.id, nodeId));
  const service = rt.baremetal;
  if (!node || node.reservation !== operationId || !service) {
    await finishOperation(db, operationId, {
      errorCode: 'SUPERSEDED',
      errorMessage: `node ${nodeId} is no longer held by this operation`,
    });
    return;
  }
  const move = (set: NodeSet) => db.transaction((tx) => moveNode(tx, node.id, operationId, set));
  const stage = (i: number) => enterStage(db, operationId, i);
  const bmc = () => bmcOf(service, node);
  const target = async (): Promise<DeployTarget> => {
    const nics = await db
      .select()
      .from(baremetalPorts)
      .where(eq(baremetalPorts.nodeId, node.id))
      .orderBy(asc(baremetalPorts.position));
    return {
      nodeId: node.id,
      bmc: bmc(),
      portIds: nics.flatMap((n) => (n.portId ? [n.portId] : [])),
      macs: nics.map((n) => n.macAddress),
    };
  };
  /** Automated cleaning through the deployer, or Ironic's automated_clean=false: none. */
  const clean = async (): Promise<boolean> => {
    const deployer = rt.nodeDeployer;
    if (!service.config.automatedClean) return true;
    if (!deployer || deployer.unavailable()) {
      throw new StepError(
        'clean failed',
        'CLEAN_FAILED',
        'automated cleaning needs the network-boot deployer, which is unavailable',
      );
    }
    if (!(await move({ provisionState: 'clean wait' }))) return false;
    try {
      await deployer.clean(rt, await target(), service.config.cleanTimeoutMs);
    } catch (error) {
      throw new StepError(
        'clean failed',
        'CLEAN_FAILED',
        `cleaning failed: ${errorText(error).message}`,
      );
    }
    return true;
  };

  try {
    await stage(0);
    let result: NodeSet | null = null;
    switch (kind) {
      case 'manage': {
        const powerState = await service.driver.validate(bmc()).catch((error) => {
          throw new StepError(
            'enroll',
            errorText(error).code,
            `verify failed: ${errorText(error).message}`,
          );
        });
        result = { provisionState: 'manageable', powerState, lastError: null, syncFailures: 0 };
        break;
      }
      case 'inspect': {
        try {
          // What IPMI can tell: the power state and the boot device override.
          const powerState = await service.driver.powerState(bmc());
          const boot = await service.driver.getBootDevice(bmc());
          result = {
            provisionState: 'manageable',
            powerState,
            bootDevice: boot.device,
            bootPersistent: boot.persistent,
            lastError: null,
          };
        } catch (error) {
          throw new StepError(
            'inspect failed',
            errorText(error).code,
            `inspection failed: ${errorText(error).message}`,
          );
        }
        break;
      }
      case 'provide': {
        if (!(await clean())) break;
        result = { provisionState: 'available', lastError: null };
        break;
      }
      case 'deploy': {
        const deployer = rt.nodeDeployer;
        if (!deployer || deployer.unavailable()) {
          throw new StepError(
            'deploy failed',
            'DEPLOY_FAILED',
            'the network-boot deployer is unavailable',
          );
        }
        const info = node.instanceInfo;
        let report: string;
        try {
          ({ report } = await deployer.deploy(
            rt,
            {
              ...(await target()),
              imageId: info?.imageId ?? '',
              userData: info?.userData ?? null,
              onStage: async (name) => {
                const waiting = name === 'wait call-back';
                await move({
                  deployStep: name,
                  ...(waiting ? { provisionState: 'wait call-back' } : {}),
                });
                if (waiting) await stage(1);
              },
            },
            service.config.deployTimeoutMs,
          ));
        } catch (error) {
          throw new StepError(
            'deploy failed',
            'DEPLOY_FAILED',
            `deploy failed: ${errorText(error).message}`,
          );
        }
        result = {
          provisionState: 'active',
          deployReport: report,
          powerState: 'power on',
          lastError: null,
        };
        break;
      }
      case 'deleted': {
        try {
          if (rt.nodeDeployer) await rt.nodeDeployer.tearDown(rt, await target());
          else await service.driver.setPower(bmc(), 'off');
        } catch (error) {
          throw new StepError(
            'error',
            'TEAR_DOWN_FAILED',
            `tear down failed: ${errorText(error).message}`,
          );
        }
        if (!(await move({ provisionState: 'cleaning', powerState: 'power off' }))) break;
        await stage(1);
        if (!(await clean())) break;
        result = {
          provisionState: 'available',
          instanceInfo: null,
          deployReport: null,
          deployStep: null,
          lastError: null,
        };
        break;
      }
      case 'power': {
        const action = input.action as PowerAction;
        try {
          const powerState = await service.driver.setPower(bmc(), action);
          result = { powerState, lastError: null };
        } catch (error) {
          throw new StepError(
            null,
            errorText(error).code,
            `power ${action} failed: ${errorText(error).message}`,
          );
        }
        break;
      }
      case 'bootDevice': {
        const device = input.device as BootDevice;
        const persistent = input.persistent === true;
        try {
          await service.driver.setBootDevice(bmc(), device, { persistent });
          result = { bootDevice: device, bootPersistent: persistent, lastError: null };
        } catch (error) {
          throw new StepError(
            null,
            errorText(error).code,
            `boot device ${device} failed: ${errorText(error).message}`,
          );
        }
        break;
      }
    }
    // The node's release and the operation's end commit together: a client that sees the node
    // free never finds its operation still running.
    await db.transaction(async (tx) => {
      const moved = result
        ? await moveNode(tx, node.id, operationId, { ...result, ...RELEASE })
        : null;
      await finishOperation(
        tx,
        operationId,
        moved
          ? {
              result: {
                nodeId: node.id,
                provisionState: moved.provisionState,
                powerState: moved.powerState,
              },
            }
          : {
              errorCode: 'ABORTED',
              errorMessage: `node ${node.id} was taken from this operation (abort)`,
            },
      );
    });
  } catch (error) {
    const failure =
      error instanceof StepError
        ? error
        : new StepError('error', 'INTERNAL', errorText(error).message);
    await db.transaction(async (tx) => {
      await moveNode(tx, node.id, operationId, {
        ...(failure.state ? { provisionState: failure.state } : {}),
        lastError: failure.message,
        ...RELEASE,
      });
      await finishOperation(tx, operationId, {
        errorCode: failure.code,
        errorMessage: failure.message,
      });
    });
  }
}
