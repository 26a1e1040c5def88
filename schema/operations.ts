import type { OperationStage } from '../db/tables';
import { FeatureDisabledError, ForbiddenError, InvalidInputError } from '../resolvers/errors';
import {
  listOperations,
  loadOperations,
  type OperationRow,
  startTestOperation,
} from '../resolvers/operations';
import { builder } from './builder';
import { Project, User } from './identity/types';
import { listConnection } from './pagination';

const OperationStatus = builder.enumType('OperationStatus', {
  values: ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const,
});
const StageStatus = builder.enumType('OperationStageStatus', {
  values: ['PENDING', 'RUNNING', 'DONE', 'FAILED'] as const,
});

const Stage = builder.objectRef<OperationStage>('OperationStage').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    status: t.field({ type: StageStatus, resolve: (s) => s.status }),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.startedAt }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.finishedAt }),
  }),
});

const OperationError = builder
  .objectRef<{ code: string; message: string }>('OperationError')
  .implement({
    description: 'Why an operation failed',
    fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
  });

export const Operation = builder.loadableNodeRef<OperationRow, string>('Operation', {
  id: { resolve: (o) => o.id },
  load: async (ids, ctx) =>
    (await loadOperations(ctx, ids)) as unknown as Array<OperationRow | Error>,
});
Operation.implement({
  description: 'Slow work started by a mutation: stages, progress, and how it ended',
  fields: (t) => ({
    kind: t.exposeString('kind'),
    status: t.field({ type: OperationStatus, resolve: (o) => o.status }),
    stages: t.field({ type: [Stage], resolve: (o) => o.stages }),
    progressPercent: t.exposeInt('progressPercent'),
    project: t.field({ type: Project, nullable: true, resolve: (o) => o.projectId }),
    createdBy: t.field({ type: User, nullable: true, resolve: (o) => o.createdByUserId }),
    resourceType: t.exposeString('resourceType', { nullable: true }),
    result: t.field({ type: 'JSON', nullable: true, resolve: (o) => o.result }),
    error: t.field({
      type: OperationError,
      nullable: true,
      resolve: (o) => (o.errorCode ? { code: o.errorCode, message: o.errorMessage ?? '' } : null),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
  }),
});

const OperationFilter = builder.inputType('OperationFilter', {
  fields: (t) => ({ status: t.field({ type: OperationStatus }), kind: t.string() }),
});

builder.queryField('operations', (t) =>
  t.connection({
    type: Operation,
    description: 'Operations of your project (admin: all), newest first',
    authScopes: { policy: 'operation:list' },
    nullable: true,
    args: { filter: t.arg({ type: OperationFilter }) },
    resolve: (_root, args, ctx) =>
      listConnection(args, (page) => listOperations(ctx, args.filter ?? {}, page)),
  }),
);

const StartTestOperationInput = builder.inputType('StartTestOperationInput', {
  fields: (t) => ({
    stages: t.int({ required: true }),
    stageMillis: t.int({ required: true }),
    failAtStage: t.int({ description: 'Zero-based stage at which to fail' }),
  }),
});

builder.mutationField('startTestOperation', (t) =>
  t.field({
    type: Operation,
    description: 'Test-only: an operation that walks N stages; needs STRATUS_ENABLE_TEST_JOBS=1',
    authScopes: { policy: 'operation:start_test' },
    args: { input: t.arg({ type: StartTestOperationInput, required: true }) },
    errors: {
      types: [InvalidInputError, FeatureDisabledError, ForbiddenError],
      dataField: { name: 'operation' },
    },
    resolve: (_root, { input }, ctx) => startTestOperation(ctx, input),
  }),
);
