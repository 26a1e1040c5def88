import { checkList, deepEqual, fnError, isCall, needList } from './args';
import type { FunctionDef } from './types';
import { OMIT } from './types';

export const equals: FunctionDef = {
  check(args, c, path) {
    checkList(args, path, 'equals', 2, 2, '[value_1, value_2]');
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const [a, b] = needList(e.resolve(args, path), path, 'equals', 'the argument');
    return deepEqual(a, b);
  },
};

function junction(fn: 'and' | 'or'): FunctionDef {
  return {
    check(args, c, path) {
      if (
        checkList(args, path, fn, 2, Number.POSITIVE_INFINITY, `[condition_1, condition_2, ...]`)
      ) {
        args.forEach((a, i) => {
          c.checkCondition(a, [...path, i]);
        });
      } else {
        c.check(args, path);
      }
    },
    evaluate(args, e, path) {
      const list = needList(args, path, fn, 'the argument');
      // Heat evaluates every operand; so do we, so an invalid one is never hidden.
      const values = list.map((a, i) => e.condition(a, [...path, i]));
      return fn === 'and' ? values.every(Boolean) : values.some(Boolean);
    },
  };
}

export const and = junction('and');
export const or = junction('or');

export const not: FunctionDef = {
  check(args, c, path) {
    if (Array.isArray(args)) {
      if (args.length !== 1)
        throw fnError(path, 'not', 'arguments must be of the form [condition] or condition');
      c.checkCondition(args[0], [...path, 0]);
      return;
    }
    c.checkCondition(args, path);
  },
  evaluate(args, e, path) {
    return Array.isArray(args) ? !e.condition(args[0], [...path, 0]) : !e.condition(args, path);
  },
};

/** `if: [condition, value_if_true, value_if_false]`; only the chosen value is evaluated. */
export const ifFn: FunctionDef = {
  check(args, c, path) {
    const min = c.version.features.ifNullable ? 2 : 3;
    const form =
      min === 2
        ? '[condition, value_if_true, (value_if_false)]'
        : '[condition, value_if_true, value_if_false]';
    if (!checkList(args, path, 'if', min, 3, form)) {
      if (isCall(args)) throw fnError(path, 'if', `arguments must be of the form ${form}`);
      return;
    }
    c.checkCondition(args[0], [...path, 0]);
    const chosen = c.conditionValue(args[0], [...path, 0]);
    const deps = c.deps;
    for (const [branch, when] of [
      [1, true],
      [2, false],
    ] as const) {
      if (branch >= args.length) continue;
      // A branch the condition rules out adds no dependency and may name excluded resources.
      c.deps = chosen === null || chosen === when ? deps : null;
      try {
        c.check(args[branch], [...path, branch]);
      } finally {
        c.deps = deps;
      }
    }
  },
  evaluate(args, e, path) {
    const list = needList(args, path, 'if', 'the argument');
    if (e.condition(list[0], [...path, 0])) return e.resolve(list[1], [...path, 1]);
    return list.length > 2 ? e.resolve(list[2], [...path, 2]) : OMIT;
  },
};
