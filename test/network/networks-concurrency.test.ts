import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawId } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { setQuota } from '../support/servers';
import { createNetwork, createPort, createSubnet, rows } from './networks-support';

/** IPAM and quotas under concurrent port creation: no address twice, exact limits, nothing left over. */

let s: TestStratus;
let member: SeededUser;

beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
});
afterAll(() => s?.stop());

describe('concurrent createPort', () => {
  it('on a /29 with 5 free addresses: exactly 5 of 20 succeed, distinct, the rest IpAddressGenerationFailure', async () => {
    const net = await createNetwork(s, member.token);
    // No DHCP: all of .2-.6 are the pool's.
    const subnet = await createSubnet(s, member.token, {
      networkId: net.id,
      cidr: '10.50.0.0/29',
      enableDhcp: false,
    });
    expect(subnet.allocationPools).toEqual([{ start: '10.50.0.2', end: '10.50.0.6' }]);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        createPort(s, member.token, { networkId: net.id, name: `p${i}` }),
      ),
    );
    const ok = results.filter((r) => r.__typename === 'CreatePortSuccess');
    const failed = results.filter((r) => r.__typename !== 'CreatePortSuccess');
    expect(ok).toHaveLength(5);
    const ips = ok.map((r) => r.port.fixedIps[0].ipAddress).sort();
    expect(ips).toEqual(['10.50.0.2', '10.50.0.3', '10.50.0.4', '10.50.0.5', '10.50.0.6']);
    for (const f of failed) {
      expect(f.__typename, JSON.stringify(f)).toBe('IpAddressGenerationFailureError');
    }
    const { rows: left } = await s.stratus.runtime.pool.query(
      'select count(*) as n from ports where network_id = $1',
      [rawId(net.id)],
    );
    expect(Number(left[0].n)).toBe(5);
    const { rows: allocs } = await s.stratus.runtime.pool.query(
      'select count(*) as n from ip_allocations where subnet_id = $1',
      [rawId(subnet.id)],
    );
    expect(Number(allocs[0].n)).toBe(5);
  });

  it('racing the ports quota: exactly the limit succeeds, the rest QuotaExceeded, nothing left over', async () => {
    const other = await new Seed(s).member('member');
    await setQuota(s, other.projectId, { ports: 3 });
    const net = await createNetwork(s, other.token);
    await createSubnet(s, other.token, { networkId: net.id, cidr: '10.51.0.0/24' });
    const before = await rows(s, 'ports', other.projectId);
    const results = await Promise.all(
      Array.from({ length: 12 }, () => createPort(s, other.token, { networkId: net.id })),
    );
    const ok = results.filter((r) => r.__typename === 'CreatePortSuccess');
    expect(ok).toHaveLength(3);
    for (const f of results.filter((r) => r.__typename !== 'CreatePortSuccess')) {
      expect(f).toMatchObject({ __typename: 'QuotaExceededError', resource: 'ports', limit: 3 });
    }
    // The DHCP port is the network's, not counted; only the 3 ports were added.
    expect((await rows(s, 'ports', other.projectId)) - before).toBe(3);
    const { rows: used } = await s.stratus.runtime.pool.query(
      "select in_use from quota_usage where project_id = $1 and resource = 'ports'",
      [rawId(other.projectId)],
    );
    expect(Number(used[0].in_use)).toBe(3);
    // One PORT_CREATED event per port made, none for the refused ones.
    const { rows: created } = await s.stratus.runtime.pool.query(
      "select count(*) as n from events where kind = 'PORT_CREATED' and project_id = $1",
      [rawId(other.projectId)],
    );
    expect(Number(created[0].n)).toBe(3);
  });
});
