import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStratus, type TestStratus } from '../support/harness';
import {
  makeContainer,
  md5,
  objectNames,
  objectRequest,
  randomBody,
  type TestContainer,
  upload,
} from '../support/objects';
import { Seed } from '../support/seed';

let s: TestStratus;
let seed: Seed;
let token: string;
let box: TestContainer;
beforeAll(async () => {
  s = await startTestStratus();
  seed = new Seed(s);
  token = (await seed.member('member')).token!;
  box = await makeContainer(s, token, 'box');
});
afterAll(() => s?.stop());

const counters = async (id: string) =>
  (
    await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Container { objectCount bytesUsed } } }`,
      { id },
      token,
    )
  ).node;
const orphanRows = async () =>
  Number((await s.stratus.runtime.pool.query('select count(*) from orphan_blobs')).rows[0].count);
const tmpFiles = () =>
  fs.readdirSync(path.join(String(s.config.objects.driverConfig.root), '.tmp'));

/** A PUT whose path goes out exactly as written. */
function rawPut(url: string, body: Buffer): Promise<number> {
  const u = new URL(url.replace(/\/(\.{1,2})(?=\/|$)/g, '/__dot$1__'));
  const path = u.pathname.replace(/__dot(\.{1,2})__/g, '$1');
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method: 'PUT',
        path,
        headers: { 'x-auth-token': token, 'content-length': body.length },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('object bytes over HTTP', () => {
  it('uploads and downloads 3 MiB with matching MD5, ETag, type and metadata', async () => {
    const body = randomBody(3 * 1024 * 1024);
    const put = await upload(`${box.urlPrefix}data.bin`, token, body, {
      'content-type': 'application/x-test',
      'x-object-meta-color': 'blue',
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('etag')).toBe(`"${md5(body)}"`);
    const get = await objectRequest(`${box.urlPrefix}data.bin`, token);
    expect(get.status).toBe(200);
    const got = Buffer.from(await get.arrayBuffer());
    expect(md5(got)).toBe(md5(body));
    expect(get.headers.get('content-type')).toBe('application/x-test');
    expect(get.headers.get('x-object-meta-color')).toBe('blue');
    expect(get.headers.get('content-length')).toBe(String(body.length));
    expect(await counters(box.id)).toEqual({ objectCount: 1, bytesUsed: body.length });
  });

  it('checks the client ETag and Content-MD5 and stores nothing on a mismatch', async () => {
    const body = randomBody(4096);
    const wrong = await upload(`${box.urlPrefix}checked`, token, body, {
      etag: md5(Buffer.from('other')),
    });
    expect(wrong.status).toBe(422);
    expect((await wrong.json()).error.code).toBe('OBJECT_CHECKSUM_MISMATCH');
    expect((await objectRequest(`${box.urlPrefix}checked`, token)).status).toBe(404);
    const right = await upload(`${box.urlPrefix}checked`, token, body, {
      'content-md5': Buffer.from(md5(body), 'hex').toString('base64'),
    });
    expect(right.status).toBe(201);
    expect(await orphanRows()).toBe(0);
    expect(tmpFiles()).toEqual([]);
  });

  it('serves byte ranges, and 416 outside the object', async () => {
    const body = randomBody(1000);
    await upload(`${box.urlPrefix}ranged`, token, body);
    const mid = await objectRequest(`${box.urlPrefix}ranged`, token, {
      headers: { range: 'bytes=10-19' },
    });
    expect(mid.status).toBe(206);
    expect(mid.headers.get('content-range')).toBe('bytes 10-19/1000');
    expect(Buffer.from(await mid.arrayBuffer())).toEqual(body.subarray(10, 20));
    const tail = await objectRequest(`${box.urlPrefix}ranged`, token, {
      headers: { range: 'bytes=-5' },
    });
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(body.subarray(995));
    const outside = await objectRequest(`${box.urlPrefix}ranged`, token, {
      headers: { range: 'bytes=2000-3000' },
    });
    expect(outside.status).toBe(416);
  });

  it('answers conditional requests: If-None-Match 304, If-Match 412, If-Modified-Since 304', async () => {
    const put = await upload(`${box.urlPrefix}cond`, token, randomBody(10));
    const etag = put.headers.get('etag')!;
    expect(
      (await objectRequest(`${box.urlPrefix}cond`, token, { headers: { 'if-none-match': etag } }))
        .status,
    ).toBe(304);
    expect(
      (await objectRequest(`${box.urlPrefix}cond`, token, { headers: { 'if-match': '"0000"' } }))
        .status,
    ).toBe(412);
    expect(
      (await objectRequest(`${box.urlPrefix}cond`, token, { headers: { 'if-match': etag } }))
        .status,
    ).toBe(200);
    const later = new Date(Date.now() + 60_000).toUTCString();
    expect(
      (
        await objectRequest(`${box.urlPrefix}cond`, token, {
          headers: { 'if-modified-since': later },
        })
      ).status,
    ).toBe(304);
    const head = await objectRequest(`${box.urlPrefix}cond`, token, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('last-modified')).toBeTruthy();
  });

  it('a client that disconnects mid-upload leaves no object and no stray file', async () => {
    const url = new URL(`${box.urlPrefix}half`);
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname, () => {
        socket.write(
          `PUT ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nX-Auth-Token: ${token}\r\nContent-Length: 1000000\r\n\r\n`,
        );
        socket.write(randomBody(300_000), () => setTimeout(() => socket.destroy(), 200));
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 500));
    expect((await objectRequest(`${box.urlPrefix}half`, token)).status).toBe(404);
    expect(await orphanRows()).toBe(0);
    expect(tmpFiles()).toEqual([]);
  });

  it.each([
    ['a .. segment', 'a/../b'],
    ['a . segment', './x'],
    ['invalid UTF-8', '%C3%28'],
    ['a NUL', 'a%00b'],
    ['over 1024 bytes', 'x'.repeat(1025)],
  ])('refuses an object name with %s, storing nothing', async (_what, name) => {
    const before = await counters(box.id);
    // Sent as is: fetch would resolve "." and ".." segments before they leave the client.
    expect(await rawPut(`${box.urlPrefix}${name}`, randomBody(10))).toBe(400);
    expect(await counters(box.id)).toEqual(before);
  });

  it('enforces container quotas on bytes and on object count', async () => {
    const small = await makeContainer(s, token, 'small', { quotaBytes: 1000, quotaObjects: 2 });
    expect((await upload(`${small.urlPrefix}big`, token, randomBody(2000))).status).toBe(413);
    expect((await upload(`${small.urlPrefix}one`, token, randomBody(10))).status).toBe(201);
    expect((await upload(`${small.urlPrefix}two`, token, randomBody(10))).status).toBe(201);
    const third = await upload(`${small.urlPrefix}three`, token, randomBody(10));
    expect(third.status).toBe(413);
    expect((await third.json()).error.code).toBe('QUOTA_EXCEEDED');
    expect(await objectNames(s, token, small.id)).toEqual(['one', 'two']);
    expect(await orphanRows()).toBe(0);
  });

  it('deletes an object and frees its bytes', async () => {
    await upload(`${box.urlPrefix}doomed`, token, randomBody(100));
    const before = await counters(box.id);
    expect(
      (await objectRequest(`${box.urlPrefix}doomed`, token, { method: 'DELETE' })).status,
    ).toBe(204);
    expect((await objectRequest(`${box.urlPrefix}doomed`, token)).status).toBe(404);
    expect(await counters(box.id)).toEqual({
      objectCount: before.objectCount - 1,
      bytesUsed: before.bytesUsed - 100,
    });
    expect(
      (await objectRequest(`${box.urlPrefix}doomed`, token, { method: 'DELETE' })).status,
    ).toBe(404);
  });

  it('without a token: 401; with a token of another project: 403', async () => {
    expect((await objectRequest(`${box.urlPrefix}data.bin`, null)).status).toBe(401);
    const other = await seed.member('member');
    expect((await objectRequest(`${box.urlPrefix}data.bin`, other.token)).status).toBe(403);
    expect((await upload(`${box.urlPrefix}intruder`, other.token, randomBody(5))).status).toBe(403);
    const node = await s.ok(
      `query($id: ID!) { node(id: $id) { id } }`,
      { id: box.id },
      other.token,
    );
    expect(node.node).toBeNull();
  });
});
