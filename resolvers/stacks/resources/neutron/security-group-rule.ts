import { loadSecurityGroupRules } from '../../../networks/access';
import { deleteSecurityGroupRule } from '../../../networks/security-groups';
import type { ResourceContext, ResourcePlugin } from '../plugin';
import { findSecurityGroup, ignoreGone, physical } from './lookup';
import { Props } from './props';
import { addRule, ruleInput } from './rules';
import { ruleShow } from './show';

/** OS::Neutron::SecurityGroupRule: one rule in a group (every change replaces it, as in Heat). */

async function request(ctx: ResourceContext, values: Record<string, unknown>) {
  const p = new Props(ctx.path, values);
  const group = await findSecurityGroup(
    ctx.svc,
    p.need('security_group'),
    p.field('security_group'),
  );
  return { groupId: group.id, rule: await ruleInput(ctx.svc, p, 'remote_group') };
}

export const securityGroupRule: ResourcePlugin = {
  type: 'OS::Neutron::SecurityGroupRule',
  physicalType: 'SecurityGroupRule',
  properties: {
    security_group: { type: 'string', required: true },
    description: { type: 'string' },
    direction: { type: 'string', default: 'ingress' },
    ethertype: { type: 'string', default: 'IPv4' },
    port_range_min: { type: 'integer' },
    port_range_max: { type: 'integer' },
    protocol: { type: 'string' },
    remote_group: { type: 'string' },
    remote_ip_prefix: { type: 'string' },
  },
  attributes: [],

  async validate(ctx, values) {
    const p = new Props(ctx.path, values);
    // The group is often made by the same stack: then only the rule's own shape is checked.
    const group = p.str('security_group');
    if (group) await findSecurityGroup(ctx.svc, group, p.field('security_group'));
    await ruleInput(ctx.svc, p, 'remote_group');
  },

  quota: () => [{ resource: 'security_group_rules', amount: 1 }],

  async create(ctx, values) {
    const { groupId, rule } = await request(ctx, values);
    return { physicalId: await addRule(ctx.svc, groupId, rule, ctx.path, 'remote_group') };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    await ignoreGone(() => deleteSecurityGroupRule(ctx.svc, state.physicalId!));
  },

  async attribute(ctx, state, name) {
    const row = await physical(
      ctx.svc,
      loadSecurityGroupRules,
      'security group rule',
      state.physicalId,
    );
    const show = ruleShow(row);
    return name === 'show' ? show : show[name];
  },
};
