import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';

let s: TestStratus;
let seed: Seed;
beforeAll(async () => {
  s = await startTestStratus();
  seed = new Seed(s);
});
afterAll(() => s?.stop());

const RESULT = `__typename ... on Error { message code } ... on InvalidInputError { field }`;
const CREATE_FLAVOR = `mutation($input: CreateFlavorInput!) { createFlavor(input: $input) { ${RESULT} ... on CreateFlavorSuccess { flavor { id name vcpus ramMib isPublic } } } }`;

describe('flavors', () => {
  it('an admin creates public and private flavors; members see public ones and private ones granted to them', async () => {
    const pub = await s.ok(
      CREATE_FLAVOR,
      { input: { name: 'm1.tiny', vcpus: 1, ramMib: 256, rootDiskGib: 1 } },
      s.adminToken,
    );
    expect(pub.createFlavor.flavor).toMatchObject({
      name: 'm1.tiny',
      vcpus: 1,
      ramMib: 256,
      isPublic: true,
    });
    const member = await seed.member('member');
    const other = await seed.member('member');
    const priv = await s.ok(
      CREATE_FLAVOR,
      {
        input: {
          name: 'gpu.secret',
          vcpus: 2,
          ramMib: 512,
          rootDiskGib: 2,
          isPublic: false,
          projectIds: [member.projectId],
        },
      },
      s.adminToken,
    );
    expect(priv.createFlavor.__typename).toBe('CreateFlavorSuccess');
    const names = async (token: string | null) =>
      (await s.ok(`{ flavors { edges { node { name } } } }`, {}, token)).flavors.edges.map(
        (e: { node: { name: string } }) => e.node.name,
      );
    expect(await names(member.token)).toEqual(['m1.tiny', 'gpu.secret']);
    expect(await names(other.token)).toEqual(['m1.tiny']);
    const hidden = await s.ok(
      `query($id: ID!) { node(id: $id) { id } }`,
      { id: priv.createFlavor.flavor.id },
      other.token,
    );
    expect(hidden.node).toBeNull();
  });

  it.each([
    [{ name: 'bad', vcpus: 0, ramMib: 256, rootDiskGib: 1 }, 'input.vcpus'],
    [{ name: 'bad', vcpus: 1, ramMib: 16, rootDiskGib: 1 }, 'input.ramMib'],
    [{ name: '', vcpus: 1, ramMib: 256, rootDiskGib: 1 }, 'input.name'],
  ])('refuses %j naming %s', async (input, field) => {
    const res = await s.ok(CREATE_FLAVOR, { input }, s.adminToken);
    expect(res.createFlavor).toMatchObject({ __typename: 'InvalidInputError', field });
  });

  it('a member cannot create a flavor', async () => {
    const member = await seed.member('member');
    const res = await s.gql(
      CREATE_FLAVOR,
      { input: { name: 'mine', vcpus: 1, ramMib: 256, rootDiskGib: 1 } },
      member.token,
    );
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('keypairs', () => {
  const IMPORT = `mutation($input: ImportKeypairInput!) { importKeypair(input: $input) { ${RESULT} ... on ImportKeypairSuccess { keypair { id name fingerprint type } } } }`;

  it('imports an OpenSSH key with the fingerprint ssh-keygen computes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-key-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'k')]);
    const publicKey = fs.readFileSync(path.join(dir, 'k.pub'), 'utf8');
    const expected = execFileSync('ssh-keygen', ['-l', '-f', path.join(dir, 'k.pub')])
      .toString()
      .split(' ')[1];
    fs.rmSync(dir, { recursive: true });
    const m = await seed.member('reader');
    const res = await s.ok(IMPORT, { input: { name: 'laptop', publicKey } }, m.token);
    expect(res.importKeypair.keypair).toMatchObject({
      name: 'laptop',
      fingerprint: expected,
      type: 'ssh-ed25519',
    });
    const dup = await s.ok(IMPORT, { input: { name: 'laptop', publicKey } }, m.token);
    expect(dup.importKeypair.__typename).toBe('NameTakenError');
    const other = await seed.member('member');
    expect((await s.ok(`{ keypairs { totalCount } }`, {}, other.token)).keypairs.totalCount).toBe(
      0,
    );
    const del = await s.ok(
      `mutation($id: ID!) { deleteKeypair(id: $id) { __typename } }`,
      { id: res.importKeypair.keypair.id },
      other.token,
    );
    expect(del.deleteKeypair.__typename).toBe('NotFoundError');
  });

  it.each([
    ['garbage', 'not-a-key at all'],
    ['a truncated key', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI'],
  ])('refuses %s naming publicKey, storing nothing', async (_what, publicKey) => {
    const m = await seed.member('reader');
    const res = await s.ok(IMPORT, { input: { name: 'bad', publicKey } }, m.token);
    expect(res.importKeypair).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'input.publicKey',
    });
    expect((await s.ok(`{ keypairs { totalCount } }`, {}, m.token)).keypairs.totalCount).toBe(0);
  });

  it('generates a keypair whose private key matches the stored public key', async () => {
    const m = await seed.member('member');
    const res = await s.ok(
      `mutation { generateKeypair(input: { name: "gen" }) { ${RESULT} ... on GenerateKeypairSuccess { generated { privateKey keypair { publicKey fingerprint } } } } }`,
      {},
      m.token,
    );
    const { privateKey, keypair } = res.generateKeypair.generated;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-key-'));
    fs.writeFileSync(path.join(dir, 'k'), privateKey, { mode: 0o600 });
    const derived = execFileSync('ssh-keygen', ['-y', '-f', path.join(dir, 'k')])
      .toString()
      .trim();
    fs.rmSync(dir, { recursive: true });
    expect(derived.split(' ').slice(0, 2)).toEqual(keypair.publicKey.split(' ').slice(0, 2));
  });
});
