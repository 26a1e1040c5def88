import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStratus, type TestStratus } from '../support/harness';

let s: TestStratus;
beforeAll(async () => {
  s = await startTestStratus();
});
afterAll(() => s?.stop());

const CREATE = `mutation($input: CreateProjectInput!) {
  createProject(input: $input) {
    __typename
    ... on CreateProjectSuccess { project { id name domain { name } } }
    ... on Error { message code }
    ... on InvalidInputError { field }
    ... on NameTakenError { field name }
  }
}`;

describe('projects', () => {
  it('an admin creates a project, reads it back by node id and lists it with totalCount', async () => {
    const created = await s.ok(
      CREATE,
      { input: { domainId: s.defaultDomainId, name: 'alpha', description: 'first' } },
      s.adminToken,
    );
    expect(created.createProject.__typename).toBe('CreateProjectSuccess');
    const project = created.createProject.project;
    expect(project.name).toBe('alpha');
    expect(project.domain.name).toBe('Default');

    const node = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Project { name description } } }`,
      { id: project.id },
      s.adminToken,
    );
    expect(node.node).toEqual({ name: 'alpha', description: 'first' });

    const list = await s.ok(
      `{ projects(filter: { nameContains: "alp" }, orderBy: { field: NAME, direction: ASC }) { totalCount edges { node { name } } } }`,
      {},
      s.adminToken,
    );
    expect(list.projects.totalCount).toBe(1);
    expect(list.projects.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual([
      'alpha',
    ]);
  });

  it('a duplicate name in the same domain is a NameTakenError and writes nothing', async () => {
    await s.ok(CREATE, { input: { domainId: s.defaultDomainId, name: 'dup' } }, s.adminToken);
    const again = await s.ok(
      CREATE,
      { input: { domainId: s.defaultDomainId, name: 'DUP' } },
      s.adminToken,
    );
    expect(again.createProject).toMatchObject({
      __typename: 'NameTakenError',
      code: 'NAME_TAKEN',
      field: 'input.name',
      name: 'DUP',
    });
    const list = await s.ok(
      `{ projects(filter: { nameContains: "dup" }) { totalCount } }`,
      {},
      s.adminToken,
    );
    expect(list.projects.totalCount).toBe(1);
  });

  it.each([
    ['', 'input.name must not be empty'],
    ['x'.repeat(65), 'input.name must be at most 64 characters'],
  ])('the name %j is refused naming the field', async (name, message) => {
    const result = await s.ok(
      CREATE,
      { input: { domainId: s.defaultDomainId, name } },
      s.adminToken,
    );
    expect(result.createProject).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.name',
    });
    expect(result.createProject.message).toContain(message);
  });

  it('pages through projects with first/after cursors', async () => {
    for (const n of ['p1', 'p2', 'p3'])
      await s.ok(
        CREATE,
        { input: { domainId: s.defaultDomainId, name: `page-${n}` } },
        s.adminToken,
      );
    const q = `query($after: String) { projects(first: 2, after: $after, filter: { nameContains: "page-" }) { totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }`;
    const first = await s.ok(q, {}, s.adminToken);
    expect(first.projects.totalCount).toBe(3);
    expect(first.projects.edges).toHaveLength(2);
    expect(first.projects.pageInfo.hasNextPage).toBe(true);
    const second = await s.ok(q, { after: first.projects.pageInfo.endCursor }, s.adminToken);
    expect(second.projects.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual([
      'page-p3',
    ]);
    expect(second.projects.pageInfo.hasNextPage).toBe(false);
  });
});
