import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../resolvers/errors';
import { imagePlugin, webImagePlugin } from '../../resolvers/stacks/resources/glance/image';
import { emptyDisk, rawId, uploadImage } from '../support/compute';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed, type SeededUser } from '../support/seed';
import { sqlCount } from '../support/servers';
import { createResource, deleteResource, pluginContext } from './plugin-support';

/**
 * OS::Glance::WebImage and OS::Glance::Image against a real Stratus: a queued record without
 * a location, an import from a Stratus image's data URL, in-place updates, delete; any
 * other location is refused at `location`, with nothing created.
 */

let s: TestStratus;
let member: SeededUser;
let projectId: string;
let sourceId: string;

const imageRows = () =>
  sqlCount(s, "select count(*) from images where owner_project_id = $1 and status <> 'deleted'", [
    projectId,
  ]);

async function row(id: string | null): Promise<Record<string, unknown>> {
  const { rows } = await s.stratus.runtime.pool.query('select * from images where id = $1', [id]);
  return rows[0];
}

beforeAll(async () => {
  s = await startTestStratus();
  member = await new Seed(s).member('member');
  projectId = rawId(member.projectId);
  sourceId = rawId(
    await uploadImage(
      s,
      s.adminToken,
      {
        name: 'source-disk',
        diskFormat: 'raw',
        visibility: 'public',
        properties: { os_distro: 'debian' },
      },
      emptyDisk(),
    ),
  );
}, 60_000);
afterAll(() => s?.stop());

describe('OS::Glance::WebImage', () => {
  it('without a location: a queued image as Glance makes it; updated in place; deleted', async () => {
    const ctx = await pluginContext(s, member, 'image');
    const props = {
      name: 'app-disk',
      disk_format: 'qcow2',
      container_format: 'bare',
      min_ram: 64,
      tags: ['app'],
      architecture: 'x86_64',
      extra_properties: { hw_disk_bus: 'virtio' },
    };
    const state = await createResource(webImagePlugin, ctx, props);
    expect(await row(state.physicalId)).toMatchObject({
      name: 'app-disk',
      status: 'queued',
      visibility: 'private',
      disk_format: 'qcow2',
      min_ram_mib: 64,
      tags: ['app'],
      properties: { architecture: 'x86_64', hw_disk_bus: 'virtio' },
    });
    expect(await webImagePlugin.attribute(ctx, state, 'show')).toMatchObject({
      id: state.physicalId,
      status: 'queued',
      architecture: 'x86_64',
    });
    const changed = { ...props, name: 'app-disk-2', tags: ['app', 'v2'], architecture: 'aarch64' };
    const result = await webImagePlugin.update!(ctx, state, changed, [
      'name',
      'tags',
      'architecture',
    ]);
    expect(result).toEqual({ kind: 'updated' });
    expect(await row(state.physicalId)).toMatchObject({
      name: 'app-disk-2',
      tags: ['app', 'v2'],
      properties: { architecture: 'aarch64', hw_disk_bus: 'virtio' },
    });
    await deleteResource(webImagePlugin, ctx, state);
    expect((await row(state.physicalId)).status).toBe('deleted');
    await deleteResource(webImagePlugin, ctx, state); // already gone: success
    expect(await imageRows()).toBe(0);
  });

  it("imports from a Stratus image's data URL inside the object store", async () => {
    const ctx = await pluginContext(s, member, 'copy');
    const state = await createResource(webImagePlugin, ctx, {
      disk_format: 'raw',
      container_format: 'bare',
      location: `${s.url}/v2/images/${sourceId}/file`,
      tags: ['copied'],
    });
    const copied = await row(state.physicalId);
    expect(copied).toMatchObject({
      name: ctx.physicalName,
      status: 'active',
      visibility: 'private',
      owner_project_id: projectId,
      tags: ['copied'],
      size_bytes: (await row(sourceId)).size_bytes,
    });
    await deleteResource(webImagePlugin, ctx, state);
    expect(await imageRows()).toBe(0);
  });

  it('refuses downloads, a wrong format, an id or a bad disk format at the property, creating nothing', async () => {
    const ctx = await pluginContext(s, member, 'bad');
    const base = { disk_format: 'raw', container_format: 'bare' };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...base, location: 'https://example.com/cirros.img' }, 'location'],
      [{ ...base, location: `${s.url}/v2/images/not-an-id/file` }, 'location'],
      [{ ...base, location: `${s.url}/v2/images/${crypto.randomUUID()}/file` }, 'location'],
      [
        { ...base, disk_format: 'qcow2', location: `${s.url}/v2/images/${sourceId}/file` },
        'disk_format',
      ],
      [{ ...base, disk_format: 'vmdk' }, 'disk_format'],
      [{ ...base, id: crypto.randomUUID() }, 'id'],
      [{ ...base, min_ram: 'lots' }, 'min_ram'],
    ];
    for (const [props, prop] of cases) {
      const error = await webImagePlugin.create(ctx, props).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error, JSON.stringify(props)).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).field).toBe(`resources.bad.properties.${prop}`);
      expect((error as Error).message).toContain(`resources.bad.properties.${prop}`);
    }
    const preview = await webImagePlugin.validate!(ctx, cases[0][0]).then(
      () => null,
      (e: InvalidInputError) => e.field,
    );
    expect(preview).toBe('resources.bad.properties.location');
    expect(await imageRows()).toBe(0);
  });
});

describe('OS::Glance::Image', () => {
  it('is_public false makes a private image; os_distro and kernel_id become properties', async () => {
    const ctx = await pluginContext(s, member, 'legacy');
    const state = await createResource(imagePlugin, ctx, {
      name: 'legacy',
      disk_format: 'raw',
      container_format: 'bare',
      is_public: false,
      os_distro: 'debian',
      protected: true,
    });
    expect(await row(state.physicalId)).toMatchObject({
      visibility: 'private',
      protected: true,
      properties: { os_distro: 'debian' },
    });
    // A protected image is refused by Glance's rule; unprotecting in place lets it go.
    await expect(deleteResource(imagePlugin, ctx, state)).rejects.toThrow(/protected/);
    await imagePlugin.update!(ctx, state, { ...state.properties, protected: false }, ['protected']);
    await deleteResource(imagePlugin, ctx, state);
    expect(await imageRows()).toBe(0);
  });
});
