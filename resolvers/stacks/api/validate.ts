import { authorize } from '../../authorize';
import type { ServiceContext } from '../../runtime';
import { resourceTypeNames, resourceTypeSchema } from '../resources/registry';
import { type ParameterGroup, type ParameterSchema, parseTemplate } from '../template/index';
import { validateRequest } from './requests';

/** Heat's template-validate and resource-type list. */

export interface ValidatedParameter {
  name: string;
  type: string;
  label: string | null;
  description: string | null;
  /** The default, or null; a hidden parameter's is masked. */
  default: unknown;
  hasDefault: boolean;
  hidden: boolean;
  immutable: boolean;
  tags: string[];
  constraints: Array<{ kind: string; description: string | null; spec: unknown }>;
}

export interface ValidatedTemplate {
  description: string;
  parameters: ValidatedParameter[];
  parameterGroups: ParameterGroup[];
  resourceCount: number;
}

function describeParameter(p: ParameterSchema): ValidatedParameter {
  return {
    name: p.name,
    type: p.type,
    label: p.label,
    description: p.description,
    default: p.hidden && p.hasDefault ? '******' : p.hasDefault ? p.default : null,
    hasDefault: p.hasDefault,
    hidden: p.hidden,
    immutable: p.immutable,
    tags: p.tags,
    constraints: p.constraints.map((c) => {
      const { kind, description, ...rest } = c;
      const spec = 'regex' in rest ? { pattern: rest.pattern } : rest;
      return { kind, description, spec };
    }),
  };
}

/**
 * Parses and validates a template as createStack would (sections, functions, references,
 * resource types and their properties, given parameter values), without values being
 * required; writes nothing. Problems are TemplateError (path, line, column).
 */
export async function validateTemplate(
  ctx: ServiceContext,
  input: Record<string, unknown>,
): Promise<ValidatedTemplate> {
  authorize(ctx, 'stack:validate_template');
  const request = validateRequest(input);
  const template = await parseTemplate(request.template, {
    files: request.files,
    environment: request.environment,
    params: request.parameters,
    resourceTypes: resourceTypeSchema,
    requireValues: false,
  });
  return {
    description: template.description,
    parameters: [...template.parameters.values()].map(describeParameter),
    parameterGroups: template.parameterGroups,
    resourceCount: Object.keys(template.resources).length,
  };
}

export function listResourceTypes(ctx: ServiceContext): string[] {
  authorize(ctx, 'stack:list_resource_types');
  return resourceTypeNames();
}
