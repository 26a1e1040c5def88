import { type Path, TemplateError } from './errors';
import type { Evaluator } from './functions/types';

/**
 * The `conditions` section: each named condition evaluated once, on demand, so a condition may
 * name another; a loop between them is an error naming the loop.
 */
export class ConditionTable {
  private readonly values = new Map<string, boolean>();
  private readonly evaluating: string[] = [];

  constructor(readonly definitions: Readonly<Record<string, unknown>>) {}

  has(name: string): boolean {
    return Object.hasOwn(this.definitions, name);
  }

  names(): string[] {
    return Object.keys(this.definitions);
  }

  value(name: string, e: Evaluator, path: Path): boolean {
    const known = this.values.get(name);
    if (known !== undefined) return known;
    if (!this.has(name))
      throw new TemplateError('REFERENCE', path, `the condition '${name}' is not defined`);
    const at = this.evaluating.indexOf(name);
    if (at >= 0) {
      const loop = [...this.evaluating.slice(at), name].join(' -> ');
      throw new TemplateError(
        'CYCLE',
        ['conditions', name],
        `circular reference between conditions: ${loop}`,
      );
    }
    this.evaluating.push(name);
    try {
      const result = e.condition(this.definitions[name], ['conditions', name]);
      this.values.set(name, result);
      return result;
    } finally {
      this.evaluating.pop();
    }
  }

  /** Every condition's value (evaluates all of them). */
  all(e: Evaluator): Record<string, boolean> {
    return Object.fromEntries(this.names().map((n) => [n, this.value(n, e, ['conditions', n])]));
  }
}
