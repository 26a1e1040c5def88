import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';

let s: TestStratus;
let seed: Seed;
beforeAll(async () => {
  s = await startTestStratus();
  seed = new Seed(s);
});
afterAll(() => s?.stop());

async function queriesDuring(action: () => Promise<unknown>): Promise<number> {
  const read = async () => {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    return Number(/^stratus_db_queries_total (\d+)/m.exec(text)?.[1]);
  };
  const before = await read();
  await action();
  return (await read()) - before;
}

const LIST = `query($n: Int!) {
  users(first: $n, filter: { nameContains: "batch-" }) {
    totalCount
    edges { node { name domain { name } defaultProject { name } groups { name } roleAssignments { role { name } project { name } } } }
  }
}`;

describe('relation fields are batched', () => {
  it('listing 4 or 16 users with their domain, project, groups and assignments costs the same number of statements', async () => {
    const projectId = await seed.project();
    for (let i = 0; i < 16; i++) {
      const u = await seed.user(`batch-${i}`);
      await seed.assign('reader', u.userId, projectId);
    }
    const small = await queriesDuring(() => s.ok(LIST, { n: 4 }, s.adminToken));
    const large = await queriesDuring(() => s.ok(LIST, { n: 16 }, s.adminToken));
    const data = await s.ok(LIST, { n: 16 }, s.adminToken);
    expect(data.users.edges).toHaveLength(16);
    expect(data.users.edges[0].node.roleAssignments[0].role.name).toBe('reader');
    expect(small).toBeGreaterThan(0);
    expect(large).toBe(small);
  });
});
