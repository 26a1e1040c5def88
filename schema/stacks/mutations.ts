import {
  ConflictError,
  FeatureDisabledError,
  ForbiddenError,
  InvalidInputError,
  NameTakenError,
  NotFoundError,
  QuotaExceededError,
} from '../../resolvers/errors';
import {
  createStack,
  deleteStack,
  previewStack,
  previewStackUpdate,
  signalStackResource,
  updateStack,
} from '../../resolvers/stacks/api/actions';
import { TemplateError } from '../../resolvers/stacks/template/index';
import { builder } from '../builder';
import { Stack, StackPlanType } from './types';

/** Stack mutations: create, update, delete, preview (create and update), signal. */

const STACK_ERRORS = [
  TemplateError,
  InvalidInputError,
  NotFoundError,
  NameTakenError,
  ConflictError,
  QuotaExceededError,
  FeatureDisabledError,
  ForbiddenError,
];

const CreateStackInput = builder.inputType('CreateStackInput', {
  fields: (t) => ({
    name: t.string({
      required: true,
      description: 'Unique in the project; a letter first, then letters, digits, _ - .',
    }),
    template: t.string({ required: true, description: 'HOT template text (YAML or JSON)' }),
    files: t.field({
      type: 'JSON',
      description: 'File name -> text, for get_file and template resources',
    }),
    environment: t.field({
      type: 'JSON',
      description: 'parameters, parameter_defaults, resource_registry: YAML/JSON text or a map',
    }),
    parameters: t.field({ type: 'JSON', description: 'Parameter name -> value' }),
    disableRollback: t.boolean({ description: 'Keep what was made when the create fails' }),
    timeoutMinutes: t.int(),
    tags: t.stringList(),
  }),
});
const PreviewStackInput = builder.inputType('PreviewStackInput', {
  description: 'Like CreateStackInput',
  fields: (t) => ({
    name: t.string({ required: true }),
    template: t.string({ required: true }),
    files: t.field({ type: 'JSON' }),
    environment: t.field({ type: 'JSON' }),
    parameters: t.field({ type: 'JSON' }),
    disableRollback: t.boolean(),
    timeoutMinutes: t.int(),
    tags: t.stringList(),
  }),
});
const updateFieldsDoc = 'Absent fields keep what the stack has';
const UpdateStackInput = builder.inputType('UpdateStackInput', {
  description: updateFieldsDoc,
  fields: (t) => ({
    id: t.globalID({ for: Stack, required: true }),
    template: t.string({ description: 'Absent: keep the current template' }),
    files: t.field({ type: 'JSON' }),
    environment: t.field({ type: 'JSON' }),
    parameters: t.field({ type: 'JSON' }),
    existingParameters: t.boolean({
      description: "Keep the current values of parameters not given (Heat's PATCH update)",
    }),
    disableRollback: t.boolean(),
    timeoutMinutes: t.int(),
    tags: t.stringList(),
  }),
});
const PreviewStackUpdateInput = builder.inputType('PreviewStackUpdateInput', {
  description: `Like UpdateStackInput. ${updateFieldsDoc}`,
  fields: (t) => ({
    id: t.globalID({ for: Stack, required: true }),
    template: t.string(),
    files: t.field({ type: 'JSON' }),
    environment: t.field({ type: 'JSON' }),
    parameters: t.field({ type: 'JSON' }),
    existingParameters: t.boolean(),
    disableRollback: t.boolean(),
    timeoutMinutes: t.int(),
    tags: t.stringList(),
  }),
});
const DeleteStackInput = builder.inputType('DeleteStackInput', {
  fields: (t) => ({ id: t.globalID({ for: Stack, required: true }) }),
});
const SignalStackResourceInput = builder.inputType('SignalStackResourceInput', {
  fields: (t) => ({
    stackId: t.globalID({ for: Stack, required: true }),
    resourceName: t.string({ required: true, description: "The resource's name in the template" }),
    data: t.field({
      type: 'JSON',
      description: 'The signal: e.g. {status: SUCCESS, reason, data, id} for a wait condition',
    }),
  }),
});

builder.mutationFields((t) => ({
  createStack: t.field({
    type: Stack,
    description: 'Validates the template and starts creating; returns the stack CREATE_IN_PROGRESS',
    authScopes: { policy: 'stack:create' },
    args: { input: t.arg({ type: CreateStackInput, required: true }) },
    errors: { types: STACK_ERRORS, dataField: { name: 'stack' } },
    resolve: (_root, { input }, ctx) => createStack(ctx, input),
  }),
  updateStack: t.field({
    type: Stack,
    description: 'Starts updating the stack to the new template/parameters (UPDATE_IN_PROGRESS)',
    authScopes: { policy: 'stack:update' },
    args: { input: t.arg({ type: UpdateStackInput, required: true }) },
    errors: { types: STACK_ERRORS, dataField: { name: 'stack' } },
    resolve: (_root, { input }, ctx) => updateStack(ctx, input.id.id, input),
  }),
  deleteStack: t.field({
    type: Stack,
    description: 'Starts deleting the stack and its resources (DELETE_IN_PROGRESS)',
    authScopes: { policy: 'stack:delete' },
    args: { input: t.arg({ type: DeleteStackInput, required: true }) },
    errors: { types: STACK_ERRORS, dataField: { name: 'stack' } },
    resolve: (_root, { input }, ctx) => deleteStack(ctx, input.id.id),
  }),
  previewStack: t.field({
    type: StackPlanType,
    description: 'What createStack would do (resources, quota, validation errors), writing nothing',
    authScopes: { policy: 'stack:preview' },
    args: { input: t.arg({ type: PreviewStackInput, required: true }) },
    errors: { types: STACK_ERRORS, dataField: { name: 'plan' } },
    resolve: (_root, { input }, ctx) => previewStack(ctx, input),
  }),
  previewStackUpdate: t.field({
    type: StackPlanType,
    description: 'What updateStack would do to each resource, writing nothing',
    authScopes: { policy: 'stack:preview' },
    args: { input: t.arg({ type: PreviewStackUpdateInput, required: true }) },
    errors: { types: STACK_ERRORS, dataField: { name: 'plan' } },
    resolve: (_root, { input }, ctx) => previewStackUpdate(ctx, input.id.id, input),
  }),
  signalStackResource: t.field({
    type: Stack,
    description: 'Signals a resource (wait condition handle, scaling policy) with data',
    authScopes: { policy: 'stack:signal' },
    args: { input: t.arg({ type: SignalStackResourceInput, required: true }) },
    errors: { types: STACK_ERRORS, dataField: { name: 'stack' } },
    resolve: (_root, { input }, ctx) =>
      signalStackResource(ctx, {
        stackId: input.stackId.id,
        resourceName: input.resourceName,
        data: input.data,
      }),
  }),
}));
