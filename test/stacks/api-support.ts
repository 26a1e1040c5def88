import type { Json, TestStratus } from '../support/harness';
import { sqlCount } from '../support/servers';

/** Shared pieces of the stacks API tests: documents, mutations, counts, waits. */

export const STACK_FIELDS = `id name status action statusReason description tags disableRollback
  timeoutMinutes parameters createdAt updatedAt`;

export const ERROR_FIELDS = `__typename ... on Error { message code }
  ... on TemplateError { kind path field line column detail }
  ... on InvalidInputError { field }
  ... on NotFoundError { resource id }
  ... on NameTakenError { field name }`;

/** Runs a stack mutation with `input`; returns its payload (success or typed error). */
export async function stackMutation(
  s: TestStratus,
  token: string | null,
  field: string,
  inputType: string,
  input: Record<string, unknown>,
  select = `... on ${field[0].toUpperCase()}${field.slice(1)}Success { stack { ${STACK_FIELDS} } }`,
): Promise<Json> {
  const data = await s.ok(
    `mutation($input: ${inputType}!) { ${field}(input: $input) { ${ERROR_FIELDS} ${select} } }`,
    { input },
    token,
  );
  return data[field];
}

export const createStack = (s: TestStratus, token: string | null, input: Record<string, unknown>) =>
  stackMutation(s, token, 'createStack', 'CreateStackInput', input);

/** Rows the stacks tables hold (all projects). */
export async function stackCounts(s: TestStratus) {
  return {
    stacks: await sqlCount(s, 'select count(*) from stacks', []),
    resources: await sqlCount(s, 'select count(*) from stack_resources', []),
    events: await sqlCount(s, 'select count(*) from stack_events', []),
  };
}

/** Polls the stack until `done(stack)` holds (or it is gone, when `gone` is accepted). */
export async function waitForStack(
  s: TestStratus,
  token: string,
  id: string,
  done: (stack: Json | null) => boolean,
  select = STACK_FIELDS,
  timeoutMs = 45_000,
): Promise<Json | null> {
  const deadline = Date.now() + timeoutMs;
  let last: Json | null = null;
  while (Date.now() < deadline) {
    last = (await s.ok(`query($id: ID!) { stack(id: $id) { ${select} } }`, { id }, token)).stack;
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`stack ${id} did not get there in time; last: ${JSON.stringify(last)}`);
}

export const settled = (stack: Json | null) =>
  !stack || !String(stack.status).endsWith('_IN_PROGRESS');
