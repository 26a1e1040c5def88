import { randomBytes } from 'node:crypto';
import { and, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { applicationCredentials } from '../../db/tables';
import { authorize } from '../authorize';
import { ForbiddenError, InvalidInputError, NameTakenError, NotFoundError } from '../errors';
import { type ListResult, type Page, selectPage } from '../pagination';
import { inTransaction, type ServiceContext } from '../runtime';
import { descriptionSchema, isUuid, nameSchema, parseInput, uniqueViolation } from '../validation';
import { isAdmin } from './auth-context';
import { hashSecret } from './passwords';
import { recordRevocation } from './revocations';

export type ApplicationCredentialRow = typeof applicationCredentials.$inferSelect;

/** The caller's own credentials; an admin may name another user. */
export async function listApplicationCredentials(
  ctx: ServiceContext,
  userId: string | null,
  page: Page,
): Promise<ListResult<ApplicationCredentialRow>> {
  authorize(ctx, 'identity:list_application_credentials');
  const owner = userId ?? ctx.auth!.userId;
  if (owner !== ctx.auth!.userId && !isAdmin(ctx.auth)) return { rows: [], totalCount: 0 };
  if (!isUuid(owner)) return { rows: [], totalCount: 0 };
  return selectPage(
    ctx.rt.db,
    applicationCredentials,
    eq(applicationCredentials.userId, owner),
    {
      column: applicationCredentials.createdAt,
      direction: 'ASC',
      tiebreak: applicationCredentials.id,
    },
    page,
  );
}

export async function loadApplicationCredentials(
  ctx: ServiceContext,
  ids: readonly string[],
): Promise<Array<ApplicationCredentialRow | null>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length
    ? await ctx.rt.db
        .select()
        .from(applicationCredentials)
        .where(inArray(applicationCredentials.id, valid))
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const row = byId.get(id) ?? null;
    if (!row || !ctx.auth) return null;
    return row.userId === ctx.auth.userId || isAdmin(ctx.auth) ? row : null;
  });
}

const createInput = z.object({
  name: nameSchema,
  description: descriptionSchema.optional().default(''),
  expiresAt: z.date().nullish(),
  roles: z.array(z.string()).nullish(),
});

/**
 * Creates a credential for the caller on the project their token is scoped to, carrying a
 * subset of the token's roles. The secret is returned once and stored only as an argon2 hash.
 */
export async function createApplicationCredential(
  ctx: ServiceContext,
  input: unknown,
): Promise<{ credential: ApplicationCredentialRow; secret: string }> {
  authorize(ctx, 'identity:create_application_credential');
  const auth = ctx.auth!;
  const data = parseInput(createInput, input);
  if (auth.scope.kind !== 'project') {
    throw new InvalidInputError(
      'input',
      'Application credentials need a token scoped to a project',
    );
  }
  if (auth.method === 'application_credential') {
    throw new ForbiddenError(
      'An application credential cannot create another application credential',
    );
  }
  if (data.expiresAt && data.expiresAt.getTime() <= Date.now()) {
    throw new InvalidInputError('input.expiresAt', 'input.expiresAt must be in the future');
  }
  const roleNames = data.roles ?? auth.roles;
  for (const [i, name] of roleNames.entries()) {
    if (!auth.roles.includes(name)) {
      throw new InvalidInputError(
        `input.roles.${i}`,
        `You do not hold role "${name}" on this project`,
      );
    }
  }
  const secret = randomBytes(32).toString('base64url');
  const secretHash = await hashSecret(secret);
  try {
    const credential = await inTransaction(ctx.rt, async (tx) => {
      const [row] = await tx
        .insert(applicationCredentials)
        .values({
          userId: auth.userId,
          projectId: auth.scope.kind === 'project' ? auth.scope.projectId : '',
          name: data.name,
          description: data.description,
          secretHash,
          roleNames: [...new Set(roleNames)].sort(),
          expiresAt: data.expiresAt ?? null,
        })
        .returning();
      return row;
    });
    return { credential, secret };
  } catch (error) {
    if (uniqueViolation(error) === 'application_credentials_user_name_key') {
      throw new NameTakenError('application credential', data.name);
    }
    throw error;
  }
}

/** Deletes one of the caller's credentials (admin: anyone's) and revokes the tokens it issued. */
export async function deleteApplicationCredential(
  ctx: ServiceContext,
  id: string,
): Promise<ApplicationCredentialRow> {
  authorize(ctx, 'identity:delete_application_credential');
  if (!isUuid(id)) throw new NotFoundError('application credential', id);
  return inTransaction(ctx.rt, async (tx, afterCommit) => {
    const owner = isAdmin(ctx.auth)
      ? undefined
      : eq(applicationCredentials.userId, ctx.auth!.userId);
    const [row] = await tx
      .delete(applicationCredentials)
      .where(and(eq(applicationCredentials.id, id), owner))
      .returning();
    if (!row) throw new NotFoundError('application credential', id);
    const record = await recordRevocation(
      tx,
      'application_credential',
      id,
      ctx.rt.config.tokenTtlSeconds,
    );
    afterCommit(() => ctx.rt.revocations.apply(record));
    return row;
  });
}
