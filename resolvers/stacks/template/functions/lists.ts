import { isPlainObject } from '../parse';
import {
  checkList,
  checkMap,
  deepEqual,
  fnError,
  isCall,
  needList,
  needMap,
  toIndex,
  toText,
} from './args';
import type { FunctionDef } from './types';

function concat(fn: string, unique: boolean): FunctionDef {
  return {
    check(args, c, path) {
      if (checkList(args, path, fn, 0, Number.POSITIVE_INFINITY, '[[list], [list], ...]')) {
        args.forEach((l, i) => {
          if (l !== null && !isCall(l) && !Array.isArray(l))
            throw fnError([...path, i], fn, 'each item to concatenate must be a list');
        });
      }
      c.check(args, path);
    },
    evaluate(args, e, path) {
      const lists = needList(e.resolve(args, path), path, fn, 'the argument');
      const out: unknown[] = [];
      lists.forEach((l, i) => {
        // Heat treats a null list as empty.
        if (l !== null) out.push(...needList(l, [...path, i], fn, 'each item to concatenate'));
      });
      // Heat keeps the last of equal items.
      return unique ? out.filter((x, i) => !out.slice(i + 1).some((y) => deepEqual(x, y))) : out;
    },
  };
}

export const listConcat = concat('list_concat', false);
export const listConcatUnique = concat('list_concat_unique', true);

/** Puts one combination of loop values into the template (strings, keys included). */
function substitute(template: unknown, vars: [string, string][]): unknown {
  if (typeof template === 'string') {
    let s = template;
    for (const [k, v] of vars) s = s.split(k).join(v);
    return s;
  }
  if (Array.isArray(template)) return template.map((t) => substitute(t, vars));
  if (isPlainObject(template)) {
    return Object.fromEntries(
      Object.entries(template).map(([k, v]) => [
        substitute(k, vars) as string,
        substitute(v, vars),
      ]),
    );
  }
  return template;
}

export const repeat: FunctionDef = {
  check(args, c, path) {
    const allowed = c.version.features.repeatPermutations
      ? ['for_each', 'template', 'permutations']
      : ['for_each', 'template'];
    const form = `{${allowed.join(', ')}}`;
    if (checkMap(args, path, 'repeat', form)) {
      const map = args as Record<string, unknown>;
      for (const key of Object.keys(map)) {
        if (!allowed.includes(key))
          throw fnError([...path, key], 'repeat', `unknown key '${key}'; ${form}`);
      }
      if (!('for_each' in map)) throw fnError(path, 'repeat', `'for_each' is missing; ${form}`);
      if (!('template' in map)) throw fnError(path, 'repeat', `'template' is missing; ${form}`);
      const forEach = map.for_each;
      if (!isCall(forEach)) {
        if (!isPlainObject(forEach))
          throw fnError(
            [...path, 'for_each'],
            'repeat',
            'for_each must be a map of loop variables',
          );
        for (const [k, v] of Object.entries(forEach)) {
          const ok =
            isCall(v) || Array.isArray(v) || (c.version.features.repeatMaps && isPlainObject(v));
          if (!ok)
            throw fnError(
              [...path, 'for_each', k],
              'repeat',
              `the values of '${k}' must be a list`,
            );
        }
      }
      if (
        'permutations' in map &&
        typeof map.permutations !== 'boolean' &&
        !isCall(map.permutations)
      ) {
        throw fnError([...path, 'permutations'], 'repeat', 'permutations must be a boolean');
      }
    }
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const map = needMap(e.resolve(args, path), path, 'repeat', 'the argument');
    const forEach = needMap(map.for_each, [...path, 'for_each'], 'repeat', 'for_each');
    const names = Object.keys(forEach);
    const values = names.map((k) => {
      const v = forEach[k];
      if (e.version.features.repeatMaps && isPlainObject(v)) return Object.keys(v);
      return needList(v, [...path, 'for_each', k], 'repeat', `the values of '${k}'`).map(toText);
    });
    const permutations = map.permutations === undefined ? true : map.permutations === true;
    const combos: string[][] = [];
    if (permutations) {
      const walk = (i: number, acc: string[]): void => {
        if (i === values.length) {
          combos.push(acc);
          return;
        }
        for (const v of values[i]) walk(i + 1, [...acc, v]);
      };
      if (values.length > 0) walk(0, []);
    } else {
      const n = values[0]?.length ?? 0;
      if (values.some((v) => v.length !== n)) {
        throw fnError(
          [...path, 'for_each'],
          'repeat',
          'with permutations false every loop list must have the same length',
        );
      }
      for (let i = 0; i < n; i++) combos.push(values.map((v) => v[i]));
    }
    return combos.map((combo) =>
      substitute(
        map.template,
        names.map((name, i) => [name, combo[i]]),
      ),
    );
  },
};

export const mapMerge: FunctionDef = {
  check(args, c, path) {
    if (checkList(args, path, 'map_merge', 0, Number.POSITIVE_INFINITY, '[{map}, {map}, ...]')) {
      args.forEach((m, i) => {
        if (m !== null && !isCall(m) && !isPlainObject(m))
          throw fnError([...path, i], 'map_merge', 'each item to merge must be a map');
      });
    }
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const maps = needList(e.resolve(args, path), path, 'map_merge', 'the argument');
    const out: Record<string, unknown> = {};
    maps.forEach((m, i) => {
      if (m !== null)
        Object.assign(out, needMap(m, [...path, i], 'map_merge', 'each item to merge'));
    });
    return out;
  },
};

export const mapReplace: FunctionDef = {
  check(args, c, path) {
    if (checkList(args, path, 'map_replace', 2, 2, '[{map}, {"keys": {...}, "values": {...}}]')) {
      const spec = args[1];
      if (!isCall(spec)) {
        if (!isPlainObject(spec))
          throw fnError(
            [...path, 1],
            'map_replace',
            'the replacements must be a map with keys and/or values',
          );
        for (const key of Object.keys(spec)) {
          if (key !== 'keys' && key !== 'values')
            throw fnError(
              [...path, 1, key],
              'map_replace',
              `unknown key '${key}' (keys or values)`,
            );
          if (!isCall(spec[key]) && !isPlainObject(spec[key]))
            throw fnError([...path, 1, key], 'map_replace', `${key} must be a map`);
        }
      }
      if (!isCall(args[0]) && !isPlainObject(args[0]))
        throw fnError([...path, 0], 'map_replace', 'the input must be a map');
    }
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const [input, spec] = needList(e.resolve(args, path), path, 'map_replace', 'the argument');
    const map = needMap(input, [...path, 0], 'map_replace', 'the input');
    const s = needMap(spec, [...path, 1], 'map_replace', 'the replacements');
    const keys =
      s.keys === undefined ? {} : needMap(s.keys, [...path, 1, 'keys'], 'map_replace', 'keys');
    const values =
      s.values === undefined
        ? {}
        : needMap(s.values, [...path, 1, 'values'], 'map_replace', 'values');
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(map)) {
      const replaced = Object.hasOwn(keys, k) && keys[k] !== null;
      const nk = replaced ? toText(keys[k]) : k;
      if (replaced && nk !== k && Object.hasOwn(map, nk)) {
        throw fnError(
          [...path, 1, 'keys', k],
          'map_replace',
          `the key replacement '${nk}' collides with a key in the input map`,
        );
      }
      if (Object.hasOwn(out, nk)) {
        throw fnError(
          [...path, 1, 'keys', k],
          'map_replace',
          `the key replacement '${nk}' collides with a key in the output map`,
        );
      }
      const replaceable = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
      out[nk] = replaceable && Object.hasOwn(values, String(v)) ? values[String(v)] : v;
    }
    return out;
  },
};

export const filter: FunctionDef = {
  check(args, c, path) {
    if (checkList(args, path, 'filter', 2, 2, '[[values to remove], [list]]')) {
      if (!isCall(args[0]) && !Array.isArray(args[0]))
        throw fnError([...path, 0], 'filter', 'the values to remove must be a list');
      if (!isCall(args[1]) && !Array.isArray(args[1]))
        throw fnError([...path, 1], 'filter', 'the sequence must be a list');
    }
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const [remove, list] = needList(e.resolve(args, path), path, 'filter', 'the argument');
    const drop =
      remove === null ? [] : needList(remove, [...path, 0], 'filter', 'the values to remove');
    return needList(list, [...path, 1], 'filter', 'the sequence').filter(
      (x) => !drop.some((d) => deepEqual(d, x)),
    );
  },
};

export const contains: FunctionDef = {
  check(args, c, path) {
    if (checkList(args, path, 'contains', 2, 2, '[value, [sequence]]')) {
      const seq = args[1];
      if (!isCall(seq) && !Array.isArray(seq) && typeof seq !== 'string') {
        throw fnError([...path, 1], 'contains', 'the sequence must be a list or a string');
      }
    }
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const [value, seq] = needList(e.resolve(args, path), path, 'contains', 'the argument');
    if (typeof seq === 'string') return typeof value === 'string' && seq.includes(value);
    return needList(seq, [...path, 1], 'contains', 'the sequence').some((x) => deepEqual(x, value));
  },
};

/** CFN Fn::Select [index, list or map]; '' when the index is not there, as Heat answers. */
export const select: FunctionDef = {
  check(args, c, path) {
    checkList(args, path, 'Fn::Select', 2, 2, '[index, collection]');
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const [index, coll] = needList(e.resolve(args, path), path, 'Fn::Select', 'the argument');
    if (Array.isArray(coll)) {
      const i = toIndex(index);
      if (i === null) throw fnError([...path, 0], 'Fn::Select', 'the index must be an integer');
      return i >= 0 && i < coll.length ? coll[i] : '';
    }
    if (isPlainObject(coll)) return Object.hasOwn(coll, String(index)) ? coll[String(index)] : '';
    if (coll === null || coll === undefined) return '';
    throw fnError([...path, 1], 'Fn::Select', 'the collection must be a list or a map');
  },
};
