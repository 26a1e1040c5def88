import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BASIC_ERROR_FIELDS, rawId, waitForOperation } from '../support/compute';
import type { Json, TestStratus } from '../support/harness';

/** Helpers for the volumes API tests (test/volume/volumes-*.test.ts). */

export const VOLUME_FIELDS = `id name description status sizeGib bootable
  fault { code message } volumeType { id name }
  attachments { device status deleteOnTermination server { id } }
  snapshots { id status sizeGib }`;

export const VOLUME_ERROR_FIELDS = `${BASIC_ERROR_FIELDS}
  ... on VolumeStateError { resource action status expected }
  ... on VolumeHasSnapshotsError { snapshotCount }
  ... on ServerStateError { action status }
  ... on NotFoundError { resource }
  ... on QuotaExceededError { resource limit inUse requested }`;

const cap = (s: string) => `${s[0].toUpperCase()}${s.slice(1)}`;

/** Runs a volume mutation that answers `{ started { volume operation } }`; returns the payload. */
export async function volumeMutation(
  s: TestStratus,
  token: string,
  mutation: string,
  inputType: string,
  input: Record<string, unknown>,
): Promise<Json> {
  const data = await s.ok(
    `mutation($input: ${inputType}!) { ${mutation}(input: $input) { ${VOLUME_ERROR_FIELDS}
      ... on ${cap(mutation)}Success { started { volume { ${VOLUME_FIELDS} } operation { id status } } } } }`,
    { input },
    token,
  );
  return data[mutation];
}

export const createVolume = (s: TestStratus, token: string, input: Record<string, unknown>) =>
  volumeMutation(s, token, 'createVolume', 'CreateVolumeInput', input);

/** Starts a volume mutation, expects it to start, and waits for its operation; returns it. */
export async function volumeAct(
  s: TestStratus,
  token: string,
  mutation: string,
  inputType: string,
  input: Record<string, unknown>,
): Promise<{ volumeId: string; operation: Json }> {
  const payload = await volumeMutation(s, token, mutation, inputType, input);
  if (!payload.started) throw new Error(`${mutation}: ${JSON.stringify(payload)}`);
  const operation = await waitForOperation(s, token, payload.started.operation.id);
  return { volumeId: payload.started.volume.id, operation };
}

/** Creates a volume and waits until its operation ended successfully; returns its id. */
export async function availableVolume(
  s: TestStratus,
  token: string,
  input: Record<string, unknown>,
): Promise<string> {
  const { volumeId, operation } = await volumeAct(s, token, 'createVolume', 'CreateVolumeInput', {
    ...input,
  });
  if (operation.status !== 'SUCCEEDED')
    throw new Error(`createVolume: ${JSON.stringify(operation)}`);
  return volumeId;
}

export async function getVolume(s: TestStratus, token: string, id: string): Promise<Json> {
  return (await s.ok(`query($id: ID!) { volume(id: $id) { ${VOLUME_FIELDS} } }`, { id }, token))
    .volume;
}

/** Creates a snapshot and waits for it; returns the snapshot id. */
export async function availableSnapshot(
  s: TestStratus,
  token: string,
  volumeId: string,
): Promise<string> {
  const data = await s.ok(
    `mutation($input: CreateVolumeSnapshotInput!) { createVolumeSnapshot(input: $input) { ${VOLUME_ERROR_FIELDS}
      ... on CreateVolumeSnapshotSuccess { started { snapshot { id status } operation { id } } } } }`,
    { input: { volumeId, name: 'snap' } },
    token,
  );
  const started = data.createVolumeSnapshot.started;
  if (!started) throw new Error(JSON.stringify(data));
  const op = await waitForOperation(s, token, started.operation.id);
  if (op.status !== 'SUCCEEDED') throw new Error(JSON.stringify(op));
  return started.snapshot.id;
}

/** The file of a volume in the test's file-driver root. */
export function volumeFile(s: TestStratus, volumeGlobalId: string): string {
  return path.join(
    String(s.config.volume.driverConfig.root),
    'volumes',
    `${rawId(volumeGlobalId)}.qcow2`,
  );
}

/** Files under the file driver's root (volumes/ and snapshots/), relative, sorted. */
export function backendFiles(s: TestStratus): string[] {
  const root = String(s.config.volume.driverConfig.root);
  return ['volumes', 'snapshots']
    .flatMap((d) =>
      fs.existsSync(path.join(root, d))
        ? fs.readdirSync(path.join(root, d)).map((f) => `${d}/${f}`)
        : [],
    )
    .sort();
}

/** qemu-img's view of a file: virtual size and format. */
export function imageInfo(file: string): { virtualSize: number; format: string } {
  const out = JSON.parse(
    execFileSync('qemu-img', ['info', '--output=json', '-U', file], { encoding: 'utf8' }),
  );
  return { virtualSize: out['virtual-size'], format: out.format };
}

/** Writes `pattern` bytes at `offset` with qemu-io (real guest-visible data in a qcow2). */
export function writePattern(file: string, pattern: number, offset: string, length: string) {
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} ${offset} ${length}`, file], {
    stdio: 'ignore',
  });
}

/** Whether the range holds `pattern` (qemu-io read -P fails on a mismatch). */
export function hasPattern(file: string, pattern: number, offset: string, length: string): boolean {
  try {
    const out = execFileSync(
      'qemu-io',
      ['-f', 'qcow2', '-r', '-U', '-c', `read -P ${pattern} ${offset} ${length}`, file],
      { encoding: 'utf8' },
    );
    return !/Pattern verification failed/.test(out);
  } catch {
    return false;
  }
}
