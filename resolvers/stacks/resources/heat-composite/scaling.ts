/** Heat's heat/scaling/scalingutil.py: adjustment types and the new capacity they give. */

export const ADJUSTMENT_TYPES = [
  'change_in_capacity',
  'exact_capacity',
  'percent_change_in_capacity',
] as const;
export type AdjustmentType = (typeof ADJUSTMENT_TYPES)[number];

export interface Adjustment {
  adjustmentType: AdjustmentType;
  scalingAdjustment: number;
  minAdjustmentStep?: number | null;
}

/** calculate_new_capacity: the capacity after an adjustment, kept within [minimum, maximum]. */
export function newCapacity(
  current: number,
  adj: Adjustment,
  minimum: number,
  maximum: number,
): number {
  let capacity: number;
  if (adj.adjustmentType === 'change_in_capacity') capacity = current + adj.scalingAdjustment;
  else if (adj.adjustmentType === 'exact_capacity') capacity = adj.scalingAdjustment;
  else {
    const delta = (current * adj.scalingAdjustment) / 100;
    let rounded =
      Math.abs(delta) < 1
        ? delta > 0
          ? Math.ceil(delta)
          : Math.floor(delta)
        : delta > 0
          ? Math.floor(delta)
          : Math.ceil(delta);
    const step = adj.minAdjustmentStep ?? 0;
    if (step && step > Math.abs(rounded)) rounded = rounded > 0 ? step : -step;
    capacity = current + rounded;
  }
  return Math.max(minimum, Math.min(maximum, capacity));
}

/** True while `cooldown` seconds since `lastAt` (ISO) have not passed. */
export function inCooldown(
  lastAt: unknown,
  cooldown: number | null | undefined,
  now = Date.now(),
): boolean {
  if (!cooldown || typeof lastAt !== 'string') return false;
  return now - Date.parse(lastAt) < cooldown * 1000;
}
