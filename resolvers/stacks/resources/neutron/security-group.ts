import { InvalidInputError } from '../../../errors';
import { loadSecurityGroups } from '../../../networks/access';
import {
  createSecurityGroup,
  deleteSecurityGroup,
  updateSecurityGroup,
} from '../../../networks/security-groups';
import type { ResourceContext, ResourcePlugin } from '../plugin';
import { deleteOrWait, retryDelete } from './in-use';
import { ignoreGone, physical } from './lookup';
import { asHeat, Props } from './props';
import { applyRules, type RuleInput, ruleInput } from './rules';
import { securityGroupShow } from './show';

/** OS::Neutron::SecurityGroup: a group and its rules; a change of rules is applied as a set. */

async function groupInput(ctx: ResourceContext, values: Record<string, unknown>) {
  const p = new Props(ctx.path, values);
  const name = p.str('name') || ctx.physicalName;
  if (name === 'default') {
    throw new InvalidInputError(
      p.field('name'),
      `${p.field('name')}: security groups cannot be named "default"`,
    );
  }
  const rules: RuleInput[] = [];
  for (const rule of p.maps('rules') ?? [])
    rules.push(await ruleInput(ctx.svc, rule, 'remote_group_id'));
  return { name, description: p.str('description') ?? '', rules };
}

export const securityGroup: ResourcePlugin = {
  type: 'OS::Neutron::SecurityGroup',
  physicalType: 'SecurityGroup',
  properties: {
    name: { type: 'string', updateAllowed: true },
    description: { type: 'string', updateAllowed: true },
    rules: { type: 'list', default: [], updateAllowed: true },
  },
  attributes: [],

  async validate(ctx, values) {
    await groupInput(ctx, values);
  },

  quota: (values) => [
    { resource: 'security_groups', amount: 1 },
    {
      resource: 'security_group_rules',
      amount: Array.isArray(values.rules) ? values.rules.length : 0,
    },
  ],

  async create(ctx, values) {
    const { rules, ...input } = await groupInput(ctx, values);
    const row = await asHeat(ctx.path, {}, () => createSecurityGroup(ctx.svc, input));
    try {
      await applyRules(ctx.svc, row.id, rules, ctx.path);
    } catch (error) {
      // Nothing half-made: the group goes when one of its rules is refused.
      await ignoreGone(() => deleteSecurityGroup(ctx.svc, row.id));
      throw error;
    }
    return { physicalId: row.id };
  },

  async update(ctx, state, values, changed) {
    const { rules, ...input } = await groupInput(ctx, values);
    await asHeat(ctx.path, {}, () =>
      updateSecurityGroup(ctx.svc, { id: state.physicalId, ...input }),
    );
    if (changed.includes('rules')) await applyRules(ctx.svc, state.physicalId!, rules, ctx.path);
    return { kind: 'updated' };
  },

  async delete(ctx, state) {
    if (!state.physicalId) return;
    await deleteOrWait(state, () => deleteSecurityGroup(ctx.svc, state.physicalId!));
  },

  checkDeleteComplete: (ctx, state) =>
    retryDelete(state, () => deleteSecurityGroup(ctx.svc, state.physicalId!)),

  async attribute(ctx, state, name) {
    const row = await physical(ctx.svc, loadSecurityGroups, 'security group', state.physicalId);
    const show = await securityGroupShow(ctx.svc, row);
    return name === 'show' ? show : show[name];
  },
};
