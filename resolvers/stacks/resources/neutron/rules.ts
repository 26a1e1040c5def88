import { InvalidInputError } from '../../../errors';
import { SecurityGroupRuleExistsError } from '../../../networks/errors';
import { parseCidr } from '../../../networks/ip';
import {
  createSecurityGroupRule,
  deleteSecurityGroupRule,
  rulesOfGroups,
} from '../../../networks/security-groups';
import type { ServiceContext } from '../../../runtime';
import { findSecurityGroup } from './lookup';
import { asHeat, type Props } from './props';

/** Heat's security group rule maps as createSecurityGroupRule inputs, and rules applied as a set. */

export interface RuleInput {
  direction: string;
  ethertype: string;
  protocol?: string;
  portRangeMin?: number;
  portRangeMax?: number;
  remoteIpPrefix?: string;
  /** A group id; null: the group the rule is in (Heat's remote_mode remote_group_id without a group). */
  remoteGroupId?: string | null;
  description?: string;
}

/**
 * One rule's properties (`remoteKey`: remote_group_id in a SecurityGroup's rules, remote_group
 * on a SecurityGroupRule), shape-checked with errors naming the property.
 */
export async function ruleInput(
  svc: ServiceContext,
  p: Props,
  remoteKey: 'remote_group_id' | 'remote_group',
): Promise<RuleInput> {
  const direction = p.str('direction') ?? 'ingress';
  if (direction !== 'ingress' && direction !== 'egress') {
    throw new InvalidInputError(
      p.field('direction'),
      `${p.field('direction')} must be ingress or egress (got "${direction}")`,
    );
  }
  const ethertype = p.str('ethertype') ?? 'IPv4';
  if (ethertype !== 'IPv4' && ethertype !== 'IPv6') {
    throw new InvalidInputError(
      p.field('ethertype'),
      `${p.field('ethertype')} must be IPv4 or IPv6 (got "${ethertype}")`,
    );
  }
  const mode = p.str('remote_mode') ?? 'remote_ip_prefix';
  if (mode !== 'remote_ip_prefix' && mode !== 'remote_group_id') {
    throw new InvalidInputError(
      p.field('remote_mode'),
      `${p.field('remote_mode')} must be remote_ip_prefix or remote_group_id (got "${mode}")`,
    );
  }
  const prefix = p.str('remote_ip_prefix');
  if (
    prefix &&
    !parseCidr(prefix.includes('/') ? prefix : `${prefix}/${prefix.includes(':') ? 128 : 32}`).cidr
  ) {
    throw new InvalidInputError(
      p.field('remote_ip_prefix'),
      `${p.field('remote_ip_prefix')} is not a CIDR (got "${prefix}")`,
    );
  }
  const remote = p.str(remoteKey);
  const remoteGroupId = remote
    ? (await findSecurityGroup(svc, remote, p.field(remoteKey))).id
    : mode === 'remote_group_id'
      ? null
      : undefined;
  return {
    direction,
    ethertype,
    protocol: p.str('protocol'),
    portRangeMin: p.int('port_range_min'),
    portRangeMax: p.int('port_range_max'),
    // Heat: remote_mode remote_group_id ignores the prefix, remote_ip_prefix ignores the group.
    remoteIpPrefix: mode === 'remote_ip_prefix' ? prefix : undefined,
    remoteGroupId: mode === 'remote_group_id' || remote ? remoteGroupId : undefined,
    description: p.str('description'),
  };
}

/** Creates one rule in `groupId`; errors name `path`'s properties. An identical rule: its id. */
export async function addRule(
  svc: ServiceContext,
  groupId: string,
  rule: RuleInput,
  path: string,
  remoteKey: string,
): Promise<string> {
  try {
    const row = await asHeat(
      path,
      { securityGroupId: 'security_group', remoteGroupId: remoteKey },
      () =>
        createSecurityGroupRule(svc, {
          ...rule,
          securityGroupId: groupId,
          remoteGroupId: rule.remoteGroupId === null ? groupId : rule.remoteGroupId,
        }),
    );
    return row.id;
  } catch (error) {
    if (error instanceof SecurityGroupRuleExistsError) return error.ruleId;
    throw error;
  }
}

/** Neutron's two allow-all egress rules a new group has (kept unless the template names egress). */
const DEFAULT_EGRESS: RuleInput[] = [
  { direction: 'egress', ethertype: 'IPv4' },
  { direction: 'egress', ethertype: 'IPv6' },
];

/**
 * Makes the group's rules exactly `rules` (plus the default egress rules when none of them is
 * egress, as Heat does): missing ones are created, identical ones kept, the rest deleted.
 */
export async function applyRules(
  svc: ServiceContext,
  groupId: string,
  rules: RuleInput[],
  path: string,
): Promise<void> {
  const wanted = rules.some((r) => r.direction === 'egress')
    ? rules
    : [...rules, ...DEFAULT_EGRESS];
  const keep = new Set<string>();
  for (const [i, rule] of wanted.entries()) {
    keep.add(await addRule(svc, groupId, rule, `${path}.rules.${i}`, 'remote_group_id'));
  }
  const [existing] = await rulesOfGroups(svc.rt.db, [groupId]);
  for (const row of existing) {
    if (!keep.has(row.id)) await deleteSecurityGroupRule(svc, row.id);
  }
}
