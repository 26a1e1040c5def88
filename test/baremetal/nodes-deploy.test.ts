import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployRequest, DeployTarget, NodeDeployer } from '../../resolvers/baremetal/deployer';
import {
  claimAvailableNode,
  deployNodeForServer,
  releaseNode,
} from '../../resolvers/baremetal/scheduling';
import { inTransaction } from '../../resolvers/runtime';
import { rawId } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import {
  baremetalOverrides,
  enroll,
  enrollInput,
  MAINTENANCE,
  PROVISION,
  query,
  waitForNode,
} from './support-nodes';

/**
 * Deploy, undeploy, abort and cleaning through the API with a test deployer in place of
 * network booting (the real PXE deploy end to end is the deployer's own test), and the
 * scheduling functions compute will use. No BMC is called: nodes are put in `available`
 * with SQL, as `provide` would leave them.
 */

/** Records calls; each deploy waits until the test releases it. */
class TestDeployer implements NodeDeployer {
  deploys: DeployRequest[] = [];
  cleans: DeployTarget[] = [];
  tearDowns: DeployTarget[] = [];
  failDeploy: string | null = null;
  private release: Array<() => void> = [];

  unavailable(): string | null {
    return null;
  }
  async deploy(_rt: unknown, request: DeployRequest): Promise<{ report: string }> {
    this.deploys.push(request);
    await request.onStage?.('preparing boot files');
    await request.onStage?.('wait call-back');
    await new Promise<void>((resolve) => this.release.push(resolve));
    if (this.failDeploy) throw new Error(this.failDeploy);
    return { report: `STRATUS-GUEST-BOOT-OK ${request.imageId}` };
  }
  async clean(_rt: unknown, target: DeployTarget): Promise<void> {
    this.cleans.push(target);
  }
  async tearDown(_rt: unknown, target: DeployTarget): Promise<void> {
    this.tearDowns.push(target);
  }
  /** Lets the waiting deploys finish. */
  callBack(): void {
    for (const r of this.release.splice(0)) r();
  }
  get waiting(): number {
    return this.release.length;
  }
}

let s: TestStratus;
let deployer: TestDeployer;
let imageId: string;

beforeAll(async () => {
  s = await startTestStratus(baremetalOverrides());
  deployer = new TestDeployer();
  s.stratus.runtime.nodeDeployer = deployer;
  const [img] = await query<{ id: string }>(
    s,
    `insert into images (name, status, owner_project_id, visibility, disk_format, container_format)
     select 'bm-image', 'active', id, 'public', 'raw', 'bare' from projects limit 1 returning id`,
  );
  imageId = Buffer.from(`Image:${img.id}`).toString('base64');
});
afterAll(async () => {
  deployer?.callBack();
  await s?.stop();
});

async function availableNode(resourceClass = 'baremetal-test', mac?: string) {
  const node = await enroll(
    s,
    enrollInput(
      { password: 'deploy-secret' },
      { resourceClass, ports: mac ? [{ macAddress: mac }] : [] },
    ),
  );
  await query(s, `update baremetal_nodes set provision_state = 'available' where id = $1`, [
    rawId(node.id),
  ]);
  return node;
}

const provision = (input: Record<string, unknown>) =>
  s.ok(PROVISION, { input }, s.adminToken).then((d) => d.setNodeProvisionState);

async function waitForDeployers(n: number) {
  const deadline = Date.now() + 30_000;
  while (deployer.waiting < n) {
    if (Date.now() > deadline) throw new Error(`${n} deploys never started waiting`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('deploy and undeploy with a test deployer', () => {
  it('available → deploying → wait call-back → active; deleted → deleting → cleaning → available', async () => {
    const node = await availableNode('baremetal-test', '52:54:00:cc:00:01');
    const started = await provision({
      id: node.id,
      target: 'DEPLOY',
      imageId,
      userData: '#cloud-config',
    });
    expect(started.started.node).toMatchObject({
      provisionState: 'DEPLOYING',
      targetProvisionState: 'ACTIVE',
    });
    await waitForDeployers(1);
    await waitForNode(s, node.id, (n) => n.provisionState === 'WAIT_CALL_BACK');
    const request = deployer.deploys.at(-1)!;
    expect(request).toMatchObject({
      nodeId: rawId(node.id),
      imageId: rawId(imageId),
      userData: '#cloud-config',
      macs: ['52:54:00:cc:00:01'],
    });
    // The job hands the deployer the opened password; the API never shows it.
    expect(request.bmc.password).toBe('deploy-secret');
    deployer.callBack();
    const active = await waitForNode(s, node.id, (n) => n.provisionState === 'ACTIVE');
    expect(active).toMatchObject({
      targetProvisionState: null,
      powerState: 'POWER_ON',
      lastError: null,
    });
    expect(active.deployReport).toContain('STRATUS-GUEST-BOOT-OK');

    // Undeploy with automated cleaning on: tear down, then the deployer's clean.
    s.stratus.runtime.baremetal!.config.automatedClean = true;
    try {
      const undeploy = await provision({ id: node.id, target: 'DELETED' });
      expect(undeploy.started.node.provisionState).toBe('DELETING');
      await waitForNode(s, node.id, (n) => n.provisionState === 'AVAILABLE');
      expect(deployer.tearDowns.map((t) => t.nodeId)).toContain(rawId(node.id));
      expect(deployer.cleans.map((t) => t.nodeId)).toContain(rawId(node.id));
    } finally {
      s.stratus.runtime.baremetal!.config.automatedClean = false;
    }
    const states = await query<{ state: string }>(
      s,
      `select payload->>'provisionState' as state from events where resource_type = 'node' and resource_id = $1 order by id`,
      [rawId(node.id)],
    );
    const seen = states.map((r) => r.state).filter((p, i, all) => p !== all[i - 1]);
    expect(seen).toEqual([
      'enroll',
      'deploying',
      'wait call-back',
      'active',
      'deleting',
      'cleaning',
      'clean wait',
      'available',
    ]);
  });

  it('a deploy that fails lands in deploy failed with the error; abort in wait call-back too', async () => {
    const node = await availableNode();
    await provision({ id: node.id, target: 'DEPLOY', imageId });
    await waitForDeployers(1);
    deployer.failDeploy = 'no call-back within 1800000 ms';
    deployer.callBack();
    const failed = await waitForNode(s, node.id, (n) => n.provisionState === 'DEPLOY_FAILED');
    expect(failed.lastError).toContain('no call-back');
    deployer.failDeploy = null;

    const other = await availableNode();
    const started = await provision({ id: other.id, target: 'DEPLOY', imageId });
    await waitForDeployers(1);
    await waitForNode(s, other.id, (n) => n.provisionState === 'WAIT_CALL_BACK');
    const aborted = await provision({ id: other.id, target: 'ABORT' });
    expect(aborted.started).toMatchObject({
      node: { provisionState: 'DEPLOY_FAILED' },
      operation: null,
    });
    // The deploy returning later changes nothing: the abort took the node from its job.
    deployer.callBack();
    const opId = rawId(started.started.operation.id);
    const deadline = Date.now() + 30_000;
    let op: { status: string; error_code: string | null } | undefined;
    while (Date.now() < deadline) {
      [op] = await query(s, 'select status, error_code from operations where id = $1', [opId]);
      if (op?.status === 'FAILED' || op?.status === 'SUCCEEDED') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(op).toEqual({ status: 'FAILED', error_code: 'ABORTED' });
    expect((await waitForNode(s, other.id, () => true)).provisionState).toBe('DEPLOY_FAILED');
  });

  it('provide with automated cleaning on and no deployer: FeatureDisabledError, nothing changes', async () => {
    const node = await enroll(s, enrollInput());
    await query(s, `update baremetal_nodes set provision_state = 'manageable' where id = $1`, [
      rawId(node.id),
    ]);
    s.stratus.runtime.baremetal!.config.automatedClean = true;
    s.stratus.runtime.nodeDeployer = null;
    try {
      const refused = await provision({ id: node.id, target: 'PROVIDE' });
      expect(refused.__typename).toBe('FeatureDisabledError');
      expect(refused.message).toContain('STRATUS_BAREMETAL_AUTOMATED_CLEAN');
    } finally {
      s.stratus.runtime.baremetal!.config.automatedClean = false;
      s.stratus.runtime.nodeDeployer = deployer;
    }
    expect((await waitForNode(s, node.id, () => true)).provisionState).toBe('MANAGEABLE');
  });
});

describe('scheduling for compute', () => {
  it('claims an available node of the class once, skips maintenance, releases and deploys it', async () => {
    const rt = s.stratus.runtime;
    const spare = await availableNode('gold-class');
    await s.ok(MAINTENANCE, { input: { id: spare.id, on: true, reason: 'bad fan' } }, s.adminToken);
    const free = await availableNode('gold-class');
    const server1 = '00000000-0000-4000-8000-000000000001';
    const server2 = '00000000-0000-4000-8000-000000000002';
    const claimed = await inTransaction(rt, (tx) =>
      claimAvailableNode(tx, { resourceClass: 'gold-class', instanceId: server1 }),
    );
    expect(claimed?.id).toBe(rawId(free.id));
    expect(claimed?.instanceId).toBe(server1);
    const none = await inTransaction(rt, (tx) =>
      claimAvailableNode(tx, { resourceClass: 'gold-class', instanceId: server2 }),
    );
    expect(none).toBeNull();
    expect(
      await inTransaction(rt, (tx) =>
        claimAvailableNode(tx, { resourceClass: 'silver', instanceId: server2 }),
      ),
    ).toBeNull();

    const change = await deployNodeForServer(rt, claimed!.id, {
      imageId: rawId(imageId),
      userData: null,
    });
    expect(change.node.provisionState).toBe('deploying');
    await waitForDeployers(1);
    deployer.callBack();
    await waitForNode(s, free.id, (n) => n.provisionState === 'ACTIVE');

    await inTransaction(rt, (tx) => releaseNode(tx, claimed!.id));
    const [row] = await query<{ instance_id: string | null }>(
      s,
      'select instance_id from baremetal_nodes where id = $1',
      [claimed!.id],
    );
    expect(row.instance_id).toBeNull();
  });
});
