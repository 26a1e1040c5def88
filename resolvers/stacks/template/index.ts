/** The HOT template layer: pure parsing, validation and evaluation for the stacks engine. */
export type { Constraint, CustomConstraint, ParameterType } from './constraints';
export type { DependencyGraph } from './dependencies';
export type { Environment, EnvironmentInput } from './environment';
export { formatPath, type Path, TemplateError, type TemplateErrorKind } from './errors';
export type { ResolveHooks } from './functions/types';
export type { ParameterSchema } from './parameters';
export type { DeletionPolicy, ParameterGroup } from './sections';
export {
  type OutputValue,
  type ParseTemplateOptions,
  parseTemplate,
  type ResourceTypeSchema,
  type StackContext,
  type Template,
  type TemplateOutput,
  type TemplateResource,
} from './template';
export { findVersion, type TemplateVersion, VERSION_NAMES } from './versions';
