import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import {
  createStack,
  ERROR_FIELDS,
  settled,
  stackCounts,
  stackMutation,
  waitForStack,
} from './api-support';

/**
 * signalStackResource, nested stacks and resource attributes through the API: a wait
 * condition released by signalling its handle with the mutation, a template resource's nested stack whose
 * events stream with its parent's, and attributes read as get_attr reads them.
 */

let s: TestStratus;
let member: SeededUser;
let token: string;

beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
  token = member.token!;
});
afterAll(() => s?.stop());

const INNER = `heat_template_version: 2018-08-31
parameters:
  word: {type: string}
resources:
  leaf:
    type: OS::Heat::Value
    properties: {value: {get_param: word}}
outputs:
  echoed: {value: {get_attr: [leaf, value]}}
`;

const OUTER = `heat_template_version: 2018-08-31
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      timeout: 300
  inner:
    type: inner.yaml
    properties: {word: nested-hello}
outputs:
  signals:
    value: {get_attr: [handle, show]}
  wait_data:
    value: {get_attr: [wait, data]}
  inner_echo:
    value: {get_attr: [inner, echoed]}
`;

const SIGNAL = `mutation($input: SignalStackResourceInput!) { signalStackResource(input: $input) {
  ${ERROR_FIELDS} ... on SignalStackResourceSuccess { stack { id status } } } }`;

describe('a stack waiting for a signal, with a nested stack', () => {
  let stackId: string;

  it('waits in CREATE_IN_PROGRESS; the nested stack completes; its events stream with the parent', async () => {
    const created = await createStack(s, token, {
      name: 'waiting',
      template: OUTER,
      files: { 'inner.yaml': INNER },
    });
    expect(created.__typename, JSON.stringify(created)).toBe('CreateStackSuccess');
    stackId = created.stack.id;
    const events = s.subscribe(
      'subscription($id: ID!) { stackEvents(stackId: $id) { id resourceName status stack { id } } }',
      { id: stackId },
      token,
    );
    try {
      // The nested stack's own resource reaches CREATE_COMPLETE, seen on the parent's stream.
      const deadline = Date.now() + 45_000;
      const leafDone = () =>
        events.values.some(
          (v) =>
            v.data?.stackEvents?.resourceName === 'leaf' &&
            v.data.stackEvents.status === 'CREATE_COMPLETE',
        );
      while (!leafDone() && Date.now() < deadline) await events.waitFor(events.values.length + 1);
      expect(leafDone(), JSON.stringify(events.values)).toBe(true);
      const leaf = events.values.find((v) => v.data.stackEvents.resourceName === 'leaf');
      expect(leaf.data.stackEvents.stack.id).not.toBe(stackId);
    } finally {
      events.close();
    }
    const { stack } = await s.ok(
      `query($id: ID!) { stack(id: $id) { status
        resources(name: "wait") { edges { node { status } } }
        own: events(resourceName: "leaf") { totalCount }
        tree: events(resourceName: "leaf", nested: true) { edges { node { status stack { id } } } }
        nestedStacks { id status parent { id } parentResourceName } } }`,
      { id: stackId },
      token,
    );
    // The wait condition holds the stack until it is signalled.
    expect(stack.status).toBe('CREATE_IN_PROGRESS');
    expect(stack.resources.edges[0].node.status).toBe('CREATE_IN_PROGRESS');
    expect(stack.nestedStacks).toHaveLength(1);
    // The parent's own events hold none of the nested stack's; nested: true adds them.
    expect(stack.own.totalCount).toBe(0);
    expect(stack.tree.edges.map((e: Json) => e.node)).toEqual([
      { status: 'CREATE_IN_PROGRESS', stack: { id: stack.nestedStacks[0].id } },
      { status: 'CREATE_COMPLETE', stack: { id: stack.nestedStacks[0].id } },
    ]);
    expect(stack.nestedStacks[0]).toMatchObject({
      parent: { id: stackId },
      parentResourceName: 'inner',
    });
    const lists = await s.ok(
      '{ top: stacks { totalCount } all: stacks(filter: {showNested: true}) { totalCount } }',
      {},
      token,
    );
    expect(lists).toEqual({ top: { totalCount: 1 }, all: { totalCount: 2 } });
  });

  it('refuses a signal to an unknown resource (NotFoundError) or with a bad status', async () => {
    const unknown = await s.ok(
      SIGNAL,
      { input: { stackId, resourceName: 'nope', data: {} } },
      token,
    );
    expect(unknown.signalStackResource).toMatchObject({
      __typename: 'NotFoundError',
      resource: 'stack resource',
    });
    const bad = await s.ok(
      SIGNAL,
      { input: { stackId, resourceName: 'handle', data: { status: 'MAYBE' } } },
      token,
    );
    expect(bad.signalStackResource.__typename).toBe('InvalidInputError');
    expect(bad.signalStackResource.message).toContain('status');
  });

  it('signalStackResource releases the wait; outputs carry the signal and the nested output', async () => {
    const result = await s.ok(
      SIGNAL,
      {
        input: {
          stackId,
          resourceName: 'handle',
          data: { status: 'SUCCESS', reason: 'ready', data: 'hello', id: '1' },
        },
      },
      token,
    );
    expect(result.signalStackResource.__typename).toBe('SignalStackResourceSuccess');
    const done = await waitForStack(
      s,
      token,
      stackId,
      settled,
      'status statusReason outputs { key value error }',
    );
    expect(done.status, done.statusReason).toBe('CREATE_COMPLETE');
    const outputs = Object.fromEntries(done.outputs.map((o: Json) => [o.key, o]));
    expect(outputs.wait_data.error).toBeNull();
    expect(JSON.stringify(outputs.wait_data.value)).toContain('hello');
    expect(outputs.signals.value.signals).toEqual({
      '1': { status: 'SUCCESS', reason: 'ready', data: 'hello' },
    });
    expect(outputs.inner_echo).toMatchObject({ value: 'nested-hello', error: null });
  });

  it('reads resource attributes as get_attr does; an unknown name is BAD_USER_INPUT', async () => {
    const query = `query($id: ID!, $names: [String!]) { stack(id: $id) {
      resources(name: "handle") { edges { node { attributes(names: $names) } } } } }`;
    const all = await s.ok(query, { id: stackId, names: null }, token);
    const attrs = all.stack.resources.edges[0].node.attributes;
    expect(Object.keys(attrs).sort()).toEqual(['curl_cli', 'endpoint', 'signal', 'token']);
    expect(JSON.parse(attrs.signal)).toEqual({ endpoint: attrs.endpoint, token: attrs.token });
    expect(attrs.curl_cli).toContain(attrs.endpoint);
    const show = await s.ok(query, { id: stackId, names: ['show'] }, token);
    expect(show.stack.resources.edges[0].node.attributes.show.signals['1'].data).toBe('hello');
    const some = await s.ok(query, { id: stackId, names: ['token'] }, token);
    expect(some.stack.resources.edges[0].node.attributes).toEqual({ token: attrs.token });
    const bad = await s.gql(query, { id: stackId, names: ['nope'] }, token);
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(bad.errors?.[0]?.message).toContain("no attribute 'nope'");
  });

  it('delete removes the parent and the nested stack', async () => {
    const result = await stackMutation(s, token, 'deleteStack', 'DeleteStackInput', {
      id: stackId,
    });
    expect(result.__typename).toBe('DeleteStackSuccess');
    await waitForStack(s, token, stackId, (st) => st === null, 'status', 60_000);
    expect(await stackCounts(s)).toEqual({ stacks: 0, resources: 0, events: 0 });
  });
});
