import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config';
import { startTestStratus, type TestStratus } from '../support/harness';
import { makeContainer, md5, objectRequest, randomBody, upload } from '../support/objects';
import { startS3rver } from '../support/s3rver';
import { Seed } from '../support/seed';

let s3: Awaited<ReturnType<typeof startS3rver>>;
let s: TestStratus;
let token: string;
beforeAll(async () => {
  s3 = await startS3rver();
  s = await startTestStratus({
    objects: { ...loadConfig({}).objects, driver: 's3', driverConfig: { ...s3.config } },
  });
  token = (await new Seed(s).member('member')).token!;
});
afterAll(async () => {
  await s?.stop();
  await s3?.stop();
});

describe('Stratus on the s3 object driver (s3rver)', () => {
  it('reports the s3 driver in the catalog', async () => {
    const data = await s.ok(`{ catalog { drivers { kind implementation healthy } } }`, {}, token);
    expect(data.catalog.drivers).toContainEqual({
      kind: 'objects',
      implementation: 's3',
      healthy: true,
    });
  });

  it('uploads, reads whole and by range, assembles multipart, and deletes', async () => {
    const c = await makeContainer(s, token, 'on-s3');
    const body = randomBody(2 * 1024 * 1024 + 3);
    expect((await upload(`${c.urlPrefix}blob`, token, body)).status).toBe(201);
    const whole = Buffer.from(
      await (await objectRequest(`${c.urlPrefix}blob`, token)).arrayBuffer(),
    );
    expect(md5(whole)).toBe(md5(body));
    const part = await objectRequest(`${c.urlPrefix}blob`, token, {
      headers: { range: 'bytes=100-199' },
    });
    expect(Buffer.from(await part.arrayBuffer())).toEqual(body.subarray(100, 200));
    expect(
      (await upload(`${c.urlPrefix}bad`, token, body, { etag: md5(Buffer.from('x')) })).status,
    ).toBe(422);

    const created = await s.ok(
      `mutation($c: ID!) { createMultipartUpload(input: { containerId: $c, objectName: "mp" }) { ... on CreateMultipartUploadSuccess { upload { id partUrl } } } }`,
      { c: c.id },
      token,
    );
    const { id, partUrl } = created.createMultipartUpload.upload;
    const parts = [randomBody(1024 * 1024), randomBody(10)];
    for (const [i, p] of parts.entries())
      expect((await upload(`${partUrl}&partNumber=${i + 1}`, token, p)).status).toBe(201);
    await s.ok(
      `mutation($id: ID!) { completeMultipartUpload(uploadId: $id) { __typename } }`,
      { id },
      token,
    );
    const mp = Buffer.from(await (await objectRequest(`${c.urlPrefix}mp`, token)).arrayBuffer());
    expect(md5(mp)).toBe(md5(Buffer.concat(parts)));

    expect((await objectRequest(`${c.urlPrefix}blob`, token, { method: 'DELETE' })).status).toBe(
      204,
    );
    await new Promise((r) => setTimeout(r, 300));
    const keys: string[] = [];
    for await (const key of s.stratus.runtime.objectStore.list()) keys.push(key);
    const referenced = (
      await s.stratus.runtime.pool.query(`select storage_key, segments from objects`)
    ).rows.flatMap(
      (r: { storage_key: string | null; segments: Array<{ storageKey: string }> | null }) => [
        r.storage_key,
        ...(r.segments ?? []).map((x) => x.storageKey),
      ],
    );
    expect(keys.sort()).toEqual(referenced.filter((k): k is string => !!k).sort());
  });

  it('keeps images working: an image uploaded to the s3 driver downloads with the same checksum', async () => {
    const created = await s.ok(
      `mutation { createImage(input: { name: "on-s3", diskFormat: raw }) { ... on CreateImageSuccess { image { id uploadUrl fileUrl } } ... on Error { message } } }`,
      {},
      token,
    );
    const image = created.createImage.image;
    const body = randomBody(300_000);
    expect((await upload(image.uploadUrl, token, body)).status).toBe(204);
    const state = await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Image { status checksum } } }`,
      { id: image.id },
      token,
    );
    expect(state.node).toEqual({ status: 'active', checksum: md5(body) });
    const got = await objectRequest(image.fileUrl, token);
    expect(md5(Buffer.from(await got.arrayBuffer()))).toBe(md5(body));
  });
});
