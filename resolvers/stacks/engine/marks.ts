import type { StackResourceRow } from './types';

/**
 * The engine's own bookkeeping of a resource row, kept under one reserved key of its `data`
 * (plugins never see it): what the current action still has to do to the row, and in which
 * generation it was queued (so a row is never queued twice, and a stale job stops).
 */
export interface EngineMark {
  pending: 'CREATE' | 'UPDATE' | 'DELETE' | null;
  queuedGen: number | null;
  /** deletion_policy Retain: deleting forgets the row and keeps the physical resource. */
  retain: boolean;
}

const KEY = '$engine';

export function markOf(row: Pick<StackResourceRow, 'data'>): EngineMark {
  const m = (row.data as Record<string, unknown>)[KEY] as Partial<EngineMark> | undefined;
  return { pending: m?.pending ?? null, queuedGen: m?.queuedGen ?? null, retain: !!m?.retain };
}

/** The plugin's part of the data. */
export function pluginData(row: Pick<StackResourceRow, 'data'>): Record<string, unknown> {
  const { [KEY]: _mark, ...rest } = row.data as Record<string, unknown>;
  return rest;
}

export function withMark(
  data: Record<string, unknown>,
  mark: Partial<EngineMark>,
  base?: EngineMark,
): Record<string, unknown> {
  const { [KEY]: old, ...rest } = data;
  const prev = base ?? markOf({ data: { [KEY]: old } });
  return { ...rest, [KEY]: { ...prev, ...mark } };
}
