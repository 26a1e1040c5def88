import { encodeGlobalID } from '@pothos/plugin-relay';
import { InvalidInputError } from '../resolvers/errors';
import type { StratusEvent } from '../resolvers/events';
import { canSeeProject, isAdmin } from '../resolvers/identity/auth-context';
import { loadOperations } from '../resolvers/operations';
import type { GraphQLContext } from './builder';
import { builder } from './builder';
import { Operation } from './operations';

export const IDENTITY_RESOURCE_TYPES = new Set([
  'Domain',
  'Project',
  'User',
  'Group',
  'Role',
  'RoleAssignment',
]);

const EventType = builder.objectRef<StratusEvent>('Event').implement({
  description: 'A state change. Keep `cursor` to resume with `after` after a dropped connection',
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    kind: t.exposeString('kind', { description: 'e.g. PROJECT_CREATED, OPERATION_UPDATED' }),
    resourceType: t.exposeString('resourceType'),
    resourceId: t.id({
      description: 'Global id of the resource',
      resolve: (e) => encodeGlobalID(e.resourceType, e.resourceId),
    }),
    projectId: t.id({
      nullable: true,
      resolve: (e) => (e.projectId ? encodeGlobalID('Project', e.projectId) : null),
    }),
    payload: t.field({ type: 'JSON', resolve: (e) => e.payload }),
    createdAt: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
});

function parseCursor(after: string | null | undefined): number | null {
  if (after == null) return null;
  if (!/^\d+$/.test(after))
    throw new InvalidInputError('after', `after must be an event cursor, got "${after}"`);
  return Number(after);
}

/** Whether the caller may see the event: project events to that project's readers, the rest to admins. */
export function visibleTo(ctx: GraphQLContext, event: StratusEvent): boolean {
  if (!ctx.auth || ctx.rt.tokens.isRevoked(ctx.auth) || ctx.auth.expiresAt.getTime() <= Date.now())
    return false;
  return event.projectId ? canSeeProject(ctx.auth, event.projectId) : isAdmin(ctx.auth);
}

builder.subscriptionFields((t) => ({
  events: t.field({
    type: EventType,
    description:
      'Every state change you may see; with `after`, the stored ones after that cursor first',
    authScopes: { policy: 'event:subscribe' },
    args: { after: t.arg.string(), kinds: t.arg.stringList() },
    subscribe: (_root, args, ctx) => {
      const kinds = args.kinds ? new Set(args.kinds) : null;
      return ctx.rt.events.stream({
        after: parseCursor(args.after),
        accept: (e) => (!kinds || kinds.has(e.kind)) && visibleTo(ctx, e),
      });
    },
    resolve: (event) => event,
  }),
  identityChanged: t.field({
    type: EventType,
    description:
      'Changes to domains, projects, users, groups, roles and role assignments (admins only)',
    authScopes: { policy: 'identity:subscribe_changes' },
    args: { after: t.arg.string() },
    subscribe: (_root, args, ctx) =>
      ctx.rt.events.stream({
        after: parseCursor(args.after),
        accept: (e) => IDENTITY_RESOURCE_TYPES.has(e.resourceType) && visibleTo(ctx, e),
      }),
    resolve: (event) => event,
  }),
  operation: t.field({
    type: Operation,
    description: 'The operation now, then at each change until it ends',
    authScopes: { policy: 'operation:list' },
    args: { id: t.arg.globalID({ for: Operation, required: true }) },
    subscribe: (_root, args, ctx) => operationUpdates(ctx, args.id.id),
    resolve: (operation) => operation,
  }),
}));

/**
 * Current state first, then each update, ending after the operation's terminal state. The
 * first read happens before the stream is returned, so an unknown id fails with its code
 * rather than as an error inside the stream (which a client would see as internal).
 */
async function operationUpdates(ctx: GraphQLContext, id: string) {
  const stream = ctx.rt.events.stream({
    after: null,
    accept: (e) => e.resourceType === 'Operation' && e.resourceId === id && visibleTo(ctx, e),
  });
  const [first] = await loadOperations(ctx, [id]).catch(async (error) => {
    await stream.return?.();
    throw error;
  });
  if (!first) {
    await stream.return?.();
    throw new InvalidInputError('id', `No operation with id "${id}"`);
  }
  return (async function* () {
    try {
      let current: typeof first | null = first;
      yield current;
      while (
        current &&
        current.status !== 'SUCCEEDED' &&
        current.status !== 'FAILED' &&
        current.status !== 'CANCELLED'
      ) {
        const next = await stream.next();
        if (next.done) return;
        [current] = await loadOperations(ctx, [id]);
        if (current) yield current;
      }
    } finally {
      await stream.return?.();
    }
  })();
}
