import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadComputeDriver } from '../../drivers/compute/index';
import { type ComputeConfig, loadConfig, type NetworkConfig } from '../../server/config';
import { namespaces, ovsSkipReason, testBridge } from '../network/driver-ovs-support';
import { made } from '../network/networks-support';
import { createFlavor, qemuCompute, uploadTestGuest } from '../support/compute';
import {
  createTestDatabase,
  dropTestDatabase,
  type Json,
  startTestStratus,
  type TestStratus,
} from '../support/harness';
import { qemuSkipReason } from '../support/host-tools';
import { clearDataPath, hostPings, removeRealDrivers } from '../support/real-drivers';
import { Seed } from '../support/seed';
import { createStack, settled, stackMutation, waitForStack } from './api-support';

/**
 * A HOT template as a user runs it on OpenStack, on the real drivers: a QEMU (TCG) server on
 * a new Open vSwitch network behind a router, with a security group, a floating IP the host
 * pings, a qcow2 volume attached, and an object container. Delete leaves nothing in the API,
 * no qemu process, no namespace, no volume file.
 */

const skipReason = qemuSkipReason() ?? ovsSkipReason();
const skip = skipReason !== null;
const title = skip
  ? `a stack on the real drivers (skipped: ${skipReason})`
  : 'a stack on the real drivers (QEMU, OVS, qcow2, filesystem objects)';

const WAIT = 240_000;

const TEMPLATE = `heat_template_version: 2018-08-31
description: web server on its own network, reachable on a floating IP, with a data volume
parameters:
  image: {type: string}
  flavor: {type: string, default: stack.small}
  public: {type: string, default: public}
resources:
  net: {type: OS::Neutron::Net, properties: {name: app}}
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: 10.41.0.0/24}
  router:
    type: OS::Neutron::Router
    properties: {external_gateway_info: {network: {get_param: public}}}
  iface:
    type: OS::Neutron::RouterInterface
    properties: {router: {get_resource: router}, subnet: {get_resource: subnet}}
  sg:
    type: OS::Neutron::SecurityGroup
    properties:
      rules: [{protocol: icmp, remote_ip_prefix: 0.0.0.0/0}]
  port:
    type: OS::Neutron::Port
    properties:
      network: {get_resource: net}
      security_groups: [{get_resource: sg}]
  server:
    type: OS::Nova::Server
    properties:
      image: {get_param: image}
      flavor: {get_param: flavor}
      networks: [{port: {get_resource: port}}]
  fip:
    type: OS::Neutron::FloatingIP
    properties: {floating_network: {get_param: public}, port_id: {get_resource: port}}
  data:
    type: OS::Cinder::Volume
    properties: {size: 1, name: app-data}
  attach:
    type: OS::Cinder::VolumeAttachment
    properties: {instance_uuid: {get_resource: server}, volume_id: {get_resource: data}}
  bucket:
    type: OS::Swift::Container
outputs:
  address: {value: {get_attr: [server, first_address]}}
  floating: {value: {get_attr: [fip, floating_ip_address]}}
  volume_status: {value: {get_attr: [data, status]}}
`;

async function until(probe: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.skipIf(skip)(title, () => {
  let s: TestStratus;
  let databaseUrl: string;
  let objectsRoot: string;
  let volumesRoot: string;
  let compute: ComputeConfig;
  let network: NetworkConfig;
  let token: string;
  let imageId: string;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    objectsRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-stack-objects-'));
    volumesRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-stack-volumes-'));
    const base = loadConfig({});
    compute = qemuCompute(base.compute);
    network = {
      ...base.network,
      driver: 'ovs',
      driverConfig: {
        bridge: testBridge(),
        stateDir: await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-stack-ovs-')),
      },
    };
    s = await startTestStratus(
      {
        compute,
        network,
        objects: { ...base.objects, driverConfig: { root: objectsRoot } },
        volume: { ...base.volume, driverConfig: { root: volumesRoot } },
      },
      databaseUrl,
    );
    const ext = await made(
      s,
      s.adminToken,
      'createNetwork',
      { name: 'public', external: true, shared: true },
      'network',
    );
    await made(
      s,
      s.adminToken,
      'createSubnet',
      { networkId: ext.id, cidr: '172.31.41.0/24', enableDhcp: false },
      'subnet',
    );
    await createFlavor(s, { name: 'stack.small', vcpus: 1, ramMib: 256 });
    token = (await new Seed(s).member('member')).token!;
    imageId = await uploadTestGuest(s, token);
  }, 15 * 60_000);

  afterAll(async () => {
    if (s) {
      // A failed run may leave the stack: its servers first (so their taps go the normal
      // way), then what the data path still has (namespaces, dnsmasq, the host's gateway
      // veth, whose route would break the next run's floating IPs), then Stratus.
      const { stacks } = await s.ok('{ stacks { edges { node { id } } } }', {}, token);
      for (const e of stacks.edges as Json[]) {
        await stackMutation(s, token, 'deleteStack', 'DeleteStackInput', { id: e.node.id });
        await waitForStack(s, token, e.node.id, (st) => st === null, 'id status', WAIT).catch(
          () => {},
        );
      }
      await clearDataPath(s);
      await s.stop();
    }
    await removeRealDrivers(compute, network);
    if (databaseUrl) await dropTestDatabase(databaseUrl);
    for (const dir of [objectsRoot, volumesRoot])
      if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, WAIT);

  it(
    'creates the server on its network with a floating IP and a volume, then deletes everything',
    async () => {
      const created = await createStack(s, token, {
        name: 'web',
        template: TEMPLATE,
        parameters: { image: imageId },
      });
      expect(created.__typename, JSON.stringify(created)).toBe('CreateStackSuccess');
      const id = created.stack.id;
      const FIELDS = `id status statusReason outputs { key value error }
        resources { edges { node { name status statusReason physicalResourceId physicalResource {
          __typename ... on Server { serverStatus: status } ... on Volume { volumeStatus: status } } } } }`;
      const done = await waitForStack(s, token, id, settled, FIELDS, WAIT);
      expect(done!.status, JSON.stringify(done)).toBe('CREATE_COMPLETE');
      const outputs = Object.fromEntries(done!.outputs.map((o: Json) => [o.key, o.value]));
      expect(outputs.address).toMatch(/^10\.41\.0\./);
      expect(outputs.floating).toMatch(/^172\.31\.41\./);
      const nodes = Object.fromEntries(
        done!.resources.edges.map((e: Json) => [e.node.name, e.node.physicalResource]),
      );
      expect(nodes.server).toEqual({ __typename: 'Server', serverStatus: 'ACTIVE' });
      expect(nodes.data).toEqual({ __typename: 'Volume', volumeStatus: 'IN_USE' });
      const physical = Object.fromEntries(
        done!.resources.edges.map((e: Json) => [e.node.name, e.node.physicalResourceId]),
      );

      // The guest took its port's address by DHCP, and the host reaches it on the floating IP.
      const consoleOf = async () => {
        const { servers } = await s.ok(
          '{ servers { edges { node { consoleOutput } } } }',
          {},
          token,
        );
        return servers.edges.map((e: Json) => e.node.consoleOutput ?? '').join('\n');
      };
      await until(
        async () => (await consoleOf()).includes(`STRATUS-ADDR eth0 ${outputs.address}`),
        'the guest to report its DHCP address',
      );
      await until(() => hostPings(outputs.floating), `the host pinging ${outputs.floating}`).catch(
        (err) => {
          // What the data path has, to tell a missing NAT rule from a missing route.
          const dump = namespaces()
            .filter((ns) => ns.endsWith(physical.router))
            .map((ns) => {
              const run = (args: string[]) => {
                try {
                  return execFileSync('ip', ['netns', 'exec', ns, ...args]).toString();
                } catch (e) {
                  return String(e);
                }
              };
              return `${ns}\n${run(['ip', '-br', 'addr'])}\n${run(['iptables-save', '-t', 'nat'])}`;
            })
            .join('\n');
          throw new Error(
            `${(err as Error).message}\n${dump}\n${execFileSync('ip', ['route']).toString()}`,
          );
        },
      );
      const volumeFiles = await fs.readdir(volumesRoot, { recursive: true });
      expect(volumeFiles.length).toBeGreaterThan(0);

      const deleted = await stackMutation(s, token, 'deleteStack', 'DeleteStackInput', { id });
      expect(deleted.__typename, JSON.stringify(deleted)).toBe('DeleteStackSuccess');
      await waitForStack(s, token, id, (st) => st === null, 'id status', WAIT);

      const left = await s.ok(
        `{ servers { totalCount } volumes { totalCount } ports { totalCount }
           floatingIps { totalCount } routers { totalCount } containers { totalCount }
           networks(filter: { name: "app" }) { totalCount } }`,
        {},
        token,
      );
      expect(left).toEqual({
        servers: { totalCount: 0 },
        volumes: { totalCount: 0 },
        ports: { totalCount: 0 },
        floatingIps: { totalCount: 0 },
        routers: { totalCount: 0 },
        containers: { totalCount: 0 },
        networks: { totalCount: 0 },
      });
      expect(hostPings(outputs.floating)).toBe(false);
      const d = await loadComputeDriver('qemu', compute.driverConfig);
      expect(await d.list({ all: true })).toEqual([]);
      await d.close();
      // The data path of the stack's network and router goes too (the agent syncs after commit).
      const driver = s.stratus.runtime.network!.driver;
      await until(async () => {
        const data = await driver.list();
        return !data.networks.includes(physical.net) && !data.routers.includes(physical.router);
      }, 'the network and router to leave the data path');
      expect(
        namespaces().filter((ns) => ns.endsWith(physical.net) || ns.endsWith(physical.router)),
      ).toEqual([]);
      const files = await fs.readdir(volumesRoot, { recursive: true });
      expect(files.filter((f) => String(f).endsWith('.qcow2'))).toEqual([]);
    },
    3 * WAIT,
  );
});
