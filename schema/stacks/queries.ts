import { InvalidInputError } from '../../resolvers/errors';
import { listStacks, loadStacks, stackByName } from '../../resolvers/stacks/api/stacks';
import { listResourceTypes, validateTemplate } from '../../resolvers/stacks/api/validate';
import { TemplateError } from '../../resolvers/stacks/template/index';
import { builder } from '../builder';
import { Project } from '../identity/types';
import { listConnection } from '../pagination';
import { Stack, StackStatus, ValidatedTemplateType } from './types';

/** Stack queries: stacks, stack, stackByName, resourceTypes, validateTemplate. */

const StackFilter = builder.inputType('StackFilter', {
  fields: (t) => ({
    name: t.string({ description: 'Substring of the name, any case' }),
    status: t.field({ type: StackStatus }),
    showNested: t.boolean({ description: 'Nested stacks too (default: top-level only)' }),
    allProjects: t.boolean({ description: "Admins: every project's stacks" }),
    projectId: t.globalID({ for: Project, description: "Admins: this project's stacks" }),
  }),
});

const ValidateTemplateInput = builder.inputType('ValidateTemplateInput', {
  fields: (t) => ({
    template: t.string({ required: true, description: 'HOT template text (YAML or JSON)' }),
    files: t.field({
      type: 'JSON',
      description: 'File name -> text, for get_file and template resources',
    }),
    environment: t.field({ type: 'JSON', description: 'Environment: YAML/JSON text or a map' }),
    parameters: t.field({
      type: 'JSON',
      description: 'Values to check against their constraints (missing ones are no error here)',
    }),
  }),
});

builder.queryFields((t) => ({
  stack: t.field({
    type: Stack,
    nullable: true,
    description: 'One stack, if you may see it',
    authScopes: { policy: 'stack:list' },
    args: { id: t.arg.globalID({ for: Stack, required: true }) },
    resolve: async (_root, args, ctx) => (await loadStacks(ctx, [args.id.id]))[0],
  }),
  stackByName: t.field({
    type: Stack,
    nullable: true,
    description: 'The stack of this name in your project (admins: in projectId)',
    authScopes: { policy: 'stack:list' },
    args: {
      name: t.arg.string({ required: true }),
      projectId: t.arg.globalID({ for: Project }),
    },
    resolve: (_root, args, ctx) => stackByName(ctx, args.name, args.projectId?.id),
  }),
  stacks: t.connection({
    type: Stack,
    description: 'Stacks of your project (admins: any project), newest first',
    authScopes: { policy: 'stack:list' },
    nullable: true,
    args: { filter: t.arg({ type: StackFilter }) },
    resolve: (_root, args, ctx) => {
      const f = args.filter ?? {};
      return listConnection(args, (page) =>
        listStacks(ctx, { ...f, projectId: f.projectId?.id }, page),
      );
    },
  }),
  resourceTypes: t.stringList({
    nullable: true,
    description: 'The HOT resource types this Stratus runs, sorted',
    authScopes: { policy: 'stack:list_resource_types' },
    resolve: (_root, _args, ctx) => listResourceTypes(ctx),
  }),
  validateTemplate: t.field({
    type: ValidatedTemplateType,
    nullable: true,
    description:
      "Checks a template as createStack would, writing nothing (Heat's template-validate)",
    authScopes: { policy: 'stack:validate_template' },
    args: { input: t.arg({ type: ValidateTemplateInput, required: true }) },
    errors: { types: [TemplateError, InvalidInputError], dataField: { name: 'template' } },
    resolve: (_root, { input }, ctx) => validateTemplate(ctx, input),
  }),
}));
