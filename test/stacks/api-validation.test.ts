import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { createStack, stackCounts, stackMutation } from './api-support';

/**
 * The stacks API's own checks through the real HTTP server: validateTemplate, resourceTypes,
 * input shapes, unknown stacks and roles. Nothing here needs the engine to run a stack.
 */

let s: TestStratus;
let member: SeededUser;
let reader: SeededUser;

beforeAll(async () => {
  s = await startTestStratus();
  const seed = new Seed(s);
  member = await seed.member('member');
  reader = await seed.member('reader', member.projectId);
});
afterAll(() => s?.stop());

const VALIDATE = `query($input: ValidateTemplateInput!) { validateTemplate(input: $input) {
  __typename ... on Error { message code }
  ... on TemplateError { kind path field line column detail }
  ... on InvalidInputError { field }
  ... on ValidateTemplateSuccess { template { description resourceCount
    parameters { name type label description default hasDefault hidden constraints { kind description spec } }
    parameterGroups { label parameters } } } } }`;

const validate = async (input: Record<string, unknown>, token = member.token) =>
  (await s.ok(VALIDATE, { input }, token)).validateTemplate;

const GOOD = `heat_template_version: 2018-08-31
description: Two values
parameter_groups:
  - label: secrets
    parameters: [password]
parameters:
  size:
    type: number
    default: 2
    constraints:
      - range: {min: 1, max: 10}
        description: between 1 and 10
  password:
    type: string
    hidden: true
    default: s3cret
  flavor:
    type: string
resources:
  v:
    type: OS::Heat::Value
    properties:
      value: {get_param: size}
outputs:
  out:
    value: {get_attr: [v, value]}
`;

describe('validateTemplate', () => {
  it('describes a valid template: parameters (hidden default masked), groups; no values needed', async () => {
    const result = await validate({ template: GOOD });
    expect(result.__typename).toBe('ValidateTemplateSuccess');
    const t = result.template;
    expect(t.description).toBe('Two values');
    expect(t.resourceCount).toBe(1);
    expect(t.parameterGroups).toEqual([{ label: 'secrets', parameters: ['password'] }]);
    const byName = Object.fromEntries(t.parameters.map((p: { name: string }) => [p.name, p]));
    expect(byName.size).toMatchObject({
      type: 'number',
      default: 2,
      hasDefault: true,
      constraints: [{ kind: 'range', description: 'between 1 and 10', spec: { min: 1, max: 10 } }],
    });
    expect(byName.password).toMatchObject({ hidden: true, default: '******' });
    expect(byName.flavor).toMatchObject({ hasDefault: false, default: null });
  });

  it('bad YAML: a SYNTAX TemplateError with line and column', async () => {
    const result = await validate({
      template: 'heat_template_version: 2018-08-31\nresources:\n  a: [unclosed\n  b: 1\n',
    });
    expect(result).toMatchObject({
      __typename: 'TemplateError',
      kind: 'SYNTAX',
      code: 'BAD_USER_INPUT',
    });
    expect(result.line).toBeGreaterThanOrEqual(3);
    expect(result.column).toBeGreaterThanOrEqual(1);
    expect(result.field).toBe('input.template');
  });

  it('an unknown function: FUNCTION error naming its path and line', async () => {
    const result = await validate({
      template: GOOD.replace('{get_param: size}', '{get_parm: size}'),
    });
    expect(result).toMatchObject({
      __typename: 'TemplateError',
      kind: 'FUNCTION',
      path: 'resources.v.properties.value.get_parm',
    });
    expect(result.message).toContain('get_parm');
    expect(result.line).toBe(GOOD.split('\n').findIndex((l) => l.includes('get_param: size')) + 1);
  });

  it('an unknown resource type and an unknown property are named by path', async () => {
    const badType = await validate({
      template: GOOD.replace('OS::Heat::Value', 'OS::Nope::Thing'),
    });
    expect(badType).toMatchObject({ __typename: 'TemplateError', path: 'resources.v.type' });
    const badProp = await validate({
      template: GOOD.replace('value: {get_param: size}', 'valu: 1'),
    });
    expect(badProp).toMatchObject({ __typename: 'TemplateError' });
    expect(badProp.path).toContain('resources.v.properties');
  });

  it('a given parameter value is checked against its constraint', async () => {
    const result = await validate({ template: GOOD, parameters: { size: 50 } });
    expect(result).toMatchObject({ __typename: 'TemplateError', path: 'parameters.size' });
    expect(result.message).toContain('between 1 and 10');
  });

  it('get_file of a file not in files, and with it', async () => {
    const template = GOOD.replace('{get_param: size}', '{get_file: "data.txt"}');
    expect(await validate({ template })).toMatchObject({
      __typename: 'TemplateError',
      kind: 'FILE',
    });
    expect(await validate({ template, files: { 'data.txt': 'x' } })).toMatchObject({
      __typename: 'ValidateTemplateSuccess',
    });
  });

  it('a malformed files map is an InvalidInputError naming it', async () => {
    const result = await validate({ template: GOOD, files: { 'a.yaml': 3 } });
    expect(result).toMatchObject({ __typename: 'InvalidInputError', field: 'input.files.a.yaml' });
  });

  it('needs a token (UNAUTHENTICATED)', async () => {
    const result = await s.gql(VALIDATE, { input: { template: GOOD } }, null);
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('resourceTypes', () => {
  it("lists the registry's types, sorted, with Heat's own", async () => {
    const { resourceTypes } = await s.ok('{ resourceTypes }', {}, member.token);
    expect(resourceTypes).toContain('OS::Heat::Value');
    expect(resourceTypes).toContain('OS::Heat::RandomString');
    expect([...resourceTypes].sort()).toEqual(resourceTypes);
    expect(resourceTypes).not.toContain('Stratus::TemplateResource');
  });
});

describe('stack mutations: input checks before the engine, nothing created', () => {
  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['a name starting with a digit', { name: '1stack', template: GOOD }, 'input.name'],
    ['an empty template', { name: 'ok', template: '' }, 'input.template'],
    ['a non-map parameters', { name: 'ok', template: GOOD, parameters: [1] }, 'input.parameters'],
    ['a zero timeout', { name: 'ok', template: GOOD, timeoutMinutes: 0 }, 'input.timeoutMinutes'],
    ['a tag with a comma', { name: 'ok', template: GOOD, tags: ['a,b'] }, 'input.tags.0'],
    ['a numeric environment', { name: 'ok', template: GOOD, environment: 5 }, 'input.environment'],
  ];
  it.each(bad)('%s → InvalidInputError %s', async (_what, input, field) => {
    const before = await stackCounts(s);
    const result = await createStack(s, member.token, input);
    expect(result).toMatchObject({ __typename: 'InvalidInputError', field });
    expect(await stackCounts(s)).toEqual(before);
  });

  it('the same checks apply to previewStack', async () => {
    const result = await stackMutation(
      s,
      member.token,
      'previewStack',
      'PreviewStackInput',
      {
        name: 'bad name',
        template: GOOD,
      },
      '... on PreviewStackSuccess { plan { errors { path } } }',
    );
    expect(result).toMatchObject({ __typename: 'InvalidInputError', field: 'input.name' });
  });

  it('an unknown stack: NotFoundError from update, delete, previewStackUpdate and signal', async () => {
    const id = encodeGlobalID('Stack', randomUUID());
    for (const [field, type, input] of [
      ['updateStack', 'UpdateStackInput', { id }],
      ['deleteStack', 'DeleteStackInput', { id }],
      ['signalStackResource', 'SignalStackResourceInput', { stackId: id, resourceName: 'x' }],
    ] as const) {
      const result = await stackMutation(s, member.token, field, type, input);
      expect(result, field).toMatchObject({ __typename: 'NotFoundError', resource: 'stack' });
    }
    const preview = await stackMutation(
      s,
      member.token,
      'previewStackUpdate',
      'PreviewStackUpdateInput',
      { id },
      '... on PreviewStackUpdateSuccess { plan { errors { path } } }',
    );
    expect(preview).toMatchObject({ __typename: 'NotFoundError' });
  });

  it('a reader may not create (FORBIDDEN), and nothing is written', async () => {
    const before = await stackCounts(s);
    const result = await s.gql(
      `mutation($input: CreateStackInput!) { createStack(input: $input) { __typename } }`,
      { input: { name: 'by-reader', template: GOOD } },
      reader.token,
    );
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await stackCounts(s)).toEqual(before);
  });
});

describe('stack queries with no stacks', () => {
  it('stacks is empty, stack and stackByName are null; a reader may list', async () => {
    const data = await s.ok(
      `query($id: ID!) { stacks { totalCount edges { node { id } } } stack(id: $id) { id }
        stackByName(name: "nope") { id } }`,
      { id: encodeGlobalID('Stack', randomUUID()) },
      reader.token,
    );
    expect(data).toEqual({ stacks: { totalCount: 0, edges: [] }, stack: null, stackByName: null });
  });

  it('a malformed stack id is BAD_USER_INPUT-free null, not a crash', async () => {
    const data = await s.ok(
      `{ stack(id: "${encodeGlobalID('Stack', 'not-a-uuid')}") { id } }`,
      {},
      member.token,
    );
    expect(data.stack).toBeNull();
  });
});
