import { generateKeyPairSync } from 'node:crypto';
import { and, eq, inArray } from 'drizzle-orm';
import sshpk from 'sshpk';
import { z } from 'zod';
import { keypairs } from '../../db/tables';
import { authorize } from '../authorize';
import { InvalidInputError, NameTakenError, NotFoundError } from '../errors';
import { isAdmin } from '../identity/auth-context';
import { type ListResult, type Page, selectPage } from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { isUuid, parseInput, uniqueViolation } from '../validation';

export type KeypairRow = typeof keypairs.$inferSelect;

/** Keypair names as Nova allows them: letters, digits, spaces, `-`, `_`, `.`, `@`; 1-255. */
const keypairName = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[A-Za-z0-9 _.@-]+$/, 'may contain only letters, digits, spaces and - _ . @');

/** The caller's keypairs (an admin may name another user). */
export async function listKeypairs(
  ctx: ServiceContext,
  userId: string | null,
  page: Page,
): Promise<ListResult<KeypairRow>> {
  authorize(ctx, 'compute:manage_keypairs');
  const owner = isAdmin(ctx.auth) && userId ? userId : ctx.auth!.userId;
  if (!isUuid(owner)) return { rows: [], totalCount: 0 };
  return selectPage(
    ctx.rt.db,
    keypairs,
    eq(keypairs.userId, owner),
    { column: keypairs.name, direction: 'ASC', tiebreak: keypairs.id },
    page,
  );
}

export async function loadKeypairs(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<KeypairRow | null>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db.select().from(keypairs).where(inArray(keypairs.id, valid))
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id);
    return row && ctx.auth && (row.userId === ctx.auth.userId || isAdmin(ctx.auth)) ? row : null;
  });
}

/** Parses an OpenSSH public key line; the error names the field and what is wrong. */
function parsePublicKey(text: string): { key: sshpk.Key; normalized: string } {
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(text.trim(), 'ssh');
  } catch (error) {
    throw new InvalidInputError(
      'input.publicKey',
      `input.publicKey is not an OpenSSH public key: ${(error as Error).message}`,
    );
  }
  if (key.type === 'dsa')
    throw new InvalidInputError('input.publicKey', 'input.publicKey: DSA keys are not accepted');
  if (key.type === 'rsa' && key.size < 2048) {
    throw new InvalidInputError(
      'input.publicKey',
      `input.publicKey: RSA keys must be at least 2048 bits (got ${key.size})`,
    );
  }
  return { key, normalized: key.toString('ssh') };
}

const importInput = z.object({
  name: keypairName,
  publicKey: z.string().max(16384, 'is too long'),
});
const generateInput = z.object({ name: keypairName });

async function store(
  ctx: ServiceContext,
  name: string,
  key: sshpk.Key,
  publicKey: string,
): Promise<KeypairRow> {
  try {
    return await inTransaction(ctx.rt, async (tx) => {
      const [row] = await tx
        .insert(keypairs)
        .values({
          userId: ctx.auth!.userId,
          name,
          publicKey,
          // Nova shows the MD5 fingerprint; SHA-256 is what `ssh-keygen -l` prints today.
          fingerprint: key.fingerprint('sha256').toString(),
          keyType: key.type === 'ed25519' ? 'ssh-ed25519' : `ssh-${key.type}`,
        })
        .returning();
      return row;
    });
  } catch (error) {
    if (uniqueViolation(error) === 'keypairs_user_name_key')
      throw new NameTakenError('keypair', name);
    throw error;
  }
}

/** Imports an OpenSSH public key for the caller. */
export async function importKeypair(ctx: ServiceContext, input: unknown): Promise<KeypairRow> {
  authorize(ctx, 'compute:manage_keypairs');
  const data = parseInput(importInput, input);
  const { key, normalized } = parsePublicKey(data.publicKey);
  return store(ctx, data.name, key, normalized);
}

/** Generates an Ed25519 keypair; the private key is returned this once and never stored. */
export async function generateKeypair(
  ctx: ServiceContext,
  input: unknown,
): Promise<{ keypair: KeypairRow; privateKey: string }> {
  authorize(ctx, 'compute:manage_keypairs');
  const data = parseInput(generateInput, input);
  const { privateKey } = generateKeyPairSync('ed25519');
  const priv = sshpk.parsePrivateKey(
    privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    'pkcs8',
  );
  const pub = priv.toPublic();
  pub.comment = data.name;
  const keypair = await store(ctx, data.name, pub, pub.toString('ssh'));
  return { keypair, privateKey: priv.toString('openssh') };
}

export async function deleteKeypair(ctx: ServiceContext, id: string): Promise<KeypairRow> {
  authorize(ctx, 'compute:manage_keypairs');
  if (!isUuid(id)) throw new NotFoundError('keypair', id);
  const owner = isAdmin(ctx.auth) ? undefined : eq(keypairs.userId, ctx.auth!.userId);
  const [row] = await ctx.rt.db
    .delete(keypairs)
    .where(and(eq(keypairs.id, id), owner))
    .returning();
  if (!row) throw new NotFoundError('keypair', id);
  return row;
}
