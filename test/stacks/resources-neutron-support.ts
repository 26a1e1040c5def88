import { expect } from 'vitest';
import { InvalidInputError } from '../../resolvers/errors';
import type { ResourceContext, ResourcePlugin } from '../../resolvers/stacks/resources/plugin';
import { findPlugin } from '../../resolvers/stacks/resources/registry';
import type { Json, TestStratus } from '../support/harness';
import type { SeededUser } from '../support/seed';

/** Helpers of the neutron resource type tests: plugins by type, GraphQL reads of the rows. */

export function plugin(type: string): ResourcePlugin {
  const found = findPlugin(type);
  if (!found) throw new Error(`${type} is not registered`);
  return found;
}

const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

/** The node through the GraphQL API as `user` sees it, or null when it is gone. */
export async function node(
  s: TestStratus,
  user: SeededUser,
  type: string,
  id: string,
  fields: string,
): Promise<Json | null> {
  const data = await s.ok(
    `query($id: ID!) { node(id: $id) { id ... on ${type} { ${fields} } } }`,
    { id: globalId(type, id) },
    user.token,
  );
  return data.node;
}

/** Rows of the networks tables (and quota use) in the database: what a refused create must not change. */
export async function networkRows(s: TestStratus): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of [
    'networks',
    'subnets',
    'ports',
    'ip_allocations',
    'routers',
    'floating_ips',
    'security_groups',
    'security_group_rules',
  ]) {
    const { rows } = await s.stratus.runtime.pool.query(`select count(*)::int as n from ${t}`);
    out[t] = rows[0].n;
  }
  return out;
}

/** `run` fails with an InvalidInputError whose field is `field`, and writes no networks row. */
export async function refused(
  s: TestStratus,
  field: string,
  run: () => Promise<unknown>,
): Promise<InvalidInputError> {
  const before = await networkRows(s);
  const error = await run().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `expected an error at ${field}`).toBeInstanceOf(InvalidInputError);
  expect((error as InvalidInputError).field).toBe(field);
  // The message names the property (resources.<name>.properties.<property>...).
  expect((error as InvalidInputError).message).toContain(field.split('.').slice(0, 4).join('.'));
  expect(await networkRows(s)).toEqual(before);
  return error as InvalidInputError;
}

/** validate, then create: both must refuse the same property. */
export async function refusedBoth(
  s: TestStratus,
  p: ResourcePlugin,
  ctx: ResourceContext,
  props: Record<string, unknown>,
  field: string,
): Promise<void> {
  await refused(s, field, () => p.validate!(ctx, props));
  await refused(s, field, () => p.create(ctx, props));
}
