import { and, asc, eq, ilike, inArray, isNotNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { DbOrTx, Tx } from '../../db/connection';
import { portSecurityGroups, ports, securityGroupRules, securityGroups } from '../../db/tables';
import { authorize } from '../authorize';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors';
import { canSeeProject } from '../identity/auth-context';
import { containsPattern, type ListResult, type Page, selectPage } from '../pagination';
import { releaseQuota, reserveQuota } from '../quotas';
import { inTransaction, type ServiceContext } from '../runtime';
import { parseInput } from '../validation';
import {
  listScope,
  loadSecurityGroupRules,
  loadSecurityGroups,
  type ProjectFilter,
  type SecurityGroupRow,
  type SecurityGroupRuleRow,
  writable,
} from './access';
import { SecurityGroupInUseError, SecurityGroupRuleExistsError } from './errors';
import { formatCidr, parseCidr } from './ip';
import { neutronName, targetProject } from './networks';
import { publishNetworkEvent, syncPort } from './sync';

/** Security groups and their rules, Neutron's way: a `default` group per project, stateful rules. */

type NewRule = Omit<typeof securityGroupRules.$inferInsert, 'id' | 'securityGroupId' | 'projectId'>;

/** Neutron's default rules: all egress, ingress only from members of the same group. */
const DEFAULT_RULES = (groupId: string): NewRule[] => [
  { direction: 'egress', ethertype: 'IPv4' },
  { direction: 'egress', ethertype: 'IPv6' },
  { direction: 'ingress', ethertype: 'IPv4', remoteGroupId: groupId },
  { direction: 'ingress', ethertype: 'IPv6', remoteGroupId: groupId },
];

/**
 * The project's `default` group, made on first need with Neutron's four rules. Concurrent
 * first needs meet at the partial unique index; the loser reads the winner's group.
 */
export async function ensureDefaultGroup(tx: Tx, projectId: string): Promise<string> {
  const [existing] = await tx
    .select({ id: securityGroups.id })
    .from(securityGroups)
    .where(and(eq(securityGroups.projectId, projectId), eq(securityGroups.isDefault, true)));
  if (existing) return existing.id;
  const [made] = await tx
    .insert(securityGroups)
    .values({ projectId, name: 'default', description: 'Default security group', isDefault: true })
    .onConflictDoNothing()
    .returning({ id: securityGroups.id });
  if (!made) {
    const [other] = await tx
      .select({ id: securityGroups.id })
      .from(securityGroups)
      .where(and(eq(securityGroups.projectId, projectId), eq(securityGroups.isDefault, true)));
    return other.id;
  }
  await tx
    .insert(securityGroupRules)
    .values(DEFAULT_RULES(made.id).map((r) => ({ ...r, securityGroupId: made.id, projectId })));
  return made.id;
}

export interface SecurityGroupFilter extends ProjectFilter {
  name?: string | null;
}

/** Security groups of the caller's project; the default group is made if it does not exist yet. */
export async function listSecurityGroups(
  ctx: ServiceContext,
  filter: SecurityGroupFilter,
  page: Page,
): Promise<ListResult<SecurityGroupRow>> {
  authorize(ctx, 'network:list');
  const scope = listScope(ctx, securityGroups.projectId, filter);
  if (scope === null) return { rows: [], totalCount: 0 };
  const own = ctx.auth?.scope.kind === 'project' ? ctx.auth.scope.projectId : null;
  // Neutron shows a project its default group on the first list.
  if (own && canSeeProject(ctx.auth, own)) {
    await inTransaction(ctx.rt, (tx) => ensureDefaultGroup(tx, own));
  }
  return selectPage(
    ctx.rt.db,
    securityGroups,
    and(
      scope,
      filter.name != null ? ilike(securityGroups.name, containsPattern(filter.name)) : undefined,
    ),
    { column: securityGroups.createdAt, direction: 'ASC', tiebreak: securityGroups.id },
    page,
  );
}

/** Rules of each group, oldest first (for `SecurityGroup.rules`). */
export async function rulesOfGroups(
  db: DbOrTx,
  groupIds: readonly string[],
): Promise<SecurityGroupRuleRow[][]> {
  const rows = groupIds.length
    ? await db
        .select()
        .from(securityGroupRules)
        .where(inArray(securityGroupRules.securityGroupId, [...groupIds]))
        .orderBy(asc(securityGroupRules.createdAt), asc(securityGroupRules.id))
    : [];
  return groupIds.map((g) => rows.filter((r) => r.securityGroupId === g));
}

const groupInput = z.object({
  name: neutronName.min(1, 'must not be empty'),
  description: z.string().max(255, 'must be at most 255 characters').nullish(),
  projectId: z.string().nullish(),
});

export async function createSecurityGroup(
  ctx: ServiceContext,
  input: unknown,
): Promise<SecurityGroupRow> {
  authorize(ctx, 'network:manage_security_groups');
  const data = parseInput(groupInput, input);
  if (data.name === 'default') {
    throw new InvalidInputError(
      'input.name',
      'input.name "default" is reserved for the default group',
    );
  }
  const projectId = targetProject(ctx, data.projectId);
  return inTransaction(ctx.rt, async (tx) => {
    await ensureDefaultGroup(tx, projectId);
    const [row] = await tx
      .insert(securityGroups)
      .values({ projectId, name: data.name, description: data.description ?? '' })
      .returning();
    // Neutron gives every new group the two egress rules.
    await tx.insert(securityGroupRules).values(
      DEFAULT_RULES(row.id)
        .filter((r) => r.direction === 'egress')
        .map((r) => ({ ...r, securityGroupId: row.id, projectId })),
    );
    await reserveQuota(tx, ctx.rt.config.quotaDefaults, projectId, { security_groups: 1 });
    await publishNetworkEvent(tx, 'SECURITY_GROUP_CREATED', 'SecurityGroup', row);
    return row;
  });
}

const updateGroupInput = z.object({
  id: z.string(),
  name: neutronName.min(1, 'must not be empty').nullish(),
  description: z.string().max(255, 'must be at most 255 characters').nullish(),
});

export async function updateSecurityGroup(
  ctx: ServiceContext,
  input: unknown,
): Promise<SecurityGroupRow> {
  authorize(ctx, 'network:manage_security_groups');
  const data = parseInput(updateGroupInput, input);
  const group = await writable(loadSecurityGroups, ctx, 'security group', data.id);
  if (data.name != null && group.isDefault && data.name !== 'default') {
    throw new ConflictError('The default security group cannot be renamed');
  }
  const [row] = await ctx.rt.db
    .update(securityGroups)
    .set({ name: data.name ?? group.name, description: data.description ?? group.description })
    .where(eq(securityGroups.id, group.id))
    .returning();
  if (!row) throw new NotFoundError('security group', data.id);
  return row;
}

/** Deletes a group: never the default one, never one that ports still use. */
export async function deleteSecurityGroup(
  ctx: ServiceContext,
  id: string,
): Promise<SecurityGroupRow> {
  authorize(ctx, 'network:manage_security_groups');
  const group = await writable(loadSecurityGroups, ctx, 'security group', id);
  if (group.isDefault) throw new ConflictError('The default security group cannot be deleted');
  return inTransaction(ctx.rt, async (tx) => {
    const [locked] = await tx
      .select()
      .from(securityGroups)
      .where(eq(securityGroups.id, group.id))
      .for('update');
    if (!locked) throw new NotFoundError('security group', id);
    const [{ n }] = await tx
      .select({ n: sql<number>`cast(count(*) as integer)` })
      .from(portSecurityGroups)
      .where(eq(portSecurityGroups.securityGroupId, group.id));
    if (n > 0) throw new SecurityGroupInUseError(group.id, n);
    // Rules of other groups naming this one as remote go with it: their ports change.
    await resyncGroupPorts(tx, [group.id]);
    const [{ rules }] = await tx
      .select({ rules: sql<number>`cast(count(*) as integer)` })
      .from(securityGroupRules)
      .where(eq(securityGroupRules.securityGroupId, group.id));
    await tx.delete(securityGroups).where(eq(securityGroups.id, group.id));
    await releaseQuota(tx, group.projectId, { security_groups: 1, security_group_rules: rules });
    await publishNetworkEvent(tx, 'SECURITY_GROUP_DELETED', 'SecurityGroup', group);
    return group;
  });
}

/** IANA numbers of the protocol names Neutron accepts. */
const PROTOCOLS: Record<string, number> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  egp: 8,
  udp: 17,
  dccp: 33,
  ipv6_encap: 41,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  'ipv6-icmp': 58,
  ospf: 89,
  pgm: 113,
  vrrp: 112,
  sctp: 132,
  udplite: 136,
};
/** Protocols whose rules may name a destination port range. */
const PORTED = new Set([6, 17, 33, 132, 136]);

const ruleInput = z.object({
  securityGroupId: z.string(),
  direction: z.enum(['ingress', 'egress']),
  ethertype: z.enum(['IPv4', 'IPv6']).nullish(),
  protocol: z.string().nullish(),
  portRangeMin: z.number().int().nullish(),
  portRangeMax: z.number().int().nullish(),
  remoteIpPrefix: z.string().nullish(),
  remoteGroupId: z.string().nullish(),
  description: z.string().max(255, 'must be at most 255 characters').nullish(),
});

/** The rule's protocol as a number (null: any), checked against the ethertype. */
function protocolNumber(
  text: string | null | undefined,
  ethertype: 'IPv4' | 'IPv6',
): number | null {
  if (text == null || text === '' || text.toLowerCase() === 'any') return null;
  const lower = text.toLowerCase();
  let n: number;
  if (/^\d+$/.test(lower)) {
    n = Number(lower);
    if (n > 255)
      throw new InvalidInputError(
        'input.protocol',
        'input.protocol must be a protocol name or a number from 0 to 255',
      );
  } else if (lower in PROTOCOLS) {
    n = PROTOCOLS[lower];
  } else {
    throw new InvalidInputError(
      'input.protocol',
      `input.protocol "${text}" is not a known protocol (${Object.keys(PROTOCOLS).join(', ')}, or a number 0-255)`,
    );
  }
  // Neutron reads icmp on an IPv6 rule as icmpv6.
  if (ethertype === 'IPv6' && n === 1) return 58;
  if (ethertype === 'IPv4' && n === 58) {
    throw new InvalidInputError('input.protocol', 'input.protocol icmpv6 needs ethertype IPv6');
  }
  return n;
}

/** Checks a port range (tcp/udp: 1-65535, min ≤ max; icmp: type 0-255 and code 0-255). */
function portRange(
  protocol: number | null,
  min: number | null,
  max: number | null,
): [number | null, number | null] {
  if (min == null && max == null) return [null, null];
  if (protocol === 1 || protocol === 58) {
    if (min == null) {
      throw new InvalidInputError(
        'input.portRangeMin',
        'input.portRangeMin (the ICMP type) is required when a code is given',
      );
    }
    if (min < 0 || min > 255)
      throw new InvalidInputError(
        'input.portRangeMin',
        'input.portRangeMin (the ICMP type) must be 0-255',
      );
    if (max != null && (max < 0 || max > 255)) {
      throw new InvalidInputError(
        'input.portRangeMax',
        'input.portRangeMax (the ICMP code) must be 0-255',
      );
    }
    return [min, max ?? null];
  }
  if (protocol === null || !PORTED.has(protocol)) {
    throw new InvalidInputError(
      'input.portRangeMin',
      `A port range needs protocol tcp, udp, dccp, sctp or udplite (got ${protocol === null ? 'any' : protocol})`,
    );
  }
  const lo = min ?? max!;
  const hi = max ?? min!;
  for (const [field, v] of [
    ['portRangeMin', lo],
    ['portRangeMax', hi],
  ] as const) {
    if (v < 1 || v > 65535)
      throw new InvalidInputError(
        `input.${field}`,
        `input.${field} must be from 1 to 65535 (got ${v})`,
      );
  }
  if (lo > hi) {
    throw new InvalidInputError(
      'input.portRangeMin',
      `input.portRangeMin ${lo} is greater than input.portRangeMax ${hi}`,
    );
  }
  return [lo, hi];
}

/**
 * Adds a rule after Neutron's checks (protocol, port range, remote prefix matching the
 * ethertype or a remote group, no duplicate); the group's bound ports are resynced.
 */
export async function createSecurityGroupRule(
  ctx: ServiceContext,
  input: unknown,
): Promise<SecurityGroupRuleRow> {
  authorize(ctx, 'network:manage_security_groups');
  const data = parseInput(ruleInput, input);
  const group = await writable(loadSecurityGroups, ctx, 'security group', data.securityGroupId);
  const ethertype = data.ethertype ?? 'IPv4';
  const protocol = protocolNumber(data.protocol, ethertype);
  const [min, max] = portRange(protocol, data.portRangeMin ?? null, data.portRangeMax ?? null);
  if (data.remoteIpPrefix != null && data.remoteGroupId != null) {
    throw new InvalidInputError(
      'input.remoteGroupId',
      'Give input.remoteIpPrefix or input.remoteGroupId, not both',
    );
  }
  let remoteIpPrefix: string | null = null;
  if (data.remoteIpPrefix != null) {
    const { cidr } = parseCidr(
      data.remoteIpPrefix.includes('/')
        ? data.remoteIpPrefix
        : `${data.remoteIpPrefix}/${data.remoteIpPrefix.includes(':') ? 128 : 32}`,
    );
    if (!cidr)
      throw new InvalidInputError(
        'input.remoteIpPrefix',
        `input.remoteIpPrefix is not a CIDR (got "${data.remoteIpPrefix}")`,
      );
    if ((cidr.version === 4) !== (ethertype === 'IPv4')) {
      throw new InvalidInputError(
        'input.remoteIpPrefix',
        `input.remoteIpPrefix ${data.remoteIpPrefix} does not match ethertype ${ethertype}`,
      );
    }
    remoteIpPrefix = formatCidr(cidr);
  }
  if (data.remoteGroupId != null) {
    const [remote] = await loadSecurityGroups(ctx, [data.remoteGroupId]);
    if (!remote || remote.projectId !== group.projectId) {
      throw new InvalidInputError(
        'input.remoteGroupId',
        `No security group with id "${data.remoteGroupId}" in the group's project`,
      );
    }
  }
  return inTransaction(ctx.rt, async (tx) => {
    // The group row is the lock under which duplicates are checked.
    await tx
      .select({ id: securityGroups.id })
      .from(securityGroups)
      .where(eq(securityGroups.id, group.id))
      .for('update');
    const same = (
      column:
        | typeof securityGroupRules.protocol
        | typeof securityGroupRules.portRangeMin
        | typeof securityGroupRules.portRangeMax,
      value: number | null,
    ) => (value === null ? sql`${column} is null` : eq(column, value));
    const [duplicate] = await tx
      .select({ id: securityGroupRules.id })
      .from(securityGroupRules)
      .where(
        and(
          eq(securityGroupRules.securityGroupId, group.id),
          eq(securityGroupRules.direction, data.direction),
          eq(securityGroupRules.ethertype, ethertype),
          same(securityGroupRules.protocol, protocol),
          same(securityGroupRules.portRangeMin, min),
          same(securityGroupRules.portRangeMax, max),
          remoteIpPrefix === null
            ? sql`${securityGroupRules.remoteIpPrefix} is null`
            : eq(securityGroupRules.remoteIpPrefix, remoteIpPrefix),
          data.remoteGroupId == null
            ? sql`${securityGroupRules.remoteGroupId} is null`
            : eq(securityGroupRules.remoteGroupId, data.remoteGroupId),
        ),
      );
    if (duplicate) throw new SecurityGroupRuleExistsError(duplicate.id);
    const [row] = await tx
      .insert(securityGroupRules)
      .values({
        securityGroupId: group.id,
        projectId: group.projectId,
        direction: data.direction,
        ethertype,
        protocol,
        portRangeMin: min,
        portRangeMax: max,
        remoteIpPrefix,
        remoteGroupId: data.remoteGroupId ?? null,
        description: data.description ?? '',
      })
      .returning();
    await resyncMembers(tx, [group.id]);
    await reserveQuota(tx, ctx.rt.config.quotaDefaults, group.projectId, {
      security_group_rules: 1,
    });
    await publishNetworkEvent(tx, 'SECURITY_GROUP_UPDATED', 'SecurityGroup', group);
    return row;
  });
}

export async function deleteSecurityGroupRule(
  ctx: ServiceContext,
  id: string,
): Promise<SecurityGroupRuleRow> {
  authorize(ctx, 'network:manage_security_groups');
  const rule = await writable(loadSecurityGroupRules, ctx, 'security group rule', id);
  return inTransaction(ctx.rt, async (tx) => {
    const [row] = await tx
      .delete(securityGroupRules)
      .where(eq(securityGroupRules.id, rule.id))
      .returning();
    if (!row) throw new NotFoundError('security group rule', id);
    await resyncMembers(tx, [row.securityGroupId]);
    await releaseQuota(tx, row.projectId, { security_group_rules: 1 });
    await publishNetworkEvent(tx, 'SECURITY_GROUP_UPDATED', 'SecurityGroup', {
      id: row.securityGroupId,
      projectId: row.projectId,
    });
    return row;
  });
}

/** Resyncs the bound ports in `groupIds` (their rules changed). */
export async function resyncMembers(tx: DbOrTx, groupIds: string[]): Promise<void> {
  if (groupIds.length === 0) return;
  const rows = await tx
    .selectDistinct({ id: ports.id, bindingHost: ports.bindingHost })
    .from(ports)
    .innerJoin(portSecurityGroups, eq(portSecurityGroups.portId, ports.id))
    .where(
      and(inArray(portSecurityGroups.securityGroupId, groupIds), isNotNull(ports.bindingHost)),
    );
  for (const port of rows) await syncPort(tx, port);
}

/**
 * Membership of `groupIds` changed (a port joined or left, or its addresses changed): ports
 * whose rules name one of them as remote group get the new member addresses.
 */
export async function resyncGroupPorts(tx: DbOrTx, groupIds: string[]): Promise<void> {
  if (groupIds.length === 0) return;
  const referencing = await tx
    .selectDistinct({ groupId: securityGroupRules.securityGroupId })
    .from(securityGroupRules)
    .where(inArray(securityGroupRules.remoteGroupId, groupIds));
  await resyncMembers(
    tx,
    referencing.map((r) => r.groupId),
  );
}
