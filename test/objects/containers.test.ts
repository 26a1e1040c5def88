import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireObjects } from '../../resolvers/objects/objects';
import { startTestStratus, type TestStratus } from '../support/harness';
import {
  makeContainer,
  md5,
  objectNames,
  objectRequest,
  randomBody,
  upload,
} from '../support/objects';
import { Seed } from '../support/seed';

let s: TestStratus;
let seed: Seed;
let token: string;
let projectId: string;
beforeAll(async () => {
  s = await startTestStratus();
  seed = new Seed(s);
  const m = await seed.member('member');
  token = m.token!;
  projectId = m.projectId;
});
afterAll(() => s?.stop());

const RESULT = `__typename ... on Error { message code } ... on InvalidInputError { field }`;

describe('containers', () => {
  it('lists with prefix and delimiter as Swift pseudo-folders, in byte order', async () => {
    const c = await makeContainer(s, token, 'tree');
    for (const name of ['b', 'a/2', 'a/1', 'c/d/e', 'c/f', 'Z'])
      await upload(`${c.urlPrefix}${name}`, token, randomBody(3));
    const list = async (prefix: string, delimiter: string | null) => {
      const data = await s.ok(
        `query($id: ID!, $p: String, $d: String) { node(id: $id) { ... on Container { objects(prefix: $p, delimiter: $d) { totalCount edges { node { __typename ... on StoredObject { name } ... on PseudoFolder { prefix } } } } } } }`,
        { id: c.id, p: prefix, d: delimiter },
        token,
      );
      return data.node.objects.edges.map(
        (e: { node: { name?: string; prefix?: string } }) => e.node.name ?? e.node.prefix,
      );
    };
    expect(await list('', null)).toEqual(['Z', 'a/1', 'a/2', 'b', 'c/d/e', 'c/f']);
    expect(await list('', '/')).toEqual(['Z', 'a/', 'b', 'c/']);
    expect(await list('c/', '/')).toEqual(['c/d/', 'c/f']);
    expect(await list('a/', null)).toEqual(['a/1', 'a/2']);
  });

  it('refuses to delete a container that holds objects unless asked to empty it, then frees everything', async () => {
    const c = await makeContainer(s, token, 'full');
    await upload(`${c.urlPrefix}x`, token, randomBody(10));
    const refused = await s.ok(
      `mutation($id: ID!) { deleteContainer(id: $id) { ${`__typename ... on Error { message code }`} } }`,
      { id: c.id },
      token,
    );
    expect(refused.deleteContainer.__typename).toBe('ConflictError');
    const done = await s.ok(
      `mutation($id: ID!) { deleteContainer(id: $id, emptyFirst: true) { __typename } }`,
      { id: c.id },
      token,
    );
    expect(done.deleteContainer.__typename).toBe('DeleteContainerSuccess');
    await new Promise((r) => setTimeout(r, 200));
    const blobs = [];
    for await (const key of s.stratus.runtime.objectStore.list()) blobs.push(key);
    const rows = await s.stratus.runtime.pool.query('select storage_key from objects');
    expect(blobs.sort()).toEqual(rows.rows.map((r) => r.storage_key).sort());
  });

  it.each([
    ['', 'must not be empty'],
    ['a/b', 'must not contain "/"'],
    ['..', 'must not be ".."'],
  ])('refuses the container name %j', async (name, message) => {
    const res = await s.ok(
      `mutation($input: CreateContainerInput!) { createContainer(input: $input) { ${RESULT} } }`,
      { input: { name } },
      token,
    );
    expect(res.createContainer.__typename).toBe('InvalidInputError');
    expect(res.createContainer.message).toContain(message);
  });

  it('copies server-side and bulk-deletes', async () => {
    const c = await makeContainer(s, token, 'copies');
    const body = randomBody(5000);
    await upload(`${c.urlPrefix}orig`, token, body);
    const copy = await s.ok(
      `mutation($c: ID!) { copyObject(input: { from: { containerId: $c, name: "orig" }, to: { containerId: $c, name: "dup" } }) { ${RESULT} ... on CopyObjectSuccess { object { etag sizeBytes } } } }`,
      { c: c.id },
      token,
    );
    expect(copy.copyObject.object).toEqual({ etag: md5(body), sizeBytes: 5000 });
    expect(
      md5(Buffer.from(await (await objectRequest(`${c.urlPrefix}dup`, token)).arrayBuffer())),
    ).toBe(md5(body));
    const bulk = await s.ok(
      `mutation($c: ID!) { bulkDeleteObjects(input: { containerId: $c, names: ["orig", "dup", "ghost"] }) { ${RESULT} ... on BulkDeleteObjectsSuccess { result { deleted notFound } } } }`,
      { c: c.id },
      token,
    );
    expect(bulk.bulkDeleteObjects.result).toEqual({
      deleted: ['orig', 'dup'],
      notFound: ['ghost'],
    });
    expect(await objectNames(s, token, c.id)).toEqual([]);
  });
});

describe('large objects', () => {
  it('assembles a multipart upload, serves it whole and by ranges across parts', async () => {
    const c = await makeContainer(s, token, 'large');
    const created = await s.ok(
      `mutation($c: ID!) { createMultipartUpload(input: { containerId: $c, objectName: "big.bin" }) { ${RESULT} ... on CreateMultipartUploadSuccess { upload { id partUrl } } } }`,
      { c: c.id },
      token,
    );
    const { id, partUrl } = created.createMultipartUpload.upload;
    const parts = [randomBody(3 * 1024 * 1024), randomBody(1024 * 1024 + 7)];
    // Parts may arrive in any order.
    expect((await upload(`${partUrl}&partNumber=2`, token, parts[1])).status).toBe(201);
    expect((await upload(`${partUrl}&partNumber=1`, token, parts[0])).status).toBe(201);
    const done = await s.ok(
      `mutation($id: ID!) { completeMultipartUpload(uploadId: $id) { ${RESULT} ... on CompleteMultipartUploadSuccess { object { sizeBytes etag segmentCount } } } }`,
      { id },
      token,
    );
    const whole = Buffer.concat(parts);
    expect(done.completeMultipartUpload.object.sizeBytes).toBe(whole.length);
    expect(done.completeMultipartUpload.object.segmentCount).toBe(2);
    expect(done.completeMultipartUpload.object.etag).toMatch(/^[0-9a-f]{32}-2$/);
    const got = Buffer.from(
      await (await objectRequest(`${c.urlPrefix}big.bin`, token)).arrayBuffer(),
    );
    expect(md5(got)).toBe(md5(whole));
    const boundary = parts[0].length;
    const across = await objectRequest(`${c.urlPrefix}big.bin`, token, {
      headers: { range: `bytes=${boundary - 5}-${boundary + 4}` },
    });
    expect(Buffer.from(await across.arrayBuffer())).toEqual(
      whole.subarray(boundary - 5, boundary + 5),
    );
  });

  it('refuses to complete with a missing part', async () => {
    const c = await makeContainer(s, token, 'gappy');
    const created = await s.ok(
      `mutation($c: ID!) { createMultipartUpload(input: { containerId: $c, objectName: "g" }) { ... on CreateMultipartUploadSuccess { upload { id partUrl } } } }`,
      { c: c.id },
      token,
    );
    const { id, partUrl } = created.createMultipartUpload.upload;
    await upload(`${partUrl}&partNumber=2`, token, randomBody(10));
    const res = await s.ok(
      `mutation($id: ID!) { completeMultipartUpload(uploadId: $id) { ${RESULT} } }`,
      { id },
      token,
    );
    expect(res.completeMultipartUpload).toMatchObject({ __typename: 'InvalidInputError' });
    expect(res.completeMultipartUpload.message).toContain('Part 1 is missing');
    const aborted = await s.ok(
      `mutation($id: ID!) { abortMultipartUpload(uploadId: $id) { __typename } }`,
      { id },
      token,
    );
    expect(aborted.abortMultipartUpload.__typename).toBe('AbortMultipartUploadSuccess');
  });
});

describe('temp URLs', () => {
  const TEMP = `mutation($input: CreateTempUrlInput!) { createTempUrl(input: $input) { ${RESULT} ... on CreateTempUrlSuccess { tempUrl { url expiresAt } } } }`;

  it('a GET temp URL works without a token; tampered, expired or other-method use is refused', async () => {
    const c = await makeContainer(s, token, 'shared');
    const body = randomBody(100);
    await upload(`${c.urlPrefix}file`, token, body);
    const made = await s.ok(
      TEMP,
      { input: { containerId: c.id, objectName: 'file', method: 'GET', expiresInSeconds: 60 } },
      token,
    );
    const url = made.createTempUrl.tempUrl.url;
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer())).toEqual(body);
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(200);
    const tampered = url.replace(
      /temp_url_sig=(.)/,
      (_m: string, ch: string) => `temp_url_sig=${ch === 'a' ? 'b' : 'a'}`,
    );
    expect((await fetch(tampered)).status).toBe(401);
    expect((await fetch(url.replace('/file?', '/other?'))).status).toBe(401);
    expect((await fetch(url, { method: 'PUT', body: 'x' })).status).toBe(401);

    const short = await s.ok(
      TEMP,
      { input: { containerId: c.id, objectName: 'file', method: 'GET', expiresInSeconds: 1 } },
      token,
    );
    await new Promise((r) => setTimeout(r, 2100));
    const expired = await fetch(short.createTempUrl.tempUrl.url);
    expect(expired.status).toBe(401);
    expect((await expired.json()).error.message).toContain('expired');
  });

  it('a PUT temp URL uploads without a token', async () => {
    const c = await makeContainer(s, token, 'dropbox');
    const made = await s.ok(
      TEMP,
      { input: { containerId: c.id, objectName: 'in', method: 'PUT', expiresInSeconds: 60 } },
      token,
    );
    const body = randomBody(64);
    const put = await fetch(made.createTempUrl.tempUrl.url, { method: 'PUT', body });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(
      md5(Buffer.from(await (await objectRequest(`${c.urlPrefix}in`, token)).arrayBuffer())),
    ).toBe(md5(body));
  });
});

describe('ACLs and isolation', () => {
  it('PUBLIC lets anyone read but nobody else write; PROJECTS lets the listed project read', async () => {
    const c = await makeContainer(s, token, 'acl');
    await upload(`${c.urlPrefix}doc`, token, randomBody(10));
    const friend = await seed.member('reader');
    const stranger = await seed.member('member');
    expect((await objectRequest(`${c.urlPrefix}doc`, friend.token)).status).toBe(403);

    const setAcl = (acl: string, ids: string[] = []) =>
      s.ok(
        `mutation($input: UpdateContainerInput!) { updateContainer(input: $input) { ${RESULT} } }`,
        { input: { id: c.id, readAcl: acl, readProjectIds: ids } },
        token,
      );
    expect((await setAcl('PROJECTS', [friend.projectId])).updateContainer.__typename).toBe(
      'UpdateContainerSuccess',
    );
    expect((await objectRequest(`${c.urlPrefix}doc`, friend.token)).status).toBe(200);
    expect((await objectRequest(`${c.urlPrefix}doc`, stranger.token)).status).toBe(403);
    expect((await upload(`${c.urlPrefix}doc`, friend.token, randomBody(3))).status).toBe(403);

    await setAcl('PUBLIC');
    expect((await objectRequest(`${c.urlPrefix}doc`, null)).status).toBe(200);
    expect((await upload(`${c.urlPrefix}doc`, null, randomBody(3))).status).toBe(401);
    expect((await objectRequest(`${c.urlPrefix}doc`, null, { method: 'DELETE' })).status).toBe(401);
  });

  it('another project cannot list, change or delete the container through GraphQL', async () => {
    const c = await makeContainer(s, token, 'mine');
    const other = await seed.member('member');
    const list = await s.ok(`{ containers { totalCount } }`, {}, other.token);
    expect(list.containers.totalCount).toBe(0);
    const del = await s.ok(
      `mutation($id: ID!) { deleteContainer(id: $id, emptyFirst: true) { __typename } }`,
      { id: c.id },
      other.token,
    );
    expect(del.deleteContainer.__typename).toBe('NotFoundError');
    const temp = await s.ok(
      `mutation($c: ID!) { createTempUrl(input: { containerId: $c, objectName: "x", method: GET, expiresInSeconds: 60 }) { __typename } }`,
      { c: c.id },
      other.token,
    );
    expect(temp.createTempUrl.__typename).toBe('NotFoundError');
    const reader = await seed.member('reader', projectId);
    const readerCreate = await s.gql(
      `mutation { createContainer(input: { name: "nope" }) { __typename } }`,
      {},
      reader.token,
    );
    expect(readerCreate.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('events and expiry', () => {
  it('streams object created and deleted events of one container', async () => {
    const c = await makeContainer(s, token, 'watched');
    const sub = s.subscribe(
      `subscription($c: ID!) { containerObjects(containerId: $c) { kind name sizeBytes } }`,
      { c: c.id },
      token,
    );
    await new Promise((r) => setTimeout(r, 300));
    await upload(`${c.urlPrefix}w`, token, randomBody(42));
    await objectRequest(`${c.urlPrefix}w`, token, { method: 'DELETE' });
    const values = await sub.waitFor(2);
    expect(values.map((v) => v.data.containerObjects)).toEqual([
      { kind: 'OBJECT_CREATED', name: 'w', sizeBytes: 42 },
      { kind: 'OBJECT_DELETED', name: 'w', sizeBytes: 42 },
    ]);
    sub.close();
  });

  it('an object with X-Delete-After disappears when due and the expirer frees it', async () => {
    const c = await makeContainer(s, token, 'ephemeral');
    expect(
      (await upload(`${c.urlPrefix}soon`, token, randomBody(10), { 'x-delete-after': '1' })).status,
    ).toBe(201);
    expect((await objectRequest(`${c.urlPrefix}soon`, token)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await objectRequest(`${c.urlPrefix}soon`, token)).status).toBe(404);
    expect(await expireObjects(s.stratus.runtime)).toBeGreaterThanOrEqual(1);
    const counts = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Container { objectCount } } }`,
      { id: c.id },
      token,
    );
    expect(counts.node.objectCount).toBe(0);
  });
});
