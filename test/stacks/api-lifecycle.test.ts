import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { sqlCount } from '../support/servers';
import {
  createStack,
  STACK_FIELDS,
  settled,
  stackCounts,
  stackMutation,
  waitForStack,
} from './api-support';

/**
 * A stack's life through the API on the real server and engine: create with live events and
 * state, outputs, resources, preview vs the real update, delete; template errors leave nothing.
 * Heat's own resource types (Value, RandomString, TestResource) need no driver.
 */

let s: TestStratus;
let alice: SeededUser;
let token: string;

beforeAll(async () => {
  s = await startTestStratus();
  alice = await new Seed(s).member('member');
  token = alice.token!;
});
afterAll(() => s?.stop());

const TEMPLATE = `heat_template_version: 2018-08-31
description: API lifecycle
parameters:
  greeting:
    type: string
    default: hello
  secret:
    type: string
    hidden: true
  length:
    type: number
    default: 12
resources:
  rand:
    type: OS::Heat::RandomString
    properties:
      length: {get_param: length}
  word:
    type: OS::Heat::Value
    properties:
      value:
        str_replace:
          template: $g-$r
          params: {$g: {get_param: greeting}, $r: {get_attr: [rand, value]}}
  slow:
    type: OS::Heat::TestResource
    depends_on: word
    properties:
      value: {get_attr: [word, value]}
      wait_secs: 1
outputs:
  word:
    description: The greeting and the random string
    value: {get_attr: [word, value]}
  random:
    value: {get_attr: [rand, value]}
`;

const STACK_VIEW = `${STACK_FIELDS}
  outputs { key description value error }
  resources { totalCount edges { node { name type status statusReason physicalResourceId requires } } }
  events { totalCount edges { node { id resourceName resourceType status statusReason } } }`;

const states = (events: Json[], name: string) =>
  events.filter((e) => e.resourceName === name).map((e) => e.status);

describe('a stack from create to delete', () => {
  let stackId: string;
  let wordValue: string;

  it('bad templates are TemplateErrors naming the place, and nothing is created', async () => {
    const before = await stackCounts(s);
    const yaml = await createStack(s, token, {
      name: 'broken',
      template: 'heat_template_version: 2018-08-31\nresources:\n  a: {type: [\n',
    });
    expect(yaml).toMatchObject({
      __typename: 'TemplateError',
      kind: 'SYNTAX',
      field: 'input.template',
    });
    expect(yaml.line).toBeGreaterThan(0);
    const missing = await createStack(s, token, { name: 'broken', template: TEMPLATE });
    expect(missing).toMatchObject({
      __typename: 'TemplateError',
      path: 'parameters.secret',
      field: 'input.parameters',
    });
    const fn = await createStack(s, token, {
      name: 'broken',
      template: TEMPLATE.replace('{get_param: greeting}', '{get_parm: greeting}'),
      parameters: { secret: 'x' },
    });
    expect(fn).toMatchObject({ __typename: 'TemplateError', kind: 'FUNCTION' });
    expect(fn.path).toContain('resources.word.properties');
    expect(await stackCounts(s)).toEqual(before);
  });

  it('creates: CREATE_IN_PROGRESS at once, then each resource streams its events to COMPLETE', async () => {
    const created = await createStack(s, token, {
      name: 'life',
      template: TEMPLATE,
      parameters: { secret: 'p4ss', greeting: 'hi' },
      tags: ['api', 'test'],
      timeoutMinutes: 10,
    });
    expect(created.__typename).toBe('CreateStackSuccess');
    expect(created.stack).toMatchObject({
      name: 'life',
      status: 'CREATE_IN_PROGRESS',
      description: 'API lifecycle',
      tags: ['api', 'test'],
      timeoutMinutes: 10,
      disableRollback: false,
    });
    stackId = created.stack.id;

    const stateSub = s.subscribe(
      'subscription($id: ID!) { stack(id: $id) { status statusReason } }',
      { id: stackId },
      token,
    );
    const eventSub = s.subscribe(
      'subscription($id: ID!) { stackEvents(stackId: $id) { id resourceName resourceType status } }',
      { id: stackId },
      token,
    );
    try {
      await waitForStack(s, token, stackId, settled);
      // Stack start and end, and IN_PROGRESS + COMPLETE for each of the three resources.
      const streamed = await eventSub.waitFor(8, 30_000);
      const events = streamed.map((v) => v.data.stackEvents);
      for (const name of ['rand', 'word', 'slow'])
        expect(states(events, name), name).toEqual(['CREATE_IN_PROGRESS', 'CREATE_COMPLETE']);
      expect(states(events, 'life')).toEqual(['CREATE_IN_PROGRESS', 'CREATE_COMPLETE']);
      const ids = events.map((e) => Number(e.id));
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      // Dependencies in order: word after rand, slow after word.
      const at = (name: string, status: string) =>
        events.findIndex((e) => e.resourceName === name && e.status === status);
      expect(at('word', 'CREATE_IN_PROGRESS')).toBeGreaterThan(at('rand', 'CREATE_COMPLETE'));
      expect(at('slow', 'CREATE_IN_PROGRESS')).toBeGreaterThan(at('word', 'CREATE_COMPLETE'));

      const seen = await stateSub.waitFor(2, 30_000);
      const statuses = seen.map((v) => v.data.stack.status);
      expect(statuses[0]).toBe('CREATE_IN_PROGRESS');
      expect(statuses.at(-1)).toBe('CREATE_COMPLETE');
    } finally {
      stateSub.close();
      eventSub.close();
    }
  });

  it('shows outputs, masked hidden parameters, resources and events', async () => {
    const { stack } = await s.ok(
      `query($id: ID!) { stack(id: $id) { ${STACK_VIEW} } }`,
      { id: stackId },
      token,
    );
    expect(stack.status).toBe('CREATE_COMPLETE');
    expect(stack.parameters).toMatchObject({
      greeting: 'hi',
      secret: '******',
      length: 12,
      'OS::stack_name': 'life',
    });
    const outputs = Object.fromEntries(stack.outputs.map((o: Json) => [o.key, o]));
    expect(outputs.word).toMatchObject({
      description: 'The greeting and the random string',
      error: null,
    });
    wordValue = outputs.word.value;
    expect(wordValue).toMatch(/^hi-[A-Za-z0-9]{12}$/);
    expect(outputs.random).toMatchObject({ description: null, error: null });
    expect(outputs.word.value).toBe(`hi-${outputs.random.value}`);
    expect(stack.resources.totalCount).toBe(3);
    const resources = stack.resources.edges.map((e: Json) => e.node);
    expect(resources.map((r: Json) => [r.name, r.type, r.status])).toEqual([
      ['rand', 'OS::Heat::RandomString', 'CREATE_COMPLETE'],
      ['slow', 'OS::Heat::TestResource', 'CREATE_COMPLETE'],
      ['word', 'OS::Heat::Value', 'CREATE_COMPLETE'],
    ]);
    expect(resources.find((r: Json) => r.name === 'word').requires).toEqual(['rand']);
    const events = stack.events.edges.map((e: Json) => e.node);
    expect(stack.events.totalCount).toBe(events.length);
    expect(states(events, 'word')).toEqual(['CREATE_IN_PROGRESS', 'CREATE_COMPLETE']);
    const filtered = await s.ok(
      `query($id: ID!) { stack(id: $id) { events(resourceName: "slow") { totalCount edges { node { resourceName } } } } }`,
      { id: stackId },
      token,
    );
    expect(filtered.stack.events.totalCount).toBe(2);

    // Resuming the event stream after a cursor sends only the later stored events.
    const resumed = s.subscribe(
      'subscription($id: ID!, $after: String) { stackEvents(stackId: $id, after: $after) { id resourceName status } }',
      { id: stackId, after: events[2].id },
      token,
    );
    try {
      const later = await resumed.waitFor(events.length - 3);
      expect(later.map((v) => v.data.stackEvents.id)).toEqual(
        events.slice(3).map((e: Json) => e.id),
      );
    } finally {
      resumed.close();
    }
    const badCursor = s.subscribe(
      'subscription($id: ID!) { stackEvents(stackId: $id, after: "abc") { id } }',
      { id: stackId },
      token,
    );
    try {
      const ended = await badCursor.ended;
      expect(JSON.stringify(ended.error ?? badCursor.values)).toContain('BAD_USER_INPUT');
    } finally {
      badCursor.close();
    }

    const listed = await s.ok(
      `{ stacks(filter: {status: CREATE_COMPLETE}) { totalCount edges { node { id name } } }
         byName: stackByName(name: "life") { id } }`,
      {},
      token,
    );
    expect(listed.stacks.edges.map((e: Json) => e.node.id)).toContain(stackId);
    expect(listed.byName.id).toBe(stackId);
  });

  it('refuses a second stack of the same name (NameTakenError), writing nothing', async () => {
    const before = await stackCounts(s);
    const again = await createStack(s, token, {
      name: 'life',
      template: TEMPLATE,
      parameters: { secret: 'x' },
    });
    expect(again).toMatchObject({ __typename: 'NameTakenError', field: 'input.name' });
    expect(await stackCounts(s)).toEqual(before);
  });

  it('previewStackUpdate says what the update does, writes nothing; the real update does it', async () => {
    // The same template with: slow replaced, a new resource `extra`, `rand` kept.
    const updated = `${TEMPLATE.replace(
      '      wait_secs: 1\n',
      '      wait_secs: 0\n      update_replace: true\n',
    ).replace(
      'outputs:',
      `  extra:
    type: OS::Heat::Value
    properties:
      value: added
outputs:`,
    )}`;
    const before = await stackCounts(s);
    const preview = await stackMutation(
      s,
      token,
      'previewStackUpdate',
      'PreviewStackUpdateInput',
      { id: stackId, template: updated, existingParameters: true },
      '... on PreviewStackUpdateSuccess { plan { resources { name type action changedProperties reason } quota { resource amount } errors { path message } } }',
    );
    expect(preview.__typename).toBe('PreviewStackUpdateSuccess');
    const plan = Object.fromEntries(preview.plan.resources.map((r: Json) => [r.name, r.action]));
    expect(plan).toEqual({
      rand: 'UNCHANGED',
      word: 'UNCHANGED',
      slow: 'REPLACE',
      extra: 'CREATE',
    });
    expect(preview.plan.errors).toEqual([]);
    expect(await stackCounts(s)).toEqual(before);

    const result = await stackMutation(s, token, 'updateStack', 'UpdateStackInput', {
      id: stackId,
      template: updated,
      existingParameters: true,
    });
    expect(result.__typename).toBe('UpdateStackSuccess');
    expect(result.stack.status).toBe('UPDATE_IN_PROGRESS');
    const done = await waitForStack(s, token, stackId, settled, STACK_VIEW);
    expect(done.status).toBe('UPDATE_COMPLETE');
    const resources = done.resources.edges.map((e: Json) => e.node);
    expect(resources.map((r: Json) => r.name).sort()).toEqual(['extra', 'rand', 'slow', 'word']);
    // What the preview said is what happened: only `slow` replaced and `extra` created.
    const events = done.events.edges.map((e: Json) => e.node);
    const from = events.findIndex(
      (e: Json) => e.resourceName === 'life' && e.status === 'UPDATE_IN_PROGRESS',
    );
    const touched = new Set(
      events
        .slice(from)
        .filter((e: Json) => e.resourceName !== 'life')
        .map((e: Json) => e.resourceName),
    );
    const planned = preview.plan.resources
      .filter((r: Json) => r.action !== 'UNCHANGED')
      .map((r: Json) => r.name);
    expect([...touched].sort()).toEqual(planned.sort());
    expect(events.slice(from).map((e: Json) => [e.resourceName, e.status])).toContainEqual([
      'slow',
      'DELETE_COMPLETE',
    ]);
    const outputs = Object.fromEntries(done.outputs.map((o: Json) => [o.key, o.value]));
    expect(outputs.word).toBe(wordValue);
  });

  it('deletes: DELETE_IN_PROGRESS, the subscription ends with DELETE_COMPLETE, no row left', async () => {
    const stateSub = s.subscribe(
      'subscription($id: ID!) { stack(id: $id) { status } }',
      { id: stackId },
      token,
    );
    try {
      await stateSub.waitFor(1);
      const result = await stackMutation(s, token, 'deleteStack', 'DeleteStackInput', {
        id: stackId,
      });
      expect(result.__typename).toBe('DeleteStackSuccess');
      expect(result.stack.status).toBe('DELETE_IN_PROGRESS');
      await waitForStack(s, token, stackId, (st) => st === null);
      await stateSub.ended;
      expect(stateSub.values.at(-1).data.stack.status).toBe('DELETE_COMPLETE');
    } finally {
      stateSub.close();
    }
    const raw = Buffer.from(stackId, 'base64').toString().split(':')[1];
    expect(await sqlCount(s, 'select count(*) from stacks where id = $1', [raw])).toBe(0);
    expect(
      await sqlCount(s, 'select count(*) from stack_resources where stack_id = $1', [raw]),
    ).toBe(0);
    expect(await stackCounts(s)).toEqual({ stacks: 0, resources: 0, events: 0 });
  });
});
