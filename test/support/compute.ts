import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ComputeConfig } from '../../server/config';
import type { Json, TestStratus } from './harness';
import { BUILD_GUEST, GUEST_DIR } from './host-tools';
import { upload } from './objects';

/** Selection every compute test can reuse for a server. */
export const SERVER_FIELDS = `id name status taskState powerState vmState locked
  flavor { name vcpus ramMib rootDiskGib } image { id } keyName metadata tags
  fault { code message } launchedAt terminatedAt`;
export const BASIC_ERROR_FIELDS = `__typename ... on Error { message code } ... on InvalidInputError { field }`;
export const ERROR_FIELDS = `${BASIC_ERROR_FIELDS}
  ... on ServerStateError { action status taskState } ... on QuotaExceededError { resource limit inUse requested }`;

/** Compute config for a test that boots real VMs: qemu under TCG in a temp state folder. */
export function qemuCompute(base: ComputeConfig): ComputeConfig {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-compute-'));
  return {
    ...base,
    driver: 'qemu',
    driverConfig: { stateDir, accelerator: 'tcg' },
    imageCacheDir: path.join(stateDir, '_base'),
    shutdownTimeoutMs: 5_000,
  };
}

/** Creates a public flavor as admin and returns its id. */
export async function createFlavor(
  s: TestStratus,
  input: { name: string; vcpus?: number; ramMib?: number; rootDiskGib?: number },
): Promise<string> {
  const data = await s.ok(
    `mutation($input: CreateFlavorInput!) { createFlavor(input: $input) { ${BASIC_ERROR_FIELDS} ... on CreateFlavorSuccess { flavor { id } } } }`,
    { input: { vcpus: 1, ramMib: 128, rootDiskGib: 1, ...input } },
    s.adminToken,
  );
  if (!data.createFlavor.flavor) throw new Error(JSON.stringify(data));
  return data.createFlavor.flavor.id;
}

/** Creates an image and uploads `bytes` to it; returns the active image's id. */
export async function uploadImage(
  s: TestStratus,
  token: string,
  input: Record<string, unknown>,
  bytes: Buffer,
): Promise<string> {
  const data = await s.ok(
    `mutation($input: CreateImageInput!) { createImage(input: $input) { ${BASIC_ERROR_FIELDS} ... on CreateImageSuccess { image { id uploadUrl } } } }`,
    { input: { containerFormat: 'bare', ...input } },
    token,
  );
  const image = data.createImage.image;
  if (!image) throw new Error(JSON.stringify(data));
  const put = await upload(image.uploadUrl, token, bytes);
  if (put.status !== 204) throw new Error(`upload: ${put.status} ${await put.text()}`);
  return image.id;
}

/** A small raw disk for servers that boot from a kernel (the test guest needs no disk data). */
export const emptyDisk = (mib = 1) => Buffer.alloc(mib * 1024 * 1024);

/**
 * Uploads the test guest (scripts/build-test-guest) as Glance's classic trio: an aki kernel, an
 * ari ramdisk, and an ami root disk naming both. Returns the ami's id, which servers boot.
 */
export async function uploadTestGuest(s: TestStratus, token: string): Promise<string> {
  // Asynchronously: a blocked event loop would miss the server closing idle keep-alive
  // connections, and the next request on one of them would fail with ECONNRESET.
  await promisify(execFile)(BUILD_GUEST, [GUEST_DIR], { timeout: 600_000 });
  const kernel = await uploadImage(
    s,
    token,
    { name: 'guest-kernel', diskFormat: 'aki', containerFormat: 'aki' },
    fs.readFileSync(path.join(GUEST_DIR, 'vmlinuz')),
  );
  const ramdisk = await uploadImage(
    s,
    token,
    { name: 'guest-initrd', diskFormat: 'ari', containerFormat: 'ari' },
    fs.readFileSync(path.join(GUEST_DIR, 'initrd.img')),
  );
  return uploadImage(
    s,
    token,
    {
      name: 'guest',
      diskFormat: 'ami',
      containerFormat: 'ami',
      properties: {
        kernel_id: rawId(kernel),
        ramdisk_id: rawId(ramdisk),
        os_command_line: 'console=ttyS0 panic=-1',
      },
    },
    emptyDisk(),
  );
}

/** The database id inside a global id (image properties hold raw ids, as in Glance). */
export function rawId(globalId: string): string {
  return Buffer.from(globalId, 'base64').toString('utf8').split(':').slice(1).join(':');
}

/** createServer; returns the payload (CreatedServers on success, the error otherwise). */
export async function createServer(
  s: TestStratus,
  token: string,
  input: Record<string, unknown>,
): Promise<Json> {
  const data = await s.ok(
    `mutation($input: CreateServerInput!) { createServer(input: $input) { ${ERROR_FIELDS}
      ... on CreateServerSuccess { created { server { ${SERVER_FIELDS} } servers { id name status } operation { id status } } } } }`,
    { input },
    token,
  );
  return data.createServer;
}

export async function getServer(s: TestStratus, token: string, id: string): Promise<Json> {
  return (
    await s.ok(
      `query($id: ID!) { node(id: $id) { ... on Server { ${SERVER_FIELDS} } } }`,
      { id },
      token,
    )
  ).node;
}

/** Polls until the server has `status` and no task (fails on ERROR unless asked for). */
export async function waitForStatus(
  s: TestStratus,
  token: string,
  id: string,
  status: string,
  timeoutMs = 120_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  let server: Json = null;
  while (Date.now() < deadline) {
    server = await getServer(s, token, id);
    if (server?.status === status && server.taskState === null) return server;
    if (server?.status === 'ERROR' && status !== 'ERROR') {
      throw new Error(`server went to ERROR: ${JSON.stringify(server.fault)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server ${id} did not reach ${status}: ${JSON.stringify(server)}`);
}

/** Runs one `{ id }` action mutation (startServer, stopServer, …) and returns its payload. */
export async function serverAction(
  s: TestStratus,
  token: string,
  mutation: string,
  input: Record<string, unknown>,
  inputType = 'ServerIdInput',
): Promise<Json> {
  const cap = `${mutation[0].toUpperCase()}${mutation.slice(1)}`;
  const data = await s.ok(
    `mutation($input: ${inputType}!) { ${mutation}(input: $input) { ${ERROR_FIELDS}
      ... on ${cap}Success { started { server { id status taskState } operation { id status } } } } }`,
    { input },
    token,
  );
  return data[mutation];
}

/** Waits for an operation to end and returns it. */
export async function waitForOperation(
  s: TestStratus,
  token: string,
  id: string,
  timeoutMs = 120_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const op = (
      await s.ok(
        `query($id: ID!) { node(id: $id) { ... on Operation { id status error { code message } result stages { name status } } } }`,
        { id },
        token,
      )
    ).node;
    if (op.status === 'SUCCEEDED' || op.status === 'FAILED') return op;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`operation ${id} did not end`);
}
