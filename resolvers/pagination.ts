import { asc, count, desc, getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { AnyPgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { DbOrTx } from '../db/connection';

/** A window of a list, as the schema's connections ask for it. */
export interface Page {
  limit: number;
  offset: number;
}

export interface ListResult<T> {
  rows: T[];
  totalCount: number;
}

export type OrderDirection = 'ASC' | 'DESC';

/** `count(*) over ()`: the total of the filtered list, read by the same statement as the page. */
export const totalCountColumn = sql<number>`cast(count(*) over () as integer)`;

/** Splits rows selected with `totalCountColumn` as `total`; falls back to `count` past the end. */
export async function toListResult<T>(
  selected: Array<{ row: T; total: number }>,
  page: Page,
  count: () => Promise<number>,
): Promise<ListResult<T>> {
  if (selected.length > 0)
    return { rows: selected.map((s) => s.row), totalCount: selected[0].total };
  return { rows: [], totalCount: page.offset > 0 ? await count() : 0 };
}

/** Escapes LIKE wildcards so a user's "50%" matches literally. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export type Where = SQL | undefined;

/**
 * Selects one ordered page of `table` with its total in a single statement. `tiebreak`
 * (the primary key) makes the order total so pages never overlap.
 */
export async function selectPage<T extends PgTable>(
  db: DbOrTx,
  table: T,
  where: SQL | undefined,
  orderBy: { column: AnyPgColumn; direction: OrderDirection; tiebreak: AnyPgColumn },
  page: Page,
): Promise<ListResult<T['$inferSelect']>> {
  const dir = orderBy.direction === 'ASC' ? asc : desc;
  const selected = (await db
    .select({ row: getTableColumns(table), total: totalCountColumn })
    .from(table as PgTable)
    .where(where)
    .orderBy(dir(orderBy.column), asc(orderBy.tiebreak))
    .limit(page.limit)
    .offset(page.offset)) as Array<{ row: T['$inferSelect']; total: number }>;
  return toListResult(selected, page, async () => {
    const [c] = await db
      .select({ n: count() })
      .from(table as PgTable)
      .where(where);
    return c.n;
  });
}
