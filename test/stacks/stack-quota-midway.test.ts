import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetwork, createSubnet } from '../network/networks-support';
import { createFlavor } from '../support/compute';
import type { Json, TestStratus } from '../support/harness';
import type { SeededUser } from '../support/seed';
import { quotaInUse, setQuota, startComputeTestbed, uniq } from '../support/servers';
import { createStack, settled, waitForStack } from './api-support';

/**
 * A quota hit midway (fake compute): the project may run 2 instances and the template asks
 * for 3, the third after the other two. The first two come up, the third is refused by the
 * compute domain's quota, the stack fails CREATE and rolls back, and nothing is left: no
 * server, no port, the quota usage back where it was.
 */

let s: TestStratus;
let member: SeededUser;
const flavor = uniq('tiny');
let netName: string;

beforeAll(async () => {
  const bed = await startComputeTestbed();
  s = bed.s;
  member = await bed.seed.member('member');
  await createFlavor(s, { name: flavor, vcpus: 1, ramMib: 128, rootDiskGib: 1 });
  netName = uniq('net');
  const net = await createNetwork(s, member.token, { name: netName });
  await createSubnet(s, member.token, { networkId: net.id, cidr: '10.78.0.0/24' });
  await setQuota(s, member.projectId, { instances: 2 });
}, 120_000);
afterAll(() => s?.stop());

const server = (name: string, after?: string) => `  ${name}:
    type: OS::Nova::Server
    ${after ? `depends_on: ${after}` : ''}
    properties:
      image: public-disk
      flavor: {get_param: flavor}
      networks: [{network: {get_param: net}}]
`;

describe('a quota hit midway through a create', () => {
  it('fails the third server on quota, rolls back the two made, leaves nothing', async () => {
    const before = await quotaInUse(s, member.projectId);
    const { ports: portsBefore } = await s.ok('{ ports { totalCount } }', {}, member.token);
    const template = `heat_template_version: 2018-08-31
parameters:
  flavor: {type: string}
  net: {type: string}
resources:
${server('one')}${server('two', 'one')}${server('three', 'two')}`;
    const created = await createStack(s, member.token, {
      name: 'over-quota',
      template,
      parameters: { flavor, net: netName },
    });
    expect(created.__typename, JSON.stringify(created)).toBe('CreateStackSuccess');
    const id = created.stack.id;
    const done = await waitForStack(
      s,
      member.token!,
      id,
      settled,
      'id status statusReason events { edges { node { resourceName status statusReason } } }',
      120_000,
    );
    expect(done!.status, done!.statusReason).toBe('ROLLBACK_COMPLETE');
    const events = done!.events.edges.map((e: Json) => e.node);
    // The first two were made before the third was refused on the instances quota.
    expect(events).toContainEqual(
      expect.objectContaining({ resourceName: 'two', status: 'CREATE_COMPLETE' }),
    );
    const refused = events.find(
      (e: Json) => e.resourceName === 'three' && e.status === 'CREATE_FAILED',
    );
    expect(refused?.statusReason).toMatch(/quota/i);
    expect(events).toContainEqual(
      expect.objectContaining({ resourceName: 'one', status: 'DELETE_COMPLETE' }),
    );
    // The network's own DHCP port stays; nothing of the servers does.
    const left = await s.ok('{ servers { totalCount } ports { totalCount } }', {}, member.token);
    expect(left).toEqual({ servers: { totalCount: 0 }, ports: portsBefore });
    expect(await quotaInUse(s, member.projectId)).toEqual(before);
  }, 180_000);
});
