import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../resolvers/errors';
import {
  ResourceActionNotSupportedError,
  swiftContainer,
} from '../../resolvers/stacks/resources/swift/container';
import { rawId } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { objectRequest, upload } from '../support/objects';
import { Seed, type SeededUser } from '../support/seed';
import { sqlCount } from '../support/servers';
import { createResource, deleteResource, pluginContext } from './plugin-support';

/**
 * OS::Swift::Container against a real Stratus (filesystem objects driver): the container
 * row, objects written over Swift's HTTP API at the WebsiteURL attribute, and Heat's
 * PurgeOnDelete rule on delete.
 */

let s: TestStratus;
let alice: SeededUser;

beforeAll(async () => {
  s = await startTestStratus();
  alice = await new Seed(s).member('member');
});
afterAll(() => s?.stop());

const containers = () =>
  sqlCount(s, 'select count(*) from containers where project_id = $1', [rawId(alice.projectId)]);

/** Files the objects driver holds, anywhere under its root. */
function blobFiles(): string[] {
  const root = String(s.config.objects.driverConfig.root);
  return (fs.readdirSync(root, { recursive: true }) as string[]).filter((f) =>
    fs.statSync(path.join(root, f)).isFile(),
  );
}

async function invalid(fn: () => Promise<unknown>, field: string) {
  const error = await fn().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as InvalidInputError).field).toBe(field);
  // The message names the property (a metadata key error names the key after it).
  expect((error as Error).message).toContain(field.split('.').slice(0, 4).join('.'));
}

describe('OS::Swift::Container', () => {
  it('creates with ACL and metadata, serves objects at WebsiteURL, refuses a non-empty delete, purges', async () => {
    const ctx = await pluginContext(s, alice, 'bucket');
    const props = {
      'X-Container-Read': '.r:*,.rlistings',
      'X-Container-Meta': { Owner: 'web' },
      PurgeOnDelete: false,
    };
    await swiftContainer.validate!(ctx, props);
    expect(swiftContainer.quota!(props)).toEqual([{ resource: 'containers', amount: 1 }]);
    const state = await createResource(swiftContainer, ctx, props);
    const [row] = (
      await s.stratus.runtime.pool.query('select * from containers where id = $1', [
        state.physicalId,
      ])
    ).rows;
    expect(row).toMatchObject({
      name: ctx.physicalName,
      read_acl: 'PUBLIC',
      metadata: { owner: 'web' },
    });

    const root = String(await swiftContainer.attribute(ctx, state, 'RootURL'));
    expect(root).toBe(`${s.url}/v1/AUTH_${rawId(alice.projectId)}`);
    expect(await swiftContainer.attribute(ctx, state, 'DomainName')).toBe('127.0.0.1');
    const website = String(await swiftContainer.attribute(ctx, state, 'WebsiteURL'));
    expect(website).toBe(`${root}/${ctx.physicalName}`);

    // The URL is real: an object written there is read back anonymously (public read ACL).
    const put = await upload(`${website}/index.html`, alice.token, Buffer.from('hello'));
    expect(put.status).toBe(201);
    const got = await objectRequest(`${website}/index.html`, null);
    expect(await got.text()).toBe('hello');
    expect(await swiftContainer.attribute(ctx, state, 'ObjectCount')).toBe(1);
    expect(await swiftContainer.attribute(ctx, state, 'BytesUsed')).toBe(5);
    expect(await swiftContainer.attribute(ctx, state, 'HeadContainer')).toMatchObject({
      'x-container-object-count': '1',
      'x-container-bytes-used': '5',
      'x-container-meta-owner': 'web',
    });
    expect(await swiftContainer.attribute(ctx, state, 'show')).toMatchObject({
      id: state.physicalId,
      count: 1,
    });
    expect(swiftContainer.update).toBeUndefined(); // Heat: every change replaces it

    // Not empty, no PurgeOnDelete: the delete fails with Heat's message and keeps everything.
    const refused = await swiftContainer.delete(ctx, state).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ResourceActionNotSupportedError);
    expect((refused as Error).message).toBe(
      `Deleting non-empty container (${ctx.physicalName}) when PurgeOnDelete is False is not supported for resource.`,
    );
    expect(await containers()).toBe(1);
    expect(blobFiles().length).toBeGreaterThan(0);

    // The template changed to PurgeOnDelete: the objects go first, then the container.
    await deleteResource(swiftContainer, ctx, {
      ...state,
      properties: { ...props, PurgeOnDelete: true },
    });
    expect(await containers()).toBe(0);
    await expect.poll(() => blobFiles(), { timeout: 20_000 }).toEqual([]);
    // Deleting again (the engine retrying) is success.
    await deleteResource(swiftContainer, ctx, state);
  });

  it('takes a given name and a per-project read ACL; deletes an empty container', async () => {
    const other = rawId(alice.projectId);
    const ctx = await pluginContext(s, alice, 'named');
    const state = await createResource(swiftContainer, ctx, {
      name: 'my-container',
      'X-Container-Read': `${other}:*`,
    });
    expect(await swiftContainer.attribute(ctx, state, 'show')).toMatchObject({
      name: 'my-container',
      read_acl: 'PROJECTS',
      read_project_ids: [other],
    });
    await deleteResource(swiftContainer, ctx, state);
    expect(await containers()).toBe(0);
  });

  it('refuses bad properties by path, creating nothing', async () => {
    const ctx = await pluginContext(s, alice, 'bad');
    const f = (p: string) => `resources.bad.properties.${p}`;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ 'X-Container-Write': 'someone:*' }, f('X-Container-Write')],
      [{ 'X-Account-Meta': { a: '1' } }, f('X-Account-Meta')],
      [{ 'X-Container-Read': '.r:example.com' }, f('X-Container-Read')],
      [{ 'X-Container-Read': 'proj:user' }, f('X-Container-Read')],
      [{ name: 'a/b' }, f('name')],
      [{ 'X-Container-Meta': { 'bad key!': 'x' } }, f('X-Container-Meta.bad key!')],
    ];
    for (const [props, field] of cases) {
      await invalid(() => swiftContainer.validate!(ctx, props), field);
      await invalid(() => swiftContainer.create(ctx, props), field);
    }
    // A name already taken in the project.
    const first = await createResource(swiftContainer, ctx, { name: 'taken' });
    await invalid(() => swiftContainer.validate!(ctx, { name: 'taken' }), f('name'));
    await deleteResource(swiftContainer, ctx, first);
    expect(await containers()).toBe(0);
  });
});
