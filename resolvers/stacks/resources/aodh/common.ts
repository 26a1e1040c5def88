import { NotFoundError } from '../../../errors';
import {
  type AlarmInput,
  type AlarmRow,
  COMPARISONS,
  type Comparison,
  deleteAlarm,
  loadAlarms,
} from '../../../metering/alarms';
import { levelOf, policyOf } from '../../../metering/archive-policies';
import { checkMeterFor } from '../../../metering/meters';
import type { MeteredType } from '../../../metering/samples';
import { checkWebhookUrl } from '../../../metering/webhooks-allow';
import { badProperty, bool, inField, list, type Props, plain, str } from '../cinder/props';
import type { PropertySpec, ResourceContext, ResourceState } from '../plugin';

/**
 * What Heat's alarm types share (alarm_base.common_properties_schema): description, enabled,
 * the three action URL lists, repeat_actions, severity, time_constraints; and the checks of a
 * Stratus alarm rule made from them, without writing. `severity` is kept only with the stack
 * (Stratus alarms have none); time_constraints are refused.
 */

const ACTIONS: PropertySpec = { type: 'list', updateAllowed: true, default: [] };

export const COMMON_PROPERTIES: Record<string, PropertySpec> = {
  description: { type: 'string', updateAllowed: true },
  enabled: { type: 'boolean', default: true, updateAllowed: true },
  alarm_actions: ACTIONS,
  ok_actions: ACTIONS,
  insufficient_data_actions: ACTIONS,
  repeat_actions: { type: 'boolean', default: true, updateAllowed: true },
  severity: { type: 'string', default: 'low', updateAllowed: true },
  time_constraints: { type: 'list', default: [] },
};

/** The service fields the alarm types fill, as Heat names them (for renamed errors). */
export const COMMON_FIELDS = {
  threshold: 'threshold',
  comparison: 'comparison_operator',
  evaluationPeriods: 'evaluation_periods',
  'actions.alarm': 'alarm_actions',
  'actions.ok': 'ok_actions',
  'actions.insufficientData': 'insufficient_data_actions',
  name: 'name',
  description: 'description',
};

/** The common part of the service input; Aodh's defaults (operator eq, 1 period). */
export function commonInput(ctx: ResourceContext, p: Props): AlarmInput {
  if (list(p, 'time_constraints').length)
    throw badProperty(ctx, 'time_constraints', 'Stratus alarms have no time constraints');
  const comparison = str(p, 'comparison_operator') ?? 'eq';
  if (!COMPARISONS.includes(comparison as Comparison))
    throw badProperty(
      ctx,
      'comparison_operator',
      `"${comparison}" is not one of ${COMPARISONS.join(', ')}`,
    );
  const urls = (key: string) => list(p, key).map(String);
  const threshold = p.threshold == null ? null : Number(p.threshold);
  return {
    name: ctx.physicalName,
    description: str(p, 'description') ?? '',
    comparison: comparison as Comparison,
    threshold,
    evaluationPeriods: p.evaluation_periods == null ? 1 : Number(p.evaluation_periods),
    actions: {
      alarm: urls('alarm_actions'),
      ok: urls('ok_actions'),
      insufficientData: urls('insufficient_data_actions'),
    },
    repeatActions: bool(p, 'repeat_actions') ?? true,
    enabled: bool(p, 'enabled') ?? true,
  };
}

/** The domain's rule checks that need no resource: meter, threshold, period, webhook URLs. */
export function checkRule(
  ctx: ResourceContext,
  input: AlarmInput,
  props: { meter: string; period: string },
): void {
  const meter = input.meter ?? '';
  inField(() =>
    checkMeterFor(`${ctx.path}.${props.meter}`, meter, input.resourceType as MeteredType),
  );
  if (input.threshold == null || !Number.isFinite(input.threshold))
    throw badProperty(ctx, 'threshold', 'a number is required');
  const policy = policyOf(meter);
  if (!levelOf(policy, input.granularity ?? 0))
    throw badProperty(
      ctx,
      props.period,
      `${input.granularity} s is not a granularity of policy ${policy.name} (${policy.levels.map((l) => l.granularity).join(', ')})`,
    );
  const allow = ctx.svc.rt.config.alarms.webhookAllow;
  for (const [prop, urls] of [
    ['alarm_actions', input.actions?.alarm],
    ['ok_actions', input.actions?.ok],
    ['insufficient_data_actions', input.actions?.insufficientData],
  ] as const) {
    (urls ?? []).forEach((url, i) => {
      inField(() => checkWebhookUrl(allow, `${ctx.path}.${prop}[${i}]`, url));
    });
  }
}

export async function alarmRow(
  ctx: ResourceContext,
  state: ResourceState,
): Promise<AlarmRow | null> {
  if (!state.physicalId) return null;
  const [row] = await loadAlarms(ctx.svc, [state.physicalId]);
  return row;
}

/** Deleting an alarm already gone is success (the engine retries). */
export async function deleteAlarmResource(
  ctx: ResourceContext,
  state: ResourceState,
): Promise<void> {
  if (!state.physicalId) return;
  try {
    await deleteAlarm(ctx.svc, state.physicalId);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
}

/** `show`: the alarm row with Aodh's names for what both types share. */
export function showAlarm(
  row: AlarmRow,
  state: ResourceState,
  type: string,
  rule: Record<string, unknown>,
): Record<string, unknown> {
  return {
    ...plain(row as unknown as Record<string, unknown>),
    alarm_id: row.id,
    type,
    severity: str(state.properties, 'severity') ?? 'low',
    [`${type}_rule`]: rule,
    alarm_actions: row.actions.alarm,
    ok_actions: row.actions.ok,
    insufficient_data_actions: row.actions.insufficientData,
  };
}
