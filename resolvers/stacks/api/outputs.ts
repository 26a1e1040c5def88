import type { ServiceContext } from '../../runtime';
import { stackOutputs } from '../engine/index';
import type { StackRow } from '../engine/types';
import { isPlainObject, parseSource } from '../template/parse';

/** A stack output as the API shows it: Heat's output_key, description, value or error. */
export interface StackOutputEntry {
  key: string;
  description: string | null;
  value: unknown;
  error: string | null;
}

/** The descriptions the template gives its outputs (output name -> description). */
function outputDescriptions(template: string): Map<string, string | null> {
  const out = new Map<string, string | null>();
  try {
    const root = parseSource(template).value;
    if (!isPlainObject(root) || !isPlainObject(root.outputs)) return out;
    for (const [name, def] of Object.entries(root.outputs)) {
      out.set(
        name,
        isPlainObject(def) && typeof def.description === 'string' ? def.description : null,
      );
    }
  } catch {
    // The template parsed when the stack was made; descriptions are only a nicety.
  }
  return out;
}

/** The stack's outputs, evaluated now by the engine, in the template's order. */
export async function listStackOutputs(
  ctx: ServiceContext,
  stack: StackRow,
): Promise<StackOutputEntry[]> {
  const values = await stackOutputs(ctx, stack);
  const descriptions = outputDescriptions(stack.definition.template);
  const keys = [
    ...[...descriptions.keys()].filter((k) => k in values),
    ...Object.keys(values).filter((k) => !descriptions.has(k)),
  ];
  return keys.map((key) => {
    const v = values[key];
    return {
      key,
      description: descriptions.get(key) ?? null,
      value: 'value' in v ? v.value : null,
      error: 'error' in v ? v.error : null,
    };
  });
}
