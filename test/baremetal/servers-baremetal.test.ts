import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployRequest, DeployTarget, NodeDeployer } from '../../resolvers/baremetal/deployer';
import {
  baremetalClassOf,
  normalizeResourceClass,
} from '../../resolvers/compute/baremetal-servers';
import {
  BASIC_ERROR_FIELDS,
  createFlavor,
  createServer,
  emptyDisk,
  getServer,
  rawId,
  serverAction,
  uploadImage,
  waitForOperation,
  waitForStatus,
} from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';
import { quotaInUse, uniq } from '../support/servers';
import { baremetalOverrides, enroll, enrollInput, query, waitForNode } from './support-nodes';

/**
 * createServer with a bare-metal flavor (Nova's ironic driver): the build claims an available
 * node of the flavor's resource class and deploys it through the nodes' state machine; the
 * server follows the node. A test deployer stands in for network booting here (the PXE deploy
 * is the deployer's own test); the API, jobs, node states and PostgreSQL are real.
 */

class TestDeployer implements NodeDeployer {
  deploys: DeployRequest[] = [];
  tearDowns: string[] = [];
  cleans: string[] = [];
  failDeploy: string | null = null;
  unavailable(): string | null {
    return null;
  }
  async deploy(_rt: unknown, request: DeployRequest): Promise<{ report: string }> {
    this.deploys.push(request);
    await request.onStage?.('wait call-back');
    if (this.failDeploy) throw new Error(this.failDeploy);
    return { report: `STRATUS-GUEST-BOOT-OK ${request.imageId}` };
  }
  async clean(_rt: unknown, target: DeployTarget): Promise<void> {
    this.cleans.push(target.nodeId);
  }
  async tearDown(_rt: unknown, target: DeployTarget): Promise<void> {
    this.tearDowns.push(target.nodeId);
  }
}

const FLAVOR = `mutation($input: CreateFlavorInput!) { createFlavor(input: $input) {
  ${BASIC_ERROR_FIELDS} ... on CreateFlavorSuccess { flavor { id } } } }`;

let s: TestStratus;
let deployer: TestDeployer;
let imageId: string;
let member: { token: string; projectId: string };

async function baremetalFlavor(resourceClass: string): Promise<string> {
  const data = await s.ok(
    FLAVOR,
    {
      input: {
        name: uniq('bm'),
        vcpus: 4,
        ramMib: 8192,
        rootDiskGib: 1,
        extraSpecs: {
          [`resources:${normalizeResourceClass(resourceClass)}`]: '1',
          'resources:VCPU': '0',
          'resources:MEMORY_MB': '0',
          'resources:DISK_GB': '0',
        },
      },
    },
    s.adminToken,
  );
  return data.createFlavor.flavor.id;
}

async function availableNode(resourceClass: string) {
  const node = await enroll(s, enrollInput({}, { resourceClass }));
  // As `provide` leaves it (no BMC is called here).
  await query(s, `update baremetal_nodes set provision_state = 'available' where id = $1`, [
    rawId(node.id),
  ]);
  return node;
}

const nodeRow = async (id: string) =>
  (
    await query<{ provision_state: string; instance_id: string | null }>(
      s,
      'select provision_state, instance_id from baremetal_nodes where id = $1',
      [rawId(id)],
    )
  )[0];

beforeAll(async () => {
  s = await startTestStratus(baremetalOverrides({ automatedClean: true }));
  deployer = new TestDeployer();
  s.stratus.runtime.nodeDeployer = deployer;
  imageId = await uploadImage(
    s,
    s.adminToken,
    { name: 'bm-disk', diskFormat: 'raw', visibility: 'public' },
    emptyDisk(),
  );
  const seeded = await new Seed(s).member('member');
  member = { token: seeded.token!, projectId: seeded.projectId };
});
afterAll(async () => {
  await s?.stop();
});

describe('flavors that ask for a node', () => {
  it('normalizes resource classes as Placement and reads resources:CUSTOM_* from extra specs', () => {
    expect(normalizeResourceClass('baremetal-gold.1')).toBe('CUSTOM_BAREMETAL_GOLD_1');
    expect(normalizeResourceClass('CUSTOM_X')).toBe('CUSTOM_X');
    expect(baremetalClassOf({ 'resources:CUSTOM_GOLD': '1', 'resources:VCPU': '0' })).toBe(
      'CUSTOM_GOLD',
    );
    expect(baremetalClassOf({ 'resources:CUSTOM_GOLD': '0' })).toBeNull();
    expect(baremetalClassOf({ 'hw:cpu_policy': 'dedicated' })).toBeNull();
  });
});

describe('servers on bare-metal nodes', () => {
  it('createServer → node deployed → ACTIVE; member sees the server, not the node; delete undeploys, cleans and frees the node', async () => {
    const cls = `bm-${rawId(imageId).slice(0, 6)}`;
    const flavorId = await baremetalFlavor(cls);
    const node = await availableNode(cls);
    const before = await quotaInUse(s, member.projectId);
    const created = await createServer(s, member.token, {
      name: 'metal-1',
      flavorId,
      imageId,
      userData: '#!/bin/sh\necho hello-metal',
    });
    expect(created.__typename).toBe('CreateServerSuccess');
    const serverId = created.created.server.id;
    const active = await waitForStatus(s, member.token, serverId, 'ACTIVE', 60_000);
    expect(active.powerState).toBe('running');
    const row = await nodeRow(node.id);
    expect(row).toEqual({ provision_state: 'active', instance_id: rawId(serverId) });
    const request = deployer.deploys.find((d) => d.nodeId === rawId(node.id))!;
    expect(request).toMatchObject({
      imageId: rawId(imageId),
      userData: '#!/bin/sh\necho hello-metal',
    });
    // Quota as Nova counts it: one instance and the flavor's vcpus and RAM.
    const during = await quotaInUse(s, member.projectId);
    expect(during.instances - (before.instances ?? 0)).toBe(1);
    expect(during.cores - (before.cores ?? 0)).toBe(4);

    // Isolation: the member sees the server; nodes are admin-only.
    const nodes = await s.gql(`{ baremetalNodes { edges { node { id } } } }`, {}, member.token);
    expect(JSON.stringify(nodes)).not.toContain(node.id);
    const linked = `query($id: ID!) { node(id: $id) { ... on Server { baremetalNode { id provisionState } } } }`;
    expect((await s.ok(linked, { id: serverId }, s.adminToken)).node.baremetalNode).toEqual({
      id: node.id,
      provisionState: 'ACTIVE',
    });
    expect((await s.ok(linked, { id: serverId }, member.token)).node.baremetalNode).toBeNull();
    const other = await new Seed(s).member('member');
    expect(await getServer(s, other.token!, serverId)).toBeNull();

    // Actions a machine cannot do are refused as state errors, nothing changes.
    const paused = await serverAction(s, member.token, 'pauseServer', { id: serverId });
    expect(paused.__typename).toBe('ServerStateError');
    expect(paused.message).toContain('not supported on bare metal');
    expect((await getServer(s, member.token, serverId)).status).toBe('ACTIVE');

    const deleted = await serverAction(s, member.token, 'deleteServer', { id: serverId });
    expect(deleted.__typename).toBe('DeleteServerSuccess');
    const op = await waitForOperation(s, member.token, deleted.started.operation.id, 60_000);
    expect(op.status).toBe('SUCCEEDED');
    await waitForNode(s, node.id, (n) => n.provisionState === 'AVAILABLE');
    expect(await nodeRow(node.id)).toEqual({ provision_state: 'available', instance_id: null });
    expect(deployer.tearDowns).toContain(rawId(node.id));
    expect(deployer.cleans).toContain(rawId(node.id));
    expect(await quotaInUse(s, member.projectId)).toEqual(before);
  });

  it('no node free: ERROR with NO_VALID_HOST and nothing claimed', async () => {
    const cls = `none-${rawId(imageId).slice(0, 6)}`;
    const flavorId = await baremetalFlavor(cls);
    // A node of the class in maintenance, and one of another class, are not candidates.
    const busy = await availableNode(cls);
    await query(s, 'update baremetal_nodes set maintenance = true where id = $1', [rawId(busy.id)]);
    const otherClass = await availableNode(`${cls}-other`);
    const created = await createServer(s, member.token, { name: 'metal-none', flavorId, imageId });
    const serverId = created.created.server.id;
    const failed = await waitForStatus(s, member.token, serverId, 'ERROR', 30_000);
    expect(failed.fault.message).toContain(
      `No available bare-metal node of resource class CUSTOM_`,
    );
    const op = await waitForOperation(s, member.token, created.created.operation.id);
    expect(op.error.code).toBe('NO_VALID_HOST');
    expect((await nodeRow(busy.id)).instance_id).toBeNull();
    expect(await nodeRow(otherClass.id)).toEqual({
      provision_state: 'available',
      instance_id: null,
    });
  });

  it('a failed deploy: server ERROR with the fault; the node is undeployed, cleaned and released', async () => {
    const cls = `fail-${rawId(imageId).slice(0, 6)}`;
    const flavorId = await baremetalFlavor(cls);
    const node = await availableNode(cls);
    deployer.failDeploy = 'no call-back within 1800000 ms';
    try {
      const created = await createServer(s, member.token, { name: 'metal-x', flavorId, imageId });
      const serverId = created.created.server.id;
      const failed = await waitForStatus(s, member.token, serverId, 'ERROR', 30_000);
      expect(failed.fault).toMatchObject({ code: 500, message: 'Build of the server failed' });
      const op = await waitForOperation(s, member.token, created.created.operation.id);
      expect(op.error.code).toBe('DEPLOY_FAILED');
      expect(op.error.message).toContain('no call-back');
    } finally {
      deployer.failDeploy = null;
    }
    await waitForNode(s, node.id, (n) => n.provisionState === 'AVAILABLE');
    expect((await nodeRow(node.id)).instance_id).toBeNull();
  });

  it('networks and boot volumes are refused for a bare-metal flavor, nothing created', async () => {
    const flavorId = await baremetalFlavor('bad-input');
    const count = async () =>
      (
        await query(s, 'select count(*)::int as n from servers where project_id = $1', [
          rawId(member.projectId),
        ])
      )[0].n;
    const before = await count();
    const refused = await createServer(s, member.token, {
      name: 'metal-net',
      flavorId,
      imageId,
      networks: [
        {
          networkId: Buffer.from('Network:00000000-0000-4000-8000-000000000001').toString('base64'),
        },
      ],
    });
    expect(refused).toMatchObject({ __typename: 'InvalidInputError', field: 'input.networks' });
    expect(await count()).toBe(before);
  });

  it('a VM cannot be resized to a bare-metal flavor', async () => {
    const vmFlavor = await createFlavor(s, {
      name: uniq('vm'),
      vcpus: 1,
      ramMib: 128,
      rootDiskGib: 1,
    });
    const created = await createServer(s, member.token, {
      name: 'vm-1',
      flavorId: vmFlavor,
      imageId,
    });
    const serverId = created.created.server.id;
    await waitForStatus(s, member.token, serverId, 'ACTIVE', 30_000);
    const refused = await serverAction(
      s,
      member.token,
      'resizeServer',
      { id: serverId, flavorId: await baremetalFlavor('resize-target') },
      'ResizeServerInput',
    );
    expect(refused).toMatchObject({ __typename: 'InvalidInputError', field: 'input.flavorId' });
    expect((await getServer(s, member.token, serverId)).status).toBe('ACTIVE');
  });
});
