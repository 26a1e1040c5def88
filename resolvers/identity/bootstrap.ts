import { randomBytes } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Database } from '../../db/connection';
import { domains, projects, roleAssignments, roles, signingKeys, users } from '../../db/tables';
import { BUILT_IN_ROLES } from './auth-context';
import { hashSecret } from './passwords';

export interface BootstrapResult {
  adminUserId: string;
  adminProjectId: string;
  defaultDomainId: string;
  /** Set only when this run generated the password: it is shown once and never stored in clear. */
  generatedPassword: string | null;
}

/**
 * Like `keystone-manage bootstrap`: the Default domain, the admin project, the built-in roles,
 * and the admin user holding `admin` on that project and on the system. Idempotent; a given
 * password resets the admin's on every start, as Keystone's does.
 */
export async function bootstrapIdentity(
  db: Database,
  adminPassword: string | null,
): Promise<BootstrapResult> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(7243003)`);
    const [domain] = await tx
      .insert(domains)
      .values({ name: 'Default', description: 'The default domain' })
      .onConflictDoNothing()
      .returning();
    const defaultDomain =
      domain ?? (await tx.select().from(domains).where(sql`lower(${domains.name}) = 'default'`))[0];
    const roleIds: Record<string, string> = {};
    for (const name of BUILT_IN_ROLES) {
      await tx.insert(roles).values({ name, builtIn: true }).onConflictDoNothing();
      const [role] = await tx.select().from(roles).where(sql`lower(${roles.name}) = ${name}`);
      roleIds[name] = role.id;
    }
    await tx
      .insert(projects)
      .values({ domainId: defaultDomain.id, name: 'admin', description: 'Bootstrap project' })
      .onConflictDoNothing();
    const [project] = await tx
      .select()
      .from(projects)
      .where(and(eq(projects.domainId, defaultDomain.id), sql`lower(${projects.name}) = 'admin'`));
    let [admin] = await tx
      .select()
      .from(users)
      .where(and(eq(users.domainId, defaultDomain.id), sql`lower(${users.name}) = 'admin'`));
    let generatedPassword: string | null = null;
    if (!admin) {
      const password = adminPassword ?? randomBytes(18).toString('base64url');
      if (!adminPassword) generatedPassword = password;
      [admin] = await tx
        .insert(users)
        .values({
          domainId: defaultDomain.id,
          name: 'admin',
          passwordHash: await hashSecret(password),
          passwordChangedAt: new Date(),
          defaultProjectId: project.id,
        })
        .returning();
    } else if (adminPassword) {
      await tx
        .update(users)
        .set({
          passwordHash: await hashSecret(adminPassword),
          enabled: true,
          failedAuthCount: 0,
          lockedUntil: null,
        })
        .where(eq(users.id, admin.id));
    }
    for (const target of [
      { targetType: 'project' as const, projectId: project.id },
      { targetType: 'system' as const },
    ]) {
      await tx
        .insert(roleAssignments)
        .values({ roleId: roleIds.admin, actorType: 'user', userId: admin.id, ...target })
        .onConflictDoNothing();
    }
    return {
      adminUserId: admin.id,
      adminProjectId: project.id,
      defaultDomainId: defaultDomain.id,
      generatedPassword,
    };
  });
}

/** The token-signing secret shared by every process on this database, created on first use. */
export async function signingSecret(db: Database): Promise<string> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(7243004)`);
    const [existing] = await tx.select().from(signingKeys).orderBy(signingKeys.createdAt).limit(1);
    if (existing) return existing.secret;
    const secret = randomBytes(48).toString('base64url');
    await tx.insert(signingKeys).values({ secret });
    return secret;
  });
}
