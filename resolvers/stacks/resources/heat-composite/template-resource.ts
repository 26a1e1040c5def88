import { InvalidInputError } from '../../../errors';
import type { PropertySpec, ResourcePlugin } from '../plugin';
import { resourceDotAttribute } from './members';
import {
  applyNested,
  deleteNested,
  nestedDeleteProgress,
  nestedOutputs,
  nestedProgress,
} from './nested';

/**
 * Registry key of the template-resource plugin: the same string as registry.ts's
 * TEMPLATE_RESOURCE_TYPE (not imported, as the registry imports this folder; a test checks).
 */
export const TEMPLATE_RESOURCE_KEY = 'Stratus::TemplateResource';

/**
 * A template resource's properties are its template's parameters (the template layer checks
 * their names), each updatable in place as in Heat's TemplateResource schema: any name the
 * engine looks up is an updateAllowed property; there are no fixed ones to default or coerce.
 */
const PARAMETER_PROPERTIES: Readonly<Record<string, PropertySpec>> = new Proxy(
  {},
  {
    get: (_target, key) =>
      typeof key === 'string' ? { type: 'any', updateAllowed: true } : undefined,
  },
);

/**
 * A template resource (its type is a template file): a nested stack of that file, its
 * properties the child's parameters, its attributes the child's outputs.
 */
export const templateResource: ResourcePlugin = {
  type: TEMPLATE_RESOURCE_KEY,
  properties: PARAMETER_PROPERTIES,
  attributes: [],
  physicalType: 'Stack',
  dynamicAttributes: true,
  async validate(ctx) {
    templateText(ctx);
  },
  async create(ctx, props) {
    const id = await applyNested(ctx, templateText(ctx), props);
    return { physicalId: id };
  },
  checkCreateComplete: nestedProgress,
  async update(ctx, _state, props) {
    await applyNested(ctx, templateText(ctx), props);
    return { kind: 'updated' };
  },
  checkUpdateComplete: nestedProgress,
  delete: deleteNested,
  checkDeleteComplete: nestedDeleteProgress,
  async attribute(ctx, state, name) {
    if (!state.physicalId) return null;
    if (name === 'OS::stack_id') return state.physicalId;
    if (name.startsWith('resource.')) return resourceDotAttribute(ctx, state.physicalId, name);
    const outputs = await nestedOutputs(ctx, state);
    if (name === 'show') return { id: state.physicalId, outputs };
    return outputs[name] ?? null;
  },
};

function templateText(ctx: Parameters<NonNullable<ResourcePlugin['validate']>>[0]): string {
  const file = ctx.templateFile;
  const text = file ? ctx.files?.[file] : undefined;
  if (!file || text === undefined)
    throw new InvalidInputError(
      ctx.path.replace(/\.properties$/, '.type'),
      `${ctx.path.replace(/\.properties$/, '.type')}: the template file ${file ? `'${file}' ` : ''}is not in the stack's files`,
    );
  return text;
}
