import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { ForbiddenError, UnauthenticatedError } from '../resolvers/errors';
import { type Action, allows } from '../resolvers/policy';
import type { ServiceContext } from '../resolvers/runtime';

/** The GraphQL context: a service context built per request (HTTP) or per connection (WebSocket). */
export type GraphQLContext = ServiceContext;

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  AuthScopes: { policy: Action };
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({
  defaultFieldNullability: false,
  plugins: [ScopeAuthPlugin, ErrorsPlugin, RelayPlugin, DataloaderPlugin],
  scopeAuth: {
    // Refuse a subscription up front rather than at each event.
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({ policy: (action: Action) => allows(ctx.auth, action) }),
    // A field the caller may not read becomes null with this error at its path.
    unauthorizedError: (_parent, ctx, _info, result) =>
      ctx.auth ? new ForbiddenError(result.message) : new UnauthenticatedError(),
  },
  errors: {
    defaultTypes: [],
    defaultUnionOptions: { name: ({ fieldName }) => `${capitalize(fieldName)}Payload` },
    defaultResultOptions: { name: ({ fieldName }) => `${capitalize(fieldName)}Success` },
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: { nullable: true },
    nodesQueryOptions: { nullable: { list: false, items: true } },
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

builder.scalarType('DateTime', {
  description: 'An instant, as an ISO 8601 string in UTC',
  serialize: (value) => (value instanceof Date ? value.toISOString() : String(value)),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (typeof value !== 'string' || Number.isNaN(date.getTime())) {
      throw new TypeError(`DateTime must be an ISO 8601 string, got ${JSON.stringify(value)}`);
    }
    return date;
  },
});

builder.scalarType('JSON', {
  description: 'Any JSON value',
  serialize: (value) => value,
  parseValue: (value) => value,
});

/** Every connection carries the size of the whole filtered list. */
builder.globalConnectionField('totalCount', (t) =>
  t.int({ resolve: (parent) => (parent as unknown as { totalCount: number }).totalCount }),
);
