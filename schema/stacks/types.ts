import { resolveNodes } from '@pothos/plugin-relay';
import { resourceAttributes } from '../../resolvers/stacks/api/attributes';
import { listStackOutputs, type StackOutputEntry } from '../../resolvers/stacks/api/outputs';
import { displayParameters } from '../../resolvers/stacks/api/parameters';
import {
  listStackEvents,
  listStackResources,
  type StackEventRow,
  type StackResourceRow,
} from '../../resolvers/stacks/api/resources';
import {
  loadStacks,
  nestedStacksOf,
  type StackRow,
  stackTreeIds,
} from '../../resolvers/stacks/api/stacks';
import type { ValidatedParameter, ValidatedTemplate } from '../../resolvers/stacks/api/validate';
import type { StackPlan, StackPlanResource } from '../../resolvers/stacks/engine/types';
import { TemplateError } from '../../resolvers/stacks/template/index';
import { builder } from '../builder';
import { ErrorInterface } from '../errors';
import { Project, User } from '../identity/types';
import { listConnection } from '../pagination';

/** Stack types of the schema: Stack, StackResource, StackEvent, outputs, plans, template errors. */

const ACTIONS = ['INIT', 'CREATE', 'UPDATE', 'DELETE', 'ROLLBACK', 'SUSPEND', 'RESUME', 'CHECK'];
const STATUSES = ['IN_PROGRESS', 'COMPLETE', 'FAILED'];

export const StackStatus = builder.enumType('StackStatus', {
  description: "Heat's stack and resource states, `<ACTION>_<STATUS>`",
  values: ACTIONS.flatMap((a) => STATUSES.map((s) => `${a}_${s}`)),
});
export const StackAction = builder.enumType('StackAction', {
  description: "Heat's actions: what the stack (or resource) last did or is doing",
  values: ACTIONS,
});

const state = (row: { action: string; status: string }) => `${row.action}_${row.status}`;

/** A parameter's value (given, unknown, failing its constraint) is the input's; the rest the template's. */
function templateErrorField(e: TemplateError): string {
  if (e.path.startsWith('environment')) return 'input.environment';
  if (/^parameters\.[^.[\]]+$/.test(e.path) && (e.kind === 'PARAMETER' || e.kind === 'CONSTRAINT'))
    return 'input.parameters';
  return 'input.template';
}

builder.objectType(TemplateError, {
  interfaces: [ErrorInterface],
  name: 'TemplateError',
  description:
    'The template (or its environment, files or parameters) is invalid; nothing was created',
  fields: (t) => ({
    kind: t.exposeString('kind', {
      description: 'SYNTAX, VERSION, SECTION, RESOURCE, PARAMETER, CONSTRAINT, FUNCTION, ...',
    }),
    path: t.exposeString('path', {
      description: 'Where in the template, e.g. resources.server.properties.flavor',
    }),
    field: t.string({
      description:
        'The input field it concerns: input.template, input.environment or input.parameters',
      resolve: (e) => templateErrorField(e),
    }),
    line: t.int({ nullable: true, description: '1-based', resolve: (e) => e.line }),
    column: t.int({ nullable: true, description: '1-based', resolve: (e) => e.column }),
    detail: t.exposeString('detail', { description: 'What is wrong, without the place' }),
  }),
});

export const Stack = builder.loadableNodeRef<StackRow, string>('Stack', {
  id: { resolve: (s) => s.id },
  load: async (ids, ctx) => (await loadStacks(ctx, ids)) as unknown as Array<StackRow | Error>,
});

const StackOutput = builder.objectRef<StackOutputEntry>('StackOutput').implement({
  description: "One of the stack's outputs, evaluated now",
  fields: (t) => ({
    key: t.exposeString('key'),
    description: t.exposeString('description', { nullable: true }),
    value: t.field({ type: 'JSON', nullable: true, resolve: (o) => o.value }),
    error: t.exposeString('error', {
      nullable: true,
      description: 'Why the value could not be computed (e.g. its resource failed)',
    }),
  }),
});

/** Node types a physical resource may be (StackResource.physicalType). */
const NODE_TYPES = new Set([
  'Server',
  'Flavor',
  'Keypair',
  'ServerGroup',
  'Image',
  'Network',
  'Subnet',
  'Port',
  'Router',
  'FloatingIp',
  'SecurityGroup',
  'SecurityGroupRule',
  'Volume',
  'Container',
  'Project',
  'User',
  'Group',
  'Role',
  'Alarm',
  'Stack',
]);

export const StackResource = builder.objectRef<StackResourceRow>('StackResource').implement({
  description: 'A resource of a stack: its template name, type, state and physical resource',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Its name in the template' }),
    type: t.exposeString('type', { description: 'e.g. OS::Nova::Server' }),
    status: t.field({ type: StackStatus, resolve: (r) => state(r) }),
    action: t.field({ type: StackAction, resolve: (r) => r.action }),
    statusReason: t.exposeString('statusReason'),
    physicalResourceId: t.exposeString('physicalId', {
      nullable: true,
      description: "The physical resource's raw id (Heat's physical_resource_id)",
    }),
    physicalResourceType: t.exposeString('physicalType', {
      nullable: true,
      description: 'The node type of the physical resource (Server, Network, ...)',
    }),
    physicalResource: t.field({
      type: builder.nodeInterfaceRef(),
      nullable: true,
      description:
        'The real resource, as its node (`... on Server { status }`); null when gone or not visible',
      resolve: async (r, _args, ctx, info) => {
        if (!r.physicalId || !r.physicalType || !NODE_TYPES.has(r.physicalType)) return null;
        const [node] = await resolveNodes(builder, ctx, info, [
          { typename: r.physicalType, id: r.physicalId },
        ]);
        return (node ?? null) as never;
      },
    }),
    attributes: t.field({
      type: 'JSON',
      nullable: true,
      description:
        "Attribute values now, as get_attr reads them (default: all the type declares; 'show': the whole resource)",
      args: { names: t.arg.stringList() },
      resolve: async (r, args, ctx) => {
        const [stack] = await loadStacks(ctx, [r.stackId]);
        return stack ? resourceAttributes(ctx, stack, r, args.names ?? null) : null;
      },
    }),
    requires: t.exposeStringList('requires', {
      description: 'Names of the resources it depends on',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

export const StackEvent = builder.objectRef<StackEventRow>('StackEvent').implement({
  description: "A state change of a stack's resource (or of the stack itself)",
  fields: (t) => ({
    id: t.id({
      description: 'Increasing; pass it as `after` to resume the stackEvents subscription',
      resolve: (e) => String(e.id),
    }),
    stack: t.field({ type: Stack, nullable: true, resolve: (e) => e.stackId }),
    resourceName: t.exposeString('resourceName', {
      description: "The resource's template name, or the stack's name for the stack itself",
    }),
    resourceType: t.exposeString('resourceType'),
    physicalResourceId: t.exposeString('physicalId', { nullable: true }),
    status: t.field({ type: StackStatus, resolve: (e) => state(e) }),
    action: t.field({ type: StackAction, resolve: (e) => e.action }),
    statusReason: t.exposeString('statusReason'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

Stack.implement({
  description: 'A Heat stack: the resources a HOT template describes, run as one unit',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    status: t.field({ type: StackStatus, resolve: (s) => state(s) }),
    action: t.field({ type: StackAction, resolve: (s) => s.action }),
    statusReason: t.exposeString('statusReason'),
    project: t.field({ type: Project, nullable: true, resolve: (s) => s.projectId }),
    owner: t.field({
      type: User,
      nullable: true,
      description: 'The user the stack acts as (null when you may not see them)',
      resolve: (s) => s.ownerUserId,
    }),
    parameters: t.field({
      type: 'JSON',
      description: 'Parameter values in force; hidden ones show as "******"',
      resolve: (s) =>
        displayParameters(s.definition, {
          stackId: s.id,
          stackName: s.name,
          projectId: s.projectId,
        }),
    }),
    template: t.string({
      description: 'The HOT template in force',
      resolve: (s) => s.definition.template,
    }),
    environment: t.field({
      type: 'JSON',
      nullable: true,
      description: 'The environment it was given (text or map)',
      resolve: (s) => s.definition.environment ?? null,
    }),
    outputs: t.field({
      type: [StackOutput],
      description: "The template's outputs, evaluated now against the resources",
      resolve: (s, _args, ctx) => listStackOutputs(ctx, s),
    }),
    resources: t.connection({
      type: StackResource,
      description: 'Its resources, by name',
      args: { name: t.arg.string({ description: 'Only the resource of this name' }) },
      resolve: (s, args, ctx) =>
        listConnection(args, (page) => listStackResources(ctx, s, { name: args.name }, page)),
    }),
    events: t.connection({
      type: StackEvent,
      description: 'Its events, oldest first (newest last)',
      args: {
        resourceName: t.arg.string(),
        nested: t.arg.boolean({
          description: "Its nested stacks' events too (Heat's nested_depth)",
        }),
      },
      resolve: async (s, args, ctx) => {
        const stackIds = args.nested ? await stackTreeIds(ctx, s.id) : undefined;
        return listConnection(args, (page) =>
          listStackEvents(ctx, s, { resourceName: args.resourceName, stackIds }, page),
        );
      },
    }),
    parent: t.field({
      type: Stack,
      nullable: true,
      description: 'The stack whose resource this nested stack implements',
      resolve: (s) => s.parentStackId,
    }),
    parentResourceName: t.exposeString('parentResourceName', { nullable: true }),
    nestedStacks: t.loadableList({
      type: Stack,
      description: 'Stacks nested in this one (template resources, OS::Heat::Stack, groups)',
      load: (ids: string[], ctx) => nestedStacksOf(ctx, ids),
      resolve: (s) => s.id,
    }),
    disableRollback: t.exposeBoolean('disableRollback'),
    timeoutMinutes: t.exposeInt('timeoutMinutes', { nullable: true }),
    tags: t.exposeStringList('tags'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const PlanAction = builder.enumType('StackPlanAction', {
  description: 'What a create or update would do to a resource',
  values: ['CREATE', 'UPDATE', 'REPLACE', 'DELETE', 'UNCHANGED'] as const,
});

const StackPlanResourceType = builder.objectRef<StackPlanResource>('StackPlanResource').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    type: t.exposeString('type'),
    action: t.field({ type: PlanAction, resolve: (r) => r.action }),
    changedProperties: t.exposeStringList('changedProperties'),
    reason: t.exposeString('reason', { nullable: true }),
  }),
});
type PlanQuota = StackPlan['quota'][number];
const StackPlanQuota = builder.objectRef<PlanQuota>('StackPlanQuota').implement({
  description: 'Quota a project would consume',
  fields: (t) => ({
    project: t.field({ type: Project, nullable: true, resolve: (q) => q.projectId }),
    resource: t.exposeString('resource', { description: 'instances, cores, ram, volumes, ...' }),
    amount: t.exposeInt('amount'),
  }),
});
type PlanError = StackPlan['errors'][number];
const StackPlanError = builder.objectRef<PlanError>('StackPlanError').implement({
  fields: (t) => ({
    path: t.exposeString('path', { description: 'e.g. resources.server.properties.flavor' }),
    message: t.exposeString('message'),
  }),
});
export const StackPlanType = builder.objectRef<StackPlan>('StackPlan').implement({
  description: 'What a create or update would do, computed without writing anything',
  fields: (t) => ({
    resources: t.field({ type: [StackPlanResourceType], resolve: (p) => p.resources }),
    quota: t.field({ type: [StackPlanQuota], resolve: (p) => p.quota }),
    errors: t.field({ type: [StackPlanError], resolve: (p) => p.errors }),
  }),
});

const ParameterConstraint = builder
  .objectRef<ValidatedParameter['constraints'][number]>('TemplateParameterConstraint')
  .implement({
    fields: (t) => ({
      kind: t.exposeString('kind', { description: 'range, length, allowed_values, ...' }),
      description: t.exposeString('description', { nullable: true }),
      spec: t.field({ type: 'JSON', resolve: (c) => c.spec }),
    }),
  });
const TemplateParameter = builder.objectRef<ValidatedParameter>('TemplateParameter').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    type: t.exposeString('type'),
    label: t.exposeString('label', { nullable: true }),
    description: t.exposeString('description', { nullable: true }),
    default: t.field({ type: 'JSON', nullable: true, resolve: (p) => p.default }),
    hasDefault: t.exposeBoolean('hasDefault'),
    hidden: t.exposeBoolean('hidden'),
    immutable: t.exposeBoolean('immutable'),
    tags: t.exposeStringList('tags'),
    constraints: t.field({ type: [ParameterConstraint], resolve: (p) => p.constraints }),
  }),
});
const TemplateParameterGroup = builder
  .objectRef<ValidatedTemplate['parameterGroups'][number]>('TemplateParameterGroup')
  .implement({
    fields: (t) => ({
      label: t.exposeString('label', { nullable: true }),
      description: t.exposeString('description', { nullable: true }),
      parameters: t.exposeStringList('parameters'),
    }),
  });
export const ValidatedTemplateType = builder
  .objectRef<ValidatedTemplate>('ValidatedTemplate')
  .implement({
    description: "A valid template's description, parameters and groups",
    fields: (t) => ({
      description: t.exposeString('description'),
      parameters: t.field({ type: [TemplateParameter], resolve: (v) => v.parameters }),
      parameterGroups: t.field({
        type: [TemplateParameterGroup],
        resolve: (v) => v.parameterGroups,
      }),
      resourceCount: t.exposeInt('resourceCount'),
    }),
  });
