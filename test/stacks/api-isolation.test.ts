import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { createStack, settled, stackCounts, stackMutation, waitForStack } from './api-support';

/**
 * Tenant isolation and roles for stacks, their outputs, events and subscriptions, through the
 * real HTTP/WebSocket server: another project's stack is NOT_FOUND everywhere.
 */

let s: TestStratus;
let alice: SeededUser;
let aliceReader: SeededUser;
let bob: SeededUser;
let stackId: string;
let bobStackId: string;

const TEMPLATE = `heat_template_version: 2018-08-31
parameters:
  token:
    type: string
    hidden: true
resources:
  v:
    type: OS::Heat::Value
    properties:
      value: {get_param: token}
outputs:
  secret_out:
    value: {get_attr: [v, value]}
`;

beforeAll(async () => {
  s = await startTestStratus();
  const seed = new Seed(s);
  alice = await seed.member('member');
  aliceReader = await seed.member('reader', alice.projectId);
  bob = await seed.member('member');
  const created = await createStack(s, alice.token, {
    name: 'iso',
    template: TEMPLATE,
    parameters: { token: 'alice-only' },
  });
  expect(created.__typename).toBe('CreateStackSuccess');
  stackId = created.stack.id;
  await waitForStack(s, alice.token!, stackId, settled);
});
afterAll(() => s?.stop());

describe('another project', () => {
  it('cannot see the stack: stack, node, stackByName, stacks are empty', async () => {
    const data = await s.ok(
      `query($id: ID!) { stack(id: $id) { id outputs { value } } node(id: $id) { id }
        stackByName(name: "iso") { id } stacks { totalCount } }`,
      { id: stackId },
      bob.token,
    );
    expect(data).toEqual({ stack: null, node: null, stackByName: null, stacks: { totalCount: 0 } });
  });

  it('gets NotFoundError from every mutation on it, and nothing changes', async () => {
    const before = await stackCounts(s);
    for (const [field, type, input, success] of [
      ['updateStack', 'UpdateStackInput', { id: stackId }, 'stack { id }'],
      ['deleteStack', 'DeleteStackInput', { id: stackId }, 'stack { id }'],
      [
        'signalStackResource',
        'SignalStackResourceInput',
        { stackId, resourceName: 'v' },
        'stack { id }',
      ],
      [
        'previewStackUpdate',
        'PreviewStackUpdateInput',
        { id: stackId },
        'plan { errors { path } }',
      ],
    ] as const) {
      const select = `... on ${field[0].toUpperCase()}${field.slice(1)}Success { ${success} }`;
      const result = await stackMutation(s, bob.token, field, type, input, select);
      expect(result, field).toMatchObject({ __typename: 'NotFoundError', resource: 'stack' });
    }
    expect(await stackCounts(s)).toEqual(before);
    const still = await s.ok(
      `query($id: ID!) { stack(id: $id) { status } }`,
      { id: stackId },
      alice.token,
    );
    expect(still.stack.status).toBe('CREATE_COMPLETE');
  });

  it('cannot subscribe to its state or its events (NOT_FOUND)', async () => {
    for (const query of [
      'subscription($id: ID!) { stack(id: $id) { status } }',
      'subscription($id: ID!) { stackEvents(stackId: $id) { id } }',
    ]) {
      const sub = s.subscribe(query, { id: stackId }, bob.token);
      try {
        const ended = await sub.ended;
        // Refused up front: an error, never a value of the stack.
        expect(JSON.stringify(ended.error ?? sub.values), query).toContain('NOT_FOUND');
        expect(JSON.stringify(sub.values)).not.toContain('CREATE_');
      } finally {
        sub.close();
      }
    }
  });

  it('may use the same stack name in its own project', async () => {
    const created = await createStack(s, bob.token, {
      name: 'iso',
      template: TEMPLATE,
      parameters: { token: 'bob' },
    });
    expect(created.__typename).toBe('CreateStackSuccess');
    bobStackId = created.stack.id;
    await waitForStack(s, bob.token!, bobStackId, settled);
    const mine = await s.ok('{ stacks { totalCount edges { node { id } } } }', {}, bob.token);
    expect(mine.stacks.edges.map((e: Json) => e.node.id)).toEqual([bobStackId]);
  });
});

describe('roles in the same project', () => {
  it('a reader sees the stack, its outputs (hidden parameter masked) and its events', async () => {
    const { stack } = await s.ok(
      `query($id: ID!) { stack(id: $id) { status parameters outputs { key value }
        events { totalCount } resources { totalCount } } }`,
      { id: stackId },
      aliceReader.token,
    );
    expect(stack.status).toBe('CREATE_COMPLETE');
    expect(stack.parameters.token).toBe('******');
    expect(stack.outputs).toEqual([{ key: 'secret_out', value: 'alice-only' }]);
    expect(stack.events.totalCount).toBeGreaterThan(0);
    expect(stack.resources.totalCount).toBe(1);
  });

  it('a reader may not create, update, delete or preview (FORBIDDEN)', async () => {
    const before = await stackCounts(s);
    for (const [field, type, input] of [
      ['createStack', 'CreateStackInput', { name: 'r', template: TEMPLATE }],
      ['updateStack', 'UpdateStackInput', { id: stackId }],
      ['deleteStack', 'DeleteStackInput', { id: stackId }],
      ['previewStack', 'PreviewStackInput', { name: 'r', template: TEMPLATE }],
    ] as const) {
      const result = await s.gql(
        `mutation($input: ${type}!) { ${field}(input: $input) { __typename } }`,
        { input },
        aliceReader.token,
      );
      expect(result.errors?.[0]?.extensions?.code, field).toBe('FORBIDDEN');
    }
    expect(await stackCounts(s)).toEqual(before);
  });
});

describe('admin', () => {
  it('lists every project with allProjects, one project with projectId', async () => {
    const data = await s.ok(
      `query($p: ID!) { all: stacks(filter: {allProjects: true}) { totalCount }
        one: stacks(filter: {projectId: $p}) { edges { node { id project { id } } } }
        own: stacks { totalCount } }`,
      { p: bob.projectId },
      s.adminToken,
    );
    expect(data.all.totalCount).toBe(2);
    expect(data.one.edges.map((e: Json) => e.node.id)).toEqual([bobStackId]);
    expect(data.one.edges[0].node.project.id).toBe(bob.projectId);
    expect(data.own.totalCount).toBe(0);
  });

  it('cleans up: both stacks deleted leave no rows', async () => {
    for (const [id, user] of [
      [stackId, alice],
      [bobStackId, bob],
    ] as const) {
      const result = await stackMutation(s, user.token, 'deleteStack', 'DeleteStackInput', { id });
      expect(result.__typename).toBe('DeleteStackSuccess');
      await waitForStack(s, user.token!, id, (st) => st === null);
    }
    expect(await stackCounts(s)).toEqual({ stacks: 0, resources: 0, events: 0 });
  });
});
