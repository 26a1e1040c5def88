import { encodeGlobalID } from '@pothos/plugin-relay';
import {
  defaultFieldResolver,
  type GraphQLField,
  type GraphQLSchema,
  getNamedType,
  isUnionType,
} from 'graphql';
import { type AuditRow, listAuditEvents, recordMutationResult } from '../resolvers/audit/audit';
import { type AuditScope, runInAuditScope } from '../resolvers/audit/scope';
import { StratusError } from '../resolvers/errors';
import { scopedProjectId } from '../resolvers/identity/auth-context';
import { builder, type GraphQLContext } from './builder';
import { Project, User } from './identity/types';
import { listConnection } from './pagination';

/** The audit log (Ceilometer's events) and the wrapper that gives each mutation its record. */

const AuditEvent = builder.objectRef<AuditRow>('AuditEvent').implement({
  description: 'Who changed what, when, from which request, with what result',
  fields: (t) => ({
    id: t.id({ resolve: (r) => String(r.id) }),
    eventCursor: t.string({
      nullable: true,
      description:
        'The event it records (resume subscriptions after it); null for a mutation alone',
      resolve: (r) => (r.eventId == null ? null : String(r.eventId)),
    }),
    kind: t.exposeString('kind', { description: 'The event kind, or MUTATION' }),
    resourceType: t.exposeString('resourceType'),
    resourceId: t.exposeString('resourceId', {
      description: 'The raw id; `resourceGlobalId` is the Node id',
    }),
    resourceGlobalId: t.id({
      nullable: true,
      resolve: (r) =>
        r.resourceType === 'Mutation' ? null : encodeGlobalID(r.resourceType, r.resourceId),
    }),
    project: t.field({ type: Project, nullable: true, resolve: (r) => r.projectId }),
    userId: t.exposeString('userId', {
      description: 'The user id, `anonymous`, or `system` for work no user started',
    }),
    user: t.field({
      type: User,
      nullable: true,
      resolve: (r) => (/^[0-9a-f-]{36}$/i.test(r.userId) ? r.userId : null),
    }),
    requestId: t.exposeString('requestId', { nullable: true }),
    operation: t.exposeString('operation', {
      nullable: true,
      description: 'The mutation (or operation kind, for jobs) that caused it',
    }),
    result: t.exposeString('result', {
      nullable: true,
      description: "The mutation's payload typename or error code; null for jobs",
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const AuditEventFilter = builder.inputType('AuditEventFilter', {
  fields: (t) => ({
    resourceType: t.string({ description: 'e.g. Server, Volume, Alarm, Mutation' }),
    resourceId: t.string({ description: 'The raw id (not the global id)' }),
    kind: t.string(),
    userId: t.string({ description: 'A user id, or system' }),
    requestId: t.string(),
    since: t.field({ type: 'DateTime' }),
    until: t.field({ type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  auditEvents: t.connection({
    type: AuditEvent,
    description: "The audit log, newest first: your project's records (admins: all)",
    authScopes: { policy: 'audit:list' },
    nullable: true,
    args: { filter: t.arg({ type: AuditEventFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) => listAuditEvents(ctx, args.filter ?? {}, page)),
  }),
}));

/** What a mutation's outcome is called in the log: its payload's typename, or an error code. */
function outcomeName(field: GraphQLField<unknown, unknown>, value: unknown): string {
  // Pothos returns expected errors as proxies of a copy, where instanceof may not hold.
  const e = value as { code?: unknown; name?: unknown } | null;
  if (value instanceof StratusError) return value.code;
  if (e && typeof e.code === 'string' && typeof e.name === 'string' && e.name.endsWith('Error'))
    return e.code;
  const type = getNamedType(field.type);
  if (isUnionType(type)) {
    const success = type.getTypes().find((t) => t.name.endsWith('Success'));
    return success?.name ?? type.name;
  }
  return type.name;
}

function errorCode(error: unknown): string {
  if (error instanceof StratusError) return error.code;
  const code = (error as { extensions?: { code?: unknown } })?.extensions?.code;
  return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
}

/**
 * Runs every mutation in an audit scope (who, request id, mutation name) so the events it
 * publishes are recorded as its own, then records its result.
 */
export function auditMutations(schema: GraphQLSchema): GraphQLSchema {
  const mutation = schema.getMutationType();
  if (!mutation) return schema;
  for (const field of Object.values(mutation.getFields())) {
    const resolve = field.resolve ?? defaultFieldResolver;
    field.resolve = async (root, args, ctx: GraphQLContext, info) => {
      const scope: AuditScope = {
        userId: ctx.auth?.userId ?? 'anonymous',
        userProjectId: scopedProjectId(ctx.auth),
        requestId: ctx.requestId,
        operation: info.fieldName,
      };
      const record = (result: string) =>
        recordMutationResult(ctx.rt.db, scope, result).catch((err) =>
          ctx.log.warn({ err }, 'recording the audit result failed'),
        );
      try {
        const value = await runInAuditScope(scope, () => resolve(root, args, ctx, info));
        await record(outcomeName(field, value));
        return value;
      } catch (error) {
        await record(errorCode(error));
        throw error;
      }
    };
  }
  return schema;
}
