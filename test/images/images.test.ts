import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { md5, objectRequest, randomBody, upload } from '../support/objects';
import { Seed, type SeededUser } from '../support/seed';

const hasQemuImg = (() => {
  try {
    execFileSync('qemu-img', ['--version']);
    return true;
  } catch {
    return false;
  }
})();
if (!hasQemuImg && process.env.CI === 'true')
  throw new Error('qemu-img is missing: run scripts/install-deps');

let s: TestStratus;
let seed: Seed;
let owner: SeededUser;
let dir: string;
beforeAll(async () => {
  s = await startTestStratus();
  seed = new Seed(s);
  owner = await seed.member('member');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-images-'));
});
afterAll(async () => {
  await s?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const RESULT = `__typename ... on Error { message code } ... on InvalidInputError { field }`;
const FIELDS = `id name status checksum osHashAlgo osHashValue sizeBytes virtualSizeBytes uploadUrl fileUrl failureReason visibility`;
const orphanRows = async () =>
  Number((await s.stratus.runtime.pool.query('select count(*) from orphan_blobs')).rows[0].count);

async function createImage(token: string | null, input: Record<string, unknown>): Promise<Json> {
  const data = await s.ok(
    `mutation($input: CreateImageInput!) { createImage(input: $input) { ${RESULT} ... on CreateImageSuccess { image { ${FIELDS} } } } }`,
    { input },
    token,
  );
  if (!data.createImage.image) throw new Error(JSON.stringify(data));
  return data.createImage.image;
}
const image = async (id: string, token: string | null = owner.token) =>
  (await s.ok(`query($id: ID!) { node(id: $id) { ... on Image { ${FIELDS} } } }`, { id }, token))
    .node;
const qcow2 = (name: string, ...extra: string[]) => {
  const file = path.join(dir, name);
  execFileSync('qemu-img', ['create', '-f', 'qcow2', ...extra, file, '64M'], { stdio: 'ignore' });
  return fs.readFileSync(file);
};

describe.skipIf(!hasQemuImg)('images (qemu-img present)', () => {
  it('a raw upload goes queued -> active with MD5 and SHA-512 of the bytes, and downloads identical', async () => {
    const img = await createImage(owner.token, { name: 'raw-disk', diskFormat: 'raw' });
    expect(img.status).toBe('queued');
    const body = randomBody(2 * 1024 * 1024);
    const put = await upload(img.uploadUrl, owner.token, body);
    expect(put.status).toBe(204);
    const active = await image(img.id);
    expect(active).toMatchObject({
      status: 'active',
      checksum: md5(body),
      osHashAlgo: 'sha512',
      osHashValue: createHash('sha512').update(body).digest('hex'),
      sizeBytes: body.length,
    });
    const got = await objectRequest(img.fileUrl, owner.token);
    expect(got.status).toBe(200);
    expect(md5(Buffer.from(await got.arrayBuffer()))).toBe(md5(body));
    expect((await upload(img.uploadUrl, owner.token, body)).status).toBe(409);
  });

  it('a qcow2 upload records the virtual size qemu-img reads', async () => {
    const img = await createImage(owner.token, { name: 'q', diskFormat: 'qcow2' });
    expect((await upload(img.uploadUrl, owner.token, qcow2('plain.qcow2'))).status).toBe(204);
    expect(await image(img.id)).toMatchObject({
      status: 'active',
      virtualSizeBytes: 64 * 1024 * 1024,
    });
  });

  it.each([
    [
      'a qcow2 declared raw',
      'raw',
      () => qcow2('liar.qcow2'),
      'declared raw but its bytes are qcow2',
    ],
    [
      'a qcow2 with a backing file',
      'qcow2',
      () => qcow2('backed.qcow2', '-b', '/etc/hostname', '-F', 'raw'),
      'backing file',
    ],
    [
      'bytes declared iso without an ISO signature',
      'iso',
      () => randomBody(64 * 1024),
      'no ISO 9660 signature',
    ],
  ])(
    '%s is killed with the reason and keeps no bytes',
    async (_what, diskFormat, bytes, reason) => {
      const img = await createImage(owner.token, { name: 'bad', diskFormat });
      const put = await upload(img.uploadUrl, owner.token, bytes());
      expect(put.status).toBe(400);
      expect((await put.json()).error.message).toContain(reason);
      const killed = await image(img.id);
      expect(killed.status).toBe('killed');
      expect(killed.failureReason).toContain(reason);
      expect(await orphanRows()).toBe(0);
      expect((await objectRequest(img.fileUrl, owner.token)).status).toBe(409);
    },
  );

  it('shares with a member project that must accept it; others see nothing', async () => {
    const img = await createImage(owner.token, {
      name: 'shared-one',
      diskFormat: 'raw',
      visibility: 'shared',
    });
    await upload(img.uploadUrl, owner.token, randomBody(1000));
    const friend = await seed.member('member');
    const stranger = await seed.member('member');
    const listNames = async (token: string | null) =>
      (await s.ok(`{ images { edges { node { name } } } }`, {}, token)).images.edges.map(
        (e: Json) => e.node.name,
      );
    expect(await image(img.id, friend.token)).toBeNull();
    const add = await s.ok(
      `mutation($i: ID!, $p: ID!) { addImageMember(input: { imageId: $i, projectId: $p }) { ${RESULT} ... on AddImageMemberSuccess { member { status } } } }`,
      { i: img.id, p: friend.projectId },
      owner.token,
    );
    expect(add.addImageMember.member.status).toBe('pending');
    expect((await image(img.id, friend.token)).name).toBe('shared-one');
    expect(await listNames(friend.token)).not.toContain('shared-one');
    await s.ok(
      `mutation($i: ID!) { answerImageMembership(input: { imageId: $i, status: accepted }) { __typename } }`,
      { i: img.id },
      friend.token,
    );
    expect(await listNames(friend.token)).toContain('shared-one');
    expect((await objectRequest(img.fileUrl, friend.token)).status).toBe(200);
    expect(await image(img.id, stranger.token)).toBeNull();
    expect((await objectRequest(img.fileUrl, stranger.token)).status).toBe(404);
    const upd = await s.ok(
      `mutation($i: ID!) { updateImage(input: { id: $i, name: "stolen" }) { ${RESULT} } }`,
      { i: img.id },
      friend.token,
    );
    expect(upd.updateImage.__typename).toBe('ForbiddenError');
    const del = await s.ok(
      `mutation($i: ID!) { deleteImage(id: $i) { ${RESULT} } }`,
      { i: img.id },
      stranger.token,
    );
    expect(del.deleteImage.__typename).toBe('NotFoundError');
  });

  it('only an admin makes an image public; community images are visible by id and listed on request', async () => {
    const refused = await s.ok(
      `mutation { createImage(input: { name: "pub", diskFormat: raw, visibility: public }) { ${RESULT} } }`,
      {},
      owner.token,
    );
    expect(refused.createImage.__typename).toBe('ForbiddenError');
    const community = await createImage(owner.token, {
      name: 'comm',
      diskFormat: 'raw',
      visibility: 'community',
    });
    const other = await seed.member('reader');
    expect((await image(community.id, other.token)).name).toBe('comm');
    const listed = await s.ok(
      `{ images(filter: { visibility: community }) { edges { node { name } } } }`,
      {},
      other.token,
    );
    expect(listed.images.edges.map((e: Json) => e.node.name)).toContain('comm');
  });

  it('a protected image cannot be deleted; once unprotected it is, with its bytes', async () => {
    const img = await createImage(owner.token, {
      name: 'keep',
      diskFormat: 'raw',
      protected: true,
    });
    await upload(img.uploadUrl, owner.token, randomBody(100));
    const refused = await s.ok(
      `mutation($i: ID!) { deleteImage(id: $i) { ${RESULT} } }`,
      { i: img.id },
      owner.token,
    );
    expect(refused.deleteImage.__typename).toBe('ConflictError');
    await s.ok(
      `mutation($i: ID!) { updateImage(input: { id: $i, protected: false }) { __typename } }`,
      { i: img.id },
      owner.token,
    );
    const deleted = await s.ok(
      `mutation($i: ID!) { deleteImage(id: $i) { ${RESULT} ... on DeleteImageSuccess { image { status } } } }`,
      { i: img.id },
      owner.token,
    );
    expect(deleted.deleteImage.image.status).toBe('deleted');
    expect(await image(img.id)).toBeNull();
    await new Promise((r) => setTimeout(r, 200));
    expect(await orphanRows()).toBe(0);
  });

  it('a deactivated image cannot be downloaded by its owner, an admin still can, and it reactivates', async () => {
    const img = await createImage(owner.token, { name: 'deact', diskFormat: 'raw' });
    await upload(img.uploadUrl, owner.token, randomBody(100));
    const d = await s.ok(
      `mutation($i: ID!) { deactivateImage(id: $i) { ${RESULT} } }`,
      { i: img.id },
      s.adminToken,
    );
    expect(d.deactivateImage.__typename).toBe('DeactivateImageSuccess');
    expect((await objectRequest(img.fileUrl, owner.token)).status).toBe(403);
    expect((await objectRequest(img.fileUrl, s.adminToken)).status).toBe(200);
    expect(
      (
        await s.gql(
          `mutation($i: ID!) { deactivateImage(id: $i) { __typename } }`,
          { i: img.id },
          owner.token,
        )
      ).errors?.[0]?.extensions?.code,
    ).toBe('FORBIDDEN');
    await s.ok(
      `mutation($i: ID!) { reactivateImage(id: $i) { __typename } }`,
      { i: img.id },
      s.adminToken,
    );
    expect((await objectRequest(img.fileUrl, owner.token)).status).toBe(200);
  });

  it('imports another image into a new private one with the same checksum', async () => {
    const src = await createImage(owner.token, {
      name: 'src',
      diskFormat: 'raw',
      visibility: 'community',
    });
    const body = randomBody(5000);
    await upload(src.uploadUrl, owner.token, body);
    const other = await seed.member('member');
    const res = await s.ok(
      `mutation($i: ID!) { importImage(input: { sourceImageId: $i, name: "copy" }) { ${RESULT} ... on ImportImageSuccess { image { ${FIELDS} operation { id kind } } } } }`,
      { i: src.id },
      other.token,
    );
    // The row at once, queued; the copy is the image's operation.
    const started = res.importImage.image;
    expect(started).toMatchObject({ name: 'copy', status: 'queued', visibility: 'private' });
    expect(started.operation.kind).toBe('image.import');
    const watch = s.subscribe(
      `subscription($id: ID!) { operation(id: $id) { status stages { name status } result } }`,
      { id: started.operation.id },
      other.token,
    );
    await watch.ended;
    const last = watch.values[watch.values.length - 1].data.operation;
    expect(last).toMatchObject({
      status: 'SUCCEEDED',
      stages: [{ name: 'copying', status: 'DONE' }],
    });
    expect(await image(started.id, other.token)).toMatchObject({
      status: 'active',
      checksum: md5(body),
      sizeBytes: 5000,
    });
    expect(
      md5(Buffer.from(await (await objectRequest(started.fileUrl, other.token)).arrayBuffer())),
    ).toBe(md5(body));
  });

  it('an import whose source bytes are gone ends killed, its operation FAILED', async () => {
    const src = await createImage(owner.token, { name: 'hollow-src', diskFormat: 'raw' });
    await upload(src.uploadUrl, owner.token, randomBody(100));
    // The row says active but the store lost the bytes: the copy in the job must fail.
    const { rows } = await s.stratus.runtime.pool.query(
      'select storage_key from images where name = $1',
      ['hollow-src'],
    );
    await s.stratus.runtime.objectStore.delete(rows[0].storage_key);
    const res = await s.ok(
      `mutation($i: ID!) { importImage(input: { sourceImageId: $i, name: "hollow" }) { ${RESULT} ... on ImportImageSuccess { image { id operation { id } } } } }`,
      { i: src.id },
      owner.token,
    );
    const started = res.importImage.image;
    const watch = s.subscribe(
      `subscription($id: ID!) { operation(id: $id) { status error { code } } }`,
      { id: started.operation.id },
      owner.token,
    );
    await watch.ended;
    const last = watch.values[watch.values.length - 1].data.operation;
    expect(last).toEqual({ status: 'FAILED', error: { code: 'IMPORT_FAILED' } });
    const killed = await image(started.id);
    expect(killed.status).toBe('killed');
    expect(killed.failureReason).toBeTruthy();
    expect(await orphanRows()).toBe(0);
  });

  it.each([
    [{ name: '', diskFormat: 'raw' }, 'input.name'],
    [{ name: 'k', diskFormat: 'aki', containerFormat: 'bare' }, 'input.containerFormat'],
    [
      { name: 'p', diskFormat: 'raw', properties: { 'bad key!': 'x' } },
      'input.properties.bad key!',
    ],
  ])('refuses %j naming %s', async (input, field) => {
    const res = await s.ok(
      `mutation($input: CreateImageInput!) { createImage(input: $input) { ${RESULT} } }`,
      { input },
      owner.token,
    );
    expect(res.createImage).toMatchObject({ __typename: 'InvalidInputError', field });
  });
});
