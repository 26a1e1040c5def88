import type { StackDefinition } from '../../../db/stacks';
import { isPlainObject, parseSource } from '../template/parse';

/** What `Stack.parameters` shows: Heat's stack-show parameters, hidden ones masked. */

export const HIDDEN_VALUE = '******';

/**
 * The stack's parameter values: the template's defaults, then the environment's
 * parameter_defaults and parameters, then the request's values; a parameter the template
 * declares `hidden: true` shows as "******" (Heat's masking).
 */
export function displayParameters(
  definition: StackDefinition,
  context: { stackId: string; stackName: string; projectId: string },
): Record<string, unknown> {
  let declared: Record<string, unknown> = {};
  try {
    const root = parseSource(definition.template).value;
    if (isPlainObject(root) && isPlainObject(root.parameters)) declared = root.parameters;
  } catch {
    // A stored template parsed when the stack was made; if it no longer does, show raw values.
  }
  const env = environmentMap(definition.environment);
  const envDefaults = isPlainObject(env.parameter_defaults) ? env.parameter_defaults : {};
  const envParams = isPlainObject(env.parameters) ? env.parameters : {};
  const out: Record<string, unknown> = {
    'OS::stack_id': context.stackId,
    'OS::stack_name': context.stackName,
    'OS::project_id': context.projectId,
  };
  for (const [name, schema] of Object.entries(declared)) {
    const hidden = isPlainObject(schema) && schema.hidden === true;
    const value =
      definition.parameters[name] ??
      envParams[name] ??
      envDefaults[name] ??
      (isPlainObject(schema) ? schema.default : undefined) ??
      null;
    out[name] = hidden ? HIDDEN_VALUE : value;
  }
  return out;
}

/** The stored environment (an object, or the YAML/JSON text it was given as) as a map. */
function environmentMap(environment: unknown): Record<string, unknown> {
  if (isPlainObject(environment)) return environment;
  if (typeof environment !== 'string' || environment.trim() === '') return {};
  try {
    const value = parseSource(environment, 'environment').value;
    return isPlainObject(value) ? value : {};
  } catch {
    return {};
  }
}
