import { and, eq, sql } from 'drizzle-orm';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { z } from 'zod';
import { applicationCredentials, domains, projects, users } from '../../db/tables';
import { authorize } from '../authorize';
import {
  AuthenticationFailedError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  RateLimitedError,
} from '../errors';
import { inTransaction, type Runtime, type ServiceContext } from '../runtime';
import { isUuid, parseInput } from '../validation';
import { type AuthContext, isAdmin, type TokenScope, withImpliedRoles } from './auth-context';
import { findDomain } from './domains';
import { burnVerification, verifySecret } from './passwords';
import { recordRevocation } from './revocations';
import { type AssignmentTarget, effectiveRoleNames } from './role-assignments';

export interface IssuedToken {
  token: string;
  auth: AuthContext;
}

const loginInput = z.object({
  domain: z.string().min(1, 'must not be empty').default('Default'),
  userName: z.string().min(1, 'must not be empty').max(255),
  password: z.string().min(1, 'must not be empty').max(4096),
  scope: z
    .object({
      projectId: z.string().nullish(),
      projectName: z.string().nullish(),
      projectDomain: z.string().nullish(),
      domainId: z.string().nullish(),
      system: z.boolean().nullish(),
    })
    .nullish()
    .refine(
      (s) =>
        !s ||
        [
          s.projectId != null || s.projectName != null,
          s.domainId != null,
          s.system === true,
        ].filter(Boolean).length <= 1,
      'must name at most one of a project, a domain and system',
    ),
});

async function throttle(rt: Runtime, source: string): Promise<void> {
  try {
    await rt.loginLimiter.consume(source);
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes)
      throw new RateLimitedError(Math.ceil(rejection.msBeforeNext / 1000));
    throw rejection;
  }
}

/**
 * Password login. Unknown user, wrong password, disabled or locked account all answer with
 * the same error after the same argon2 work, so neither message nor timing tells them apart.
 */
export async function login(
  ctx: ServiceContext,
  input: unknown,
  source: string,
): Promise<IssuedToken> {
  authorize(ctx, 'identity:login');
  const data = parseInput(loginInput, input);
  await throttle(ctx.rt, source);
  const { security } = ctx.rt.config;
  const domain = await findDomain(
    ctx.rt.db,
    isUuid(data.domain) ? { id: data.domain } : { name: data.domain },
  );
  const [user] = domain
    ? await ctx.rt.db
        .select()
        .from(users)
        .where(
          and(eq(users.domainId, domain.id), sql`lower(${users.name}) = lower(${data.userName})`),
        )
    : [];
  if (!domain || !user?.passwordHash) {
    await burnVerification(data.password);
    ctx.log.info({ userName: data.userName }, 'login failed: unknown user');
    throw new AuthenticationFailedError();
  }
  const passwordOk = await verifySecret(user.passwordHash, data.password);
  if (user.lockedUntil && user.lockedUntil.getTime() > Date.now()) {
    ctx.log.warn({ userId: user.id }, 'login refused: account locked');
    throw new AuthenticationFailedError();
  }
  if (!passwordOk) {
    await ctx.rt.db
      .update(users)
      .set(
        security.lockoutFailureAttempts > 0
          ? {
              failedAuthCount: sql`case when ${users.failedAuthCount} + 1 >= ${security.lockoutFailureAttempts} then 0 else ${users.failedAuthCount} + 1 end`,
              lockedUntil: sql`case when ${users.failedAuthCount} + 1 >= ${security.lockoutFailureAttempts} then now() + make_interval(secs => ${security.lockoutDurationSeconds}) else ${users.lockedUntil} end`,
            }
          : {},
      )
      .where(eq(users.id, user.id));
    ctx.log.info({ userId: user.id }, 'login failed: wrong password');
    throw new AuthenticationFailedError();
  }
  if (!user.enabled || !domain.enabled) {
    ctx.log.info({ userId: user.id }, 'login refused: user or domain disabled');
    throw new AuthenticationFailedError();
  }
  await ctx.rt.db
    .update(users)
    .set({ failedAuthCount: 0, lockedUntil: null, lastLoginAt: new Date() })
    .where(eq(users.id, user.id));

  const { scope, roles } = await resolveScope(ctx, user, data.scope ?? null);
  return ctx.rt.tokens.issue({
    userId: user.id,
    domainId: user.domainId,
    scope,
    roles,
    method: 'password',
    applicationCredentialId: null,
  });
}

type ScopeRequest = z.infer<typeof loginInput>['scope'];

/** Turns the requested scope (or the user's default project) into a token scope with its roles. */
async function resolveScope(
  ctx: ServiceContext,
  user: typeof users.$inferSelect,
  request: ScopeRequest,
): Promise<{ scope: TokenScope; roles: string[] }> {
  const db = ctx.rt.db;
  let target: AssignmentTarget | null = null;
  let scope: TokenScope = { kind: 'unscoped' };
  if (request?.projectId != null || request?.projectName != null) {
    let project: typeof projects.$inferSelect | undefined;
    if (request.projectId != null) {
      [project] = isUuid(request.projectId)
        ? await db.select().from(projects).where(eq(projects.id, request.projectId))
        : [];
    } else {
      const pd = await findDomain(
        db,
        request.projectDomain
          ? isUuid(request.projectDomain)
            ? { id: request.projectDomain }
            : { name: request.projectDomain }
          : { id: user.domainId },
      );
      [project] = pd
        ? await db
            .select()
            .from(projects)
            .where(
              and(
                eq(projects.domainId, pd.id),
                sql`lower(${projects.name}) = lower(${request.projectName})`,
              ),
            )
        : [];
    }
    if (!project?.enabled) {
      throw new InvalidInputError(
        'input.scope',
        'The requested project does not exist or is disabled',
      );
    }
    target = { kind: 'project', projectId: project.id };
    scope = { kind: 'project', projectId: project.id, domainId: project.domainId };
  } else if (request?.domainId != null) {
    const [d] = isUuid(request.domainId)
      ? await db.select().from(domains).where(eq(domains.id, request.domainId))
      : [];
    if (!d?.enabled)
      throw new InvalidInputError(
        'input.scope.domainId',
        'The requested domain does not exist or is disabled',
      );
    target = { kind: 'domain', domainId: d.id };
    scope = { kind: 'domain', domainId: d.id };
  } else if (request?.system === true) {
    target = { kind: 'system' };
    scope = { kind: 'system' };
  } else if (user.defaultProjectId) {
    const [project] = await db
      .select()
      .from(projects)
      .where(eq(projects.id, user.defaultProjectId));
    if (
      project?.enabled &&
      (await effectiveRoleNames(db, user.id, { kind: 'project', projectId: project.id })).length > 0
    ) {
      target = { kind: 'project', projectId: project.id };
      scope = { kind: 'project', projectId: project.id, domainId: project.domainId };
    }
  }
  if (!target) return { scope, roles: [] };
  const names = await effectiveRoleNames(db, user.id, target);
  if (names.length === 0) throw new ForbiddenError('You have no role on the requested scope');
  return { scope, roles: withImpliedRoles(names) };
}

const appCredLoginInput = z.object({
  id: z.string(),
  secret: z.string().min(1, 'must not be empty').max(4096),
});

/**
 * Logs in with an application credential: a token scoped to its project, carrying its roles
 * that the user still holds there.
 */
export async function loginWithApplicationCredential(
  ctx: ServiceContext,
  input: unknown,
  source: string,
): Promise<IssuedToken> {
  authorize(ctx, 'identity:login');
  const data = parseInput(appCredLoginInput, input);
  await throttle(ctx.rt, source);
  const [row] = isUuid(data.id)
    ? await ctx.rt.db
        .select({ cred: applicationCredentials, user: users, project: projects })
        .from(applicationCredentials)
        .innerJoin(users, eq(users.id, applicationCredentials.userId))
        .innerJoin(projects, eq(projects.id, applicationCredentials.projectId))
        .where(eq(applicationCredentials.id, data.id))
    : [];
  if (!row) {
    await burnVerification(data.secret);
    throw new AuthenticationFailedError();
  }
  const ok = await verifySecret(row.cred.secretHash, data.secret);
  const expired = row.cred.expiresAt !== null && row.cred.expiresAt.getTime() <= Date.now();
  if (!ok || expired || !row.user.enabled || !row.project.enabled)
    throw new AuthenticationFailedError();
  const held = withImpliedRoles(
    await effectiveRoleNames(ctx.rt.db, row.user.id, {
      kind: 'project',
      projectId: row.project.id,
    }),
  );
  const roles = withImpliedRoles(row.cred.roleNames).filter((r) => held.includes(r));
  if (roles.length === 0)
    throw new ForbiddenError("The application credential's roles are no longer held by its user");
  const ttl = row.cred.expiresAt
    ? Math.min(
        ctx.rt.config.tokenTtlSeconds,
        Math.floor((row.cred.expiresAt.getTime() - Date.now()) / 1000),
      )
    : ctx.rt.config.tokenTtlSeconds;
  return ctx.rt.tokens.issue(
    {
      userId: row.user.id,
      domainId: row.user.domainId,
      scope: { kind: 'project', projectId: row.project.id, domainId: row.project.domainId },
      roles,
      method: 'application_credential',
      applicationCredentialId: row.cred.id,
    },
    Math.max(ttl, 1),
  );
}

/** Revokes one token: the caller's own when `token` is omitted; someone else's needs admin. */
export async function revokeToken(ctx: ServiceContext, token: string | null): Promise<string> {
  authorize(ctx, 'identity:revoke_token');
  let target = ctx.auth!;
  if (token !== null) {
    try {
      target = await ctx.rt.tokens.validate(token);
    } catch {
      throw new InvalidInputError('input.token', 'input.token is not a valid, live token');
    }
    if (target.userId !== ctx.auth!.userId && !isAdmin(ctx.auth)) {
      throw new ForbiddenError("Only an admin may revoke another user's token");
    }
  }
  await inTransaction(ctx.rt, async (tx, afterCommit) => {
    const record = await recordRevocation(
      tx,
      'token',
      target.tokenId,
      ctx.rt.config.tokenTtlSeconds,
    );
    afterCommit(() => ctx.rt.revocations.apply(record));
  });
  return target.tokenId;
}

/** Revokes every token a user holds now (admin). */
export async function revokeUserTokens(ctx: ServiceContext, userId: string): Promise<void> {
  authorize(ctx, 'identity:revoke_user_tokens');
  const [user] = isUuid(userId)
    ? await ctx.rt.db.select({ id: users.id }).from(users).where(eq(users.id, userId))
    : [];
  if (!user) throw new NotFoundError('user', userId);
  await inTransaction(ctx.rt, async (tx, afterCommit) => {
    const record = await recordRevocation(tx, 'user', userId, ctx.rt.config.tokenTtlSeconds);
    afterCommit(() => ctx.rt.revocations.apply(record));
  });
}
