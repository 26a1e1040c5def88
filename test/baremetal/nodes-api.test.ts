import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialBox, loadCredentialKey } from '../../resolvers/baremetal/credentials';
import { createNetwork } from '../network/networks-support';
import { rawId } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import {
  baremetalOverrides,
  CREDENTIAL_KEY,
  DELETE,
  ENROLL,
  enroll,
  enrollInput,
  getNode,
  MAINTENANCE,
  NODE_FIELDS,
  POWER,
  PROVISION,
  query,
} from './support-nodes';

/**
 * The node API without a BMC behind it: enroll and its bad input, the password at rest,
 * node ports bound to Stratus ports, state errors, maintenance, admin-only access, events.
 * (The BMC-driven lifecycle is nodes-bmc.test.ts.)
 */

let s: TestStratus;
let member: SeededUser;

beforeAll(async () => {
  s = await startTestStratus(baremetalOverrides());
  // This file tests the API without network booting (H2's PXE deployer has its own tests).
  s.stratus.runtime.nodeDeployer = null;
  const seed = new Seed(s);
  member = await seed.member('member', await seed.project('bm-project'));
});
afterAll(() => s?.stop());

const counts = async () => {
  const [row] = await query<{ nodes: number; bmports: number; ports: number }>(
    s,
    `select (select count(*) from baremetal_nodes)::int as nodes,
            (select count(*) from baremetal_ports)::int as bmports,
            (select count(*) from ports where device_owner = 'baremetal:none')::int as ports`,
  );
  return row;
};

describe('enroll', () => {
  it('enrolls a node in enroll; the API shows the BMC without its password', async () => {
    const node = await enroll(s, enrollInput({ password: 'plain-Secret-9' }));
    expect(node).toMatchObject({
      driver: 'ipmi',
      provisionState: 'ENROLL',
      powerState: null,
      maintenance: false,
      bmc: {
        address: '127.0.0.1',
        port: 623,
        username: 'admin',
        interface: 'lanplus',
        passwordSet: true,
      },
      properties: { cpus: 4, memoryMb: 8192, localGb: 100, cpuArch: 'x86_64' },
    });
    expect(JSON.stringify(node)).not.toContain('plain-Secret-9');
  });

  it('keeps the BMC password encrypted at rest, in the node row and in its events', async () => {
    const node = await enroll(s, enrollInput({ password: 'At-Rest-Secret' }));
    const [row] = await query<{ sealed: string; whole: string }>(
      s,
      'select bmc_password_sealed as sealed, row_to_json(n)::text as whole from baremetal_nodes n where id = $1',
      [rawId(node.id)],
    );
    expect(row.whole).not.toContain('At-Rest-Secret');
    expect(row.sealed).toMatch(/^v1\./);
    // Sealed with the configured key (AES-256-GCM), and with nothing else.
    const box = new CredentialBox(Buffer.from(CREDENTIAL_KEY, 'base64'));
    expect(box.open(row.sealed)).toBe('At-Rest-Secret');
    const other = new CredentialBox(Buffer.alloc(32, 7));
    expect(() => other.open(row.sealed)).toThrow();
    const events = await query<{ payload: string }>(
      s,
      `select payload::text from events where resource_type = 'node' and resource_id = $1`,
      [rawId(node.id)],
    );
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) {
      expect(e.payload).not.toContain('At-Rest-Secret');
      expect(e.payload).not.toContain(row.sealed);
    }
  });

  it('refuses bad input with the field named, writing nothing', async () => {
    const taken = await enroll(
      s,
      enrollInput({}, { ports: [{ macAddress: '52:54:00:aa:00:01' }] }),
    );
    const before = await counts();
    const cases: Array<[Record<string, unknown>, string]> = [
      [enrollInput({ address: 'not a host!' }), 'input.bmc.address'],
      [enrollInput({ port: 70000 }), 'input.bmc.port'],
      [enrollInput({ password: '' }), 'input.bmc.password'],
      [enrollInput({ username: '' }), 'input.bmc.username'],
      [enrollInput({ password: 'x'.repeat(21) }), 'input.bmc.password'],
      [enrollInput({ interface: 'serial' }), 'input.bmc.interface'],
      [enrollInput({}, { driver: 'redfish' }), 'input.driver'],
      [enrollInput({}, { resourceClass: 'has space' }), 'input.resourceClass'],
      [
        enrollInput({}, { properties: { cpus: 0, memoryMb: 1, localGb: 1, cpuArch: 'x86_64' } }),
        'input.properties.cpus',
      ],
      [
        enrollInput({}, { ports: [{ macAddress: 'zz:00:00:00:00:01' }] }),
        'input.ports.0.macAddress',
      ],
      [
        enrollInput({}, { ports: [{ macAddress: '01:00:5e:00:00:01' }] }),
        'input.ports.0.macAddress',
      ],
      [
        enrollInput(
          {},
          { ports: [{ macAddress: '52:54:00:aa:00:02' }, { macAddress: '52:54:00:AA:00:02' }] },
        ),
        'input.ports.1.macAddress',
      ],
      [
        enrollInput(
          {},
          { ports: [{ macAddress: '52:54:00:aa:00:03' }, { macAddress: '52:54:00:aa:00:01' }] },
        ),
        'input.ports.1.macAddress',
      ],
      [
        enrollInput(
          {},
          { ports: [{ macAddress: '52:54:00:aa:00:04', networkId: 'TmV0d29yazpiYWQ=' }] },
        ),
        'input.ports.0.networkId',
      ],
      [enrollInput({}, { name: taken.name }), 'input.name'],
    ];
    for (const [input, field] of cases) {
      const result = await s.gql(ENROLL, { input }, s.adminToken);
      const payload = result.data?.enrollNode;
      expect(payload?.field, `${field}: ${JSON.stringify(result)}`).toBe(field);
      expect(payload.message).not.toContain('secret-pw');
    }
    expect(await counts()).toEqual(before);
  });

  it('binds a port with a network to a Stratus port with its MAC; delete removes both', async () => {
    const network = await createNetwork(s, s.adminToken, { name: 'provisioning' });
    const before = await counts();
    const node = await enroll(
      s,
      enrollInput(
        {},
        {
          ports: [
            { macAddress: '52:54:00:BB:00:01', networkId: network.id },
            { macAddress: '52:54:00:bb:00:02' },
          ],
        },
      ),
    );
    expect(node.ports).toMatchObject([
      {
        macAddress: '52:54:00:bb:00:01',
        network: { id: network.id },
        port: { macAddress: '52:54:00:bb:00:01' },
      },
      { macAddress: '52:54:00:bb:00:02', network: null, port: null },
    ]);
    const [port] = await query<{ device_id: string; device_owner: string }>(
      s,
      'select device_id, device_owner from ports where id = $1',
      [rawId(node.ports[0].port.id)],
    );
    expect(port).toEqual({ device_id: rawId(node.id), device_owner: 'baremetal:none' });
    // The MAC is now taken on that network: a second node cannot claim it, nothing written.
    const again = await s.gql(
      ENROLL,
      {
        input: enrollInput(
          {},
          { ports: [{ macAddress: '52:54:00:bb:00:01', networkId: network.id }] },
        ),
      },
      s.adminToken,
    );
    expect(again.data.enrollNode.field).toBe('input.ports.0.macAddress');
    const deleted = await s.ok(DELETE, { input: { id: node.id } }, s.adminToken);
    expect(deleted.deleteNode.__typename).toBe('DeleteNodeSuccess');
    expect(await counts()).toEqual(before);
  });
});

describe('update', () => {
  const UPDATE = `mutation($input: UpdateNodeInput!) { updateNode(input: $input) {
    __typename ... on Error { message } ... on InvalidInputError { field } ... on NameTakenError { field }
    ... on UpdateNodeSuccess { node { ${NODE_FIELDS} } } } }`;

  it('renames, moves the BMC and reseals a new password; bad fields are named, nothing changes', async () => {
    const a = await enroll(s, enrollInput());
    const b = await enroll(s, enrollInput());
    const sealed = async () =>
      (
        await query<{ s: string }>(
          s,
          'select bmc_password_sealed as s from baremetal_nodes where id = $1',
          [rawId(a.id)],
        )
      )[0].s;
    const before = await sealed();
    const ok = await s.ok(
      UPDATE,
      {
        input: {
          id: a.id,
          name: 'renamed',
          bmc: { port: 6230, password: 'New-Secret-1' },
          properties: { cpus: 8 },
        },
      },
      s.adminToken,
    );
    expect(ok.updateNode.node).toMatchObject({
      name: 'renamed',
      bmc: { port: 6230, passwordSet: true },
      properties: { cpus: 8, memoryMb: 8192 },
    });
    const after = await sealed();
    expect(after).not.toBe(before);
    expect(new CredentialBox(Buffer.from(CREDENTIAL_KEY, 'base64')).open(after)).toBe(
      'New-Secret-1',
    );
    for (const [input, field] of [
      [{ id: a.id, name: b.name }, 'input.name'],
      [{ id: a.id, bmc: { port: 0 } }, 'input.bmc.port'],
      [{ id: a.id, bmc: { address: '' } }, 'input.bmc.address'],
      [{ id: a.id, resourceClass: '' }, 'input.resourceClass'],
    ] as const) {
      const bad = await s.ok(UPDATE, { input }, s.adminToken);
      expect(bad.updateNode.field, JSON.stringify(bad)).toBe(field);
    }
    expect(await sealed()).toBe(after);
    expect((await getNode(s, a.id)).name).toBe('renamed');
  });
});

describe('provision states', () => {
  it('refuses a verb not valid in the current state with NodeStateError, changing nothing', async () => {
    const node = await enroll(s, enrollInput());
    for (const target of ['PROVIDE', 'INSPECT', 'DELETED', 'ABORT'] as const) {
      const result = await s.ok(PROVISION, { input: { id: node.id, target } }, s.adminToken);
      expect(result.setNodeProvisionState).toMatchObject({
        __typename: 'NodeStateError',
        provisionState: 'enroll',
      });
      expect(result.setNodeProvisionState.message).toContain('enroll');
    }
    expect((await getNode(s, node.id)).provisionState).toBe('ENROLL');
    const ops = await query(s, `select id from operations where resource_id = $1`, [
      rawId(node.id),
    ]);
    expect(ops).toEqual([]);
  });

  it('refuses to deploy a manageable node, and to delete an active one', async () => {
    const node = await enroll(s, enrollInput());
    await query(s, `update baremetal_nodes set provision_state = 'manageable' where id = $1`, [
      rawId(node.id),
    ]);
    const image = 'SW1hZ2U6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw';
    const deploy = await s.ok(
      PROVISION,
      { input: { id: node.id, target: 'DEPLOY', imageId: image } },
      s.adminToken,
    );
    expect(deploy.setNodeProvisionState.__typename).toBe('InvalidInputError');
    await query(s, `update baremetal_nodes set provision_state = 'active' where id = $1`, [
      rawId(node.id),
    ]);
    const del = await s.ok(DELETE, { input: { id: node.id } }, s.adminToken);
    expect(del.deleteNode).toMatchObject({
      __typename: 'NodeStateError',
      provisionState: 'active',
    });
    expect((await getNode(s, node.id)).provisionState).toBe('ACTIVE');
  });

  it('answers FeatureDisabledError for deploy without a network-boot deployer', async () => {
    const node = await enroll(s, enrollInput());
    await query(s, `update baremetal_nodes set provision_state = 'manageable' where id = $1`, [
      rawId(node.id),
    ]);
    // Deploying a manageable node: the state is checked first.
    const [img] = await query<{ id: string }>(
      s,
      `insert into images (name, status, owner_project_id, visibility, disk_format, container_format)
       select 'bm-image', 'active', id, 'public', 'raw', 'bare' from projects limit 1 returning id`,
    ).catch(() => [{ id: '' }]);
    if (img.id) {
      const imageId = Buffer.from(`Image:${img.id}`).toString('base64');
      const wrong = await s.ok(
        PROVISION,
        { input: { id: node.id, target: 'DEPLOY', imageId } },
        s.adminToken,
      );
      expect(wrong.setNodeProvisionState).toMatchObject({
        __typename: 'NodeStateError',
        provisionState: 'manageable',
      });
      await query(s, `update baremetal_nodes set provision_state = 'available' where id = $1`, [
        rawId(node.id),
      ]);
      const off = await s.ok(
        PROVISION,
        { input: { id: node.id, target: 'DEPLOY', imageId } },
        s.adminToken,
      );
      expect(off.setNodeProvisionState.__typename).toBe('FeatureDisabledError');
      expect((await getNode(s, node.id)).provisionState).toBe('AVAILABLE');
    }
  });

  it('puts a node in maintenance with a reason and out again; filters list it', async () => {
    const node = await enroll(s, enrollInput({}, { resourceClass: 'gold' }));
    const on = await s.ok(
      MAINTENANCE,
      { input: { id: node.id, on: true, reason: 'disk swap' } },
      s.adminToken,
    );
    expect(on.setNodeMaintenance.node).toMatchObject({
      maintenance: true,
      maintenanceReason: 'disk swap',
    });
    const list = await s.ok(
      `{ a: baremetalNodes(filter: { maintenance: true, resourceClass: "gold" }) { totalCount edges { node { id } } }
         b: baremetalNodes(filter: { provisionState: ACTIVE, resourceClass: "gold" }) { totalCount } }`,
      {},
      s.adminToken,
    );
    expect(list.a.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([node.id]);
    expect(list.b.totalCount).toBe(0);
    const off = await s.ok(MAINTENANCE, { input: { id: node.id, on: false } }, s.adminToken);
    expect(off.setNodeMaintenance.node).toMatchObject({
      maintenance: false,
      maintenanceReason: null,
    });
  });

  it('streams every change of a node to an admin subscription', async () => {
    const node = await enroll(s, enrollInput());
    const sub = s.subscribe(
      `subscription($id: ID!) { baremetalNode(id: $id) { id maintenance maintenanceReason } }`,
      { id: node.id },
      s.adminToken,
    );
    await sub.waitFor(1);
    await s.ok(MAINTENANCE, { input: { id: node.id, on: true, reason: 'r1' } }, s.adminToken);
    await s.ok(MAINTENANCE, { input: { id: node.id, on: false } }, s.adminToken);
    const values = await sub.waitFor(3);
    expect(values.map((v) => v.data.baremetalNode.maintenanceReason)).toEqual([null, 'r1', null]);
    await s.ok(DELETE, { input: { id: node.id } }, s.adminToken);
    await sub.ended;
    sub.close();
  });
});

describe('admin only', () => {
  it('a member sees no nodes and may not enroll, power or provision', async () => {
    const node = await enroll(s, enrollInput());
    const listed = await s.gql(`{ baremetalNodes { totalCount } }`, {}, member.token);
    expect(listed.data?.baremetalNodes ?? null).toBeNull();
    expect(listed.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const relay = await s.gql(
      `query($id: ID!) { node(id: $id) { id } }`,
      { id: node.id },
      member.token,
    );
    expect(relay.data?.node ?? null).toBeNull();
    const enrolled = await s.gql(ENROLL, { input: enrollInput() }, member.token);
    expect(enrolled.data?.enrollNode?.__typename ?? enrolled.errors?.[0]?.extensions?.code).toMatch(
      /Forbidden|FORBIDDEN/,
    );
    const power = await s.gql(POWER, { input: { id: node.id, target: 'POWER_ON' } }, member.token);
    expect(power.data?.setNodePower?.__typename ?? power.errors?.[0]?.extensions?.code).toMatch(
      /Forbidden|FORBIDDEN/,
    );
    const sub = s.subscribe(`subscription { baremetalNodes { ${NODE_FIELDS} } }`, {}, member.token);
    const [first] = await sub.waitFor(1);
    expect(JSON.stringify(first)).toMatch(/FORBIDDEN/);
    sub.close();
  });
});

describe('credential key', () => {
  it('is made once in the data folder with mode 0600 and reused; a bad configured key fails', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stratus-key-'));
    const first = loadCredentialKey(null, dir);
    const file = path.join(dir, 'credential.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadCredentialKey(null, dir).equals(first)).toBe(true);
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')).toHaveLength(32);
    expect(() => loadCredentialKey(Buffer.alloc(16).toString('base64'), dir)).toThrow(/32 bytes/);
    const box = new CredentialBox(first);
    const sealed = box.seal('pw');
    expect(sealed).not.toContain('pw');
    expect(box.open(sealed)).toBe('pw');
    expect(() => box.open(`${sealed.slice(0, -2)}AA`)).toThrow();
  });
});
