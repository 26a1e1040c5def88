import { type DefaultConnectionArguments, resolveOffsetConnection } from '@pothos/plugin-relay';
import type { ListResult, Page } from '../resolvers/pagination';
import { builder } from './builder';

export const OrderDirection = builder.enumType('OrderDirection', {
  values: ['ASC', 'DESC'] as const,
});

/**
 * Resolves a relay connection from a service's paged list: pages of at most 100, cursors are
 * offsets, and the total of the filtered list rides along for `totalCount`.
 */
export async function listConnection<T>(
  args: DefaultConnectionArguments,
  fetch: (page: Page) => Promise<ListResult<T>>,
) {
  let totalCount = 0;
  const connection = await resolveOffsetConnection(
    { args, defaultSize: 20, maxSize: 100 },
    async ({ offset, limit }) => {
      const result = await fetch({ offset, limit });
      totalCount = result.totalCount;
      return result.rows;
    },
  );
  return Object.assign(connection, { totalCount });
}
