import { and, asc, eq, lte, sql } from 'drizzle-orm';
import type { Tx } from '../../db/connection';
import { type AlarmState, alarmHistory, alarms } from '../../db/tables';
import type { Runtime } from '../runtime';
import type { AlarmRow, Comparison } from './alarms';
import { publishAlarmEvent } from './alarms';
import type { Aggregation, MeteredType, SeriesPoint } from './samples';
import { querySeries } from './series';
import { queueWebhooks } from './webhooks';

/**
 * Aodh's threshold evaluation. The window is the last `evaluationPeriods` buckets of the
 * alarm's granularity (one more bucket is read so the current, filling one may count):
 * - fewer points than periods: insufficient data;
 * - all points beyond the threshold: alarm; none: ok;
 * - mixed: the state stays, except that insufficient data follows the most recent point.
 */

const OPS: Record<Comparison, (value: number, threshold: number) => boolean> = {
  gt: (v, t) => v > t,
  ge: (v, t) => v >= t,
  lt: (v, t) => v < t,
  le: (v, t) => v <= t,
  eq: (v, t) => v === t,
  ne: (v, t) => v !== t,
};

export interface Verdict {
  state: AlarmState;
  reason: string;
  values: number[];
}

const shown = (v: number) => String(Number(v.toPrecision(6)));

export function judge(
  alarm: Pick<AlarmRow, 'comparison' | 'threshold' | 'evaluationPeriods' | 'state'>,
  points: readonly SeriesPoint[],
): Verdict {
  const values = points.slice(-alarm.evaluationPeriods).map((p) => p.value);
  if (values.length < alarm.evaluationPeriods) {
    const missing = alarm.evaluationPeriods - values.length;
    return { state: 'insufficient data', reason: `${missing} datapoints are unknown`, values };
  }
  const op = OPS[alarm.comparison as Comparison];
  const outside = values.map((v) => op(v, alarm.threshold));
  const count = outside.filter(Boolean).length;
  const recent = shown(values[values.length - 1]);
  let state: AlarmState;
  if (count === values.length) state = 'alarm';
  else if (count === 0) state = 'ok';
  else if (alarm.state === 'insufficient data')
    state = outside[outside.length - 1] ? 'alarm' : 'ok';
  else state = alarm.state;
  const n = state === 'alarm' ? count : values.length - count;
  const where = state === 'alarm' ? 'outside' : 'inside';
  const verb = state === alarm.state ? 'Remaining as' : 'Transition to';
  return {
    state,
    reason: `${verb} ${state} due to ${n} samples ${where} threshold, most recent: ${recent}`,
    values,
  };
}

/** Reads the alarm's window and judges it. */
async function evaluate(tx: Tx, alarm: AlarmRow, now: Date): Promise<Verdict> {
  const g = alarm.granularity;
  const points = await querySeries(tx, {
    meter: alarm.meter,
    resourceType: alarm.resourceType as MeteredType,
    resourceIds: alarm.resourceIds,
    from: new Date(now.getTime() - (alarm.evaluationPeriods + 1) * g * 1000),
    to: new Date(now.getTime() + 1),
    granularity: g,
    aggregation: alarm.aggregation as Aggregation,
  });
  return judge(alarm, points);
}

const ACTIONS_OF: Record<AlarmState, 'alarm' | 'ok' | 'insufficientData'> = {
  alarm: 'alarm',
  ok: 'ok',
  'insufficient data': 'insufficientData',
};

/**
 * Evaluates one due alarm, if there is one no other process holds (SKIP LOCKED), in its own
 * transaction with everything it causes: state, history, event, webhook jobs. False when
 * nothing was due.
 */
export async function evaluateOneDueAlarm(rt: Runtime, now = new Date()): Promise<boolean> {
  return rt.db.transaction(async (tx) => {
    const [alarm] = await tx
      .select()
      .from(alarms)
      .where(and(eq(alarms.enabled, true), lte(alarms.nextEvaluationAt, now)))
      .orderBy(asc(alarms.nextEvaluationAt))
      .limit(1)
      .for('update', { skipLocked: true });
    if (!alarm) return false;
    const next = new Date(now.getTime() + rt.config.alarms.evaluationIntervalMs);
    let verdict: Verdict;
    try {
      verdict = await tx.transaction((inner) => evaluate(inner, alarm, now));
    } catch (error) {
      // A rule the store refuses now (e.g. a policy that changed) must not stall the others.
      rt.logger.warn({ err: error, alarmId: alarm.id }, 'alarm evaluation failed');
      verdict = {
        state: 'insufficient data',
        reason: `Evaluation failed: ${(error as Error).message}`,
        values: [],
      };
    }
    const changed = verdict.state !== alarm.state;
    const [row] = await tx
      .update(alarms)
      .set({
        lastEvaluatedAt: now,
        nextEvaluationAt: next,
        stateReason: verdict.reason,
        // updated_at moves with the state only: subscribers order rows by it.
        ...(changed
          ? { state: verdict.state, stateChangedAt: now }
          : { updatedAt: sql`updated_at` }),
      })
      .where(eq(alarms.id, alarm.id))
      .returning();
    if (!changed && !alarm.repeatActions) return true;
    if (changed) {
      await tx.insert(alarmHistory).values({
        alarmId: row.id,
        projectId: row.projectId,
        type: 'state transition',
        previousState: alarm.state,
        state: row.state,
        reason: verdict.reason,
        values: verdict.values,
      });
      await publishAlarmEvent(tx, 'ALARM_STATE_CHANGED', row);
    }
    await queueWebhooks(tx, rt.config.alarms, row.id, row.actions[ACTIONS_OF[row.state]], {
      alarmId: row.id,
      alarmName: row.name,
      projectId: row.projectId,
      previousState: alarm.state,
      currentState: row.state,
      reason: verdict.reason,
      values: verdict.values,
      timestamp: now.toISOString(),
    });
    return true;
  });
}

/**
 * The periodic evaluator: at start (an evaluation missed while Stratus was down is due now)
 * and then every STRATUS_ALARM_EVALUATION_INTERVAL_MS, every due alarm. Several processes may
 * run it; SKIP LOCKED gives each alarm to one of them.
 */
export function startAlarmEvaluator(rt: Runtime): () => Promise<void> {
  let stopped = false;
  let current: Promise<void> | null = null;
  const round = async () => {
    const now = new Date();
    // Bounded, so a huge backlog cannot keep one round going forever.
    for (let i = 0; i < 10_000 && !stopped; i++) {
      if (!(await evaluateOneDueAlarm(rt, now))) break;
    }
  };
  // One round at a time in this process; a slow round delays the next instead of piling up.
  const tick = () => {
    if (stopped || current) return;
    current = round()
      .catch((err) => rt.logger.warn({ err }, 'alarm evaluation round failed'))
      .finally(() => {
        current = null;
      });
  };
  tick();
  const timer = setInterval(tick, rt.config.alarms.evaluationIntervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await current;
  };
}
