import { createHash } from 'node:crypto';
import { TemplateError } from '../errors';
import { isPlainObject } from '../parse';
import {
  checkList,
  checkMap,
  checkStringArg,
  fnError,
  isCall,
  needList,
  needMap,
  needString,
  pyJson,
  toIndex,
  toText,
} from './args';
import type { Evaluator, FunctionDef } from './types';

type Strictness = 'none' | 'strict' | 'vstrict';

/**
 * Heat's order: longest key first (ties: the smaller string), each key splitting what the
 * longer ones left, so a replacement is never replaced again. Returns the keys found.
 */
function replaceAll(
  template: string,
  params: Record<string, string>,
): { text: string; found: Set<string> } {
  const keys = Object.keys(params)
    .filter((k) => k !== '')
    .sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
  const found = new Set<string>();
  const replace = (text: string, i: number): string => {
    if (i === keys.length) return text;
    const parts = text.split(keys[i]);
    if (parts.length > 1) found.add(keys[i]);
    return parts.map((part) => replace(part, i + 1)).join(params[keys[i]]);
  };
  return { text: replace(template, 0), found };
}

function strReplace(fn: string, strictness: Strictness): FunctionDef {
  const form = '{"template": <string>, "params": {...}}';
  return {
    check(args, c, path) {
      if (!checkMap(args, path, fn, form)) {
        c.check(args, path);
        return;
      }
      const map = args as Record<string, unknown>;
      for (const key of Object.keys(map)) {
        if (key !== 'template' && key !== 'params')
          throw fnError([...path, key], fn, `unknown key '${key}'; ${form}`);
      }
      if (!('template' in map)) throw fnError(path, fn, `'template' is missing; ${form}`);
      if (!('params' in map)) throw fnError(path, fn, `'params' is missing; ${form}`);
      checkStringArg(map.template, [...path, 'template'], fn, 'template');
      if (!isCall(map.params) && !isPlainObject(map.params))
        throw fnError([...path, 'params'], fn, 'params must be a map');
      c.check(map.template, [...path, 'template']);
      c.check(map.params, [...path, 'params']);
    },
    evaluate(args, e, path) {
      const map = needMap(e.resolve(args, path), path, fn, 'the argument');
      const template = needString(map.template, [...path, 'template'], fn, 'template');
      const raw = needMap(map.params, [...path, 'params'], fn, 'params');
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(raw)) {
        const at = [...path, 'params', k];
        const empty =
          v === null || v === '' || (typeof v === 'object' && Object.keys(v).length === 0);
        if (strictness === 'vstrict' && empty) {
          throw fnError(at, fn, `the value of '${k}' is undefined or empty`);
        }
        if (v !== null && typeof v === 'object' && !e.version.features.replaceJson) {
          throw fnError(at, fn, `the value of '${k}' must be a string or a number`);
        }
        params[k] = toText(v);
      }
      const { text, found } = replaceAll(template, params);
      if (strictness !== 'none') {
        const missing = Object.keys(params)
          .filter((k) => !found.has(k))
          .sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
        if (missing.length > 0) {
          throw fnError(
            [...path, 'params', missing[0]],
            fn,
            `the following params were not found in the template: ${missing.join(',')}`,
          );
        }
      }
      return text;
    },
  };
}

export const strReplaceFn = strReplace('str_replace', 'none');
export const strReplaceStrict = strReplace('str_replace_strict', 'strict');
export const strReplaceVstrict = strReplace('str_replace_vstrict', 'vstrict');

/** CFN Fn::Replace: [{param: value}, template]. */
export const cfnReplace: FunctionDef = {
  check(args, c, path) {
    checkList(args, path, 'Fn::Replace', 2, 2, '[{"param": "value"}, "template"]');
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const [params, template] = needList(e.resolve(args, path), path, 'Fn::Replace', 'the argument');
    const text = needString(template, [...path, 1], 'Fn::Replace', 'the template');
    const map = needMap(params, [...path, 0], 'Fn::Replace', 'params');
    return replaceAll(text, Object.fromEntries(Object.entries(map).map(([k, v]) => [k, toText(v)])))
      .text;
  },
};

export const strSplit: FunctionDef = {
  check(args, c, path) {
    if (checkList(args, path, 'str_split', 2, 3, '[delimiter, string, (index)]')) {
      checkStringArg(args[0], [...path, 0], 'str_split', 'the delimiter');
    }
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const list = needList(e.resolve(args, path), path, 'str_split', 'the argument');
    const delim = needString(list[0], [...path, 0], 'str_split', 'the delimiter');
    const text = needString(list[1], [...path, 1], 'str_split', 'the string');
    const parts = text.split(delim);
    if (list.length < 3) return parts;
    const i = toIndex(list[2]);
    if (i === null || i < 0 || i >= parts.length) {
      throw fnError([...path, 2], 'str_split', `index ${JSON.stringify(list[2])} is out of range`);
    }
    return parts[i];
  },
};

export const cfnSplit: FunctionDef = {
  check(args, c, path) {
    checkList(args, path, 'Fn::Split', 2, 2, '[delimiter, string]');
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const [d, s] = needList(e.resolve(args, path), path, 'Fn::Split', 'the argument');
    return needString(s, [...path, 1], 'Fn::Split', 'the string').split(
      needString(d, [...path, 0], 'Fn::Split', 'the delimiter'),
    );
  },
};

function join(fn: string): FunctionDef {
  return {
    check(args, c, path) {
      const multiple = fn === 'list_join' && c.version.features.listJoinMultiple;
      const form = multiple ? '[delimiter, [list], ([list], ...)]' : '[delimiter, [list]]';
      if (checkList(args, path, fn, 2, multiple ? Number.POSITIVE_INFINITY : 2, form)) {
        checkStringArg(args[0], [...path, 0], fn, 'the delimiter');
        args.slice(1).forEach((l, i) => {
          if (!isCall(l) && !Array.isArray(l))
            throw fnError([...path, i + 1], fn, 'the items to join must be a list');
        });
      }
      c.check(args, path);
    },
    evaluate(args, e: Evaluator, path) {
      const list = needList(e.resolve(args, path), path, fn, 'the argument');
      const delim = needString(list[0], [...path, 0], fn, 'the delimiter');
      const jsonItems = fn === 'list_join' && e.version.features.listJoinMultiple;
      const items: string[] = [];
      list.slice(1).forEach((l, i) => {
        if (l === null || (jsonItems && Array.isArray(l) && l.length === 0)) return;
        for (const item of needList(l, [...path, i + 1], fn, 'the items to join')) {
          if (item === null || item === undefined) items.push('');
          else if (typeof item === 'string') items.push(item);
          else if (jsonItems && typeof item === 'object') items.push(pyJson(item, true));
          else
            throw fnError(
              [...path, i + 1],
              fn,
              `the items to join must be strings${jsonItems ? ', maps or lists' : ''}, not ${JSON.stringify(item)}`,
            );
        }
      });
      return items.join(delim);
    },
  };
}

export const listJoin = join('list_join');
export const cfnJoin = join('Fn::Join');

const DIGESTS = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'];

export const digest: FunctionDef = {
  check(args, c, path) {
    if (checkList(args, path, 'digest', 2, 2, '[algorithm, value]')) {
      const algo = args[0];
      if (typeof algo === 'string' && !DIGESTS.includes(algo)) {
        throw fnError(
          [...path, 0],
          'digest',
          `unknown algorithm '${algo}' (one of ${DIGESTS.join(', ')})`,
        );
      }
      checkStringArg(algo, [...path, 0], 'digest', 'the algorithm');
    }
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const [algo, value] = needList(e.resolve(args, path), path, 'digest', 'the argument');
    const name = needString(algo, [...path, 0], 'digest', 'the algorithm');
    if (!DIGESTS.includes(name))
      throw fnError([...path, 0], 'digest', `unknown algorithm '${name}'`);
    return createHash(name)
      .update(needString(value, [...path, 1], 'digest', 'the value'))
      .digest('hex');
  },
};

export const base64: FunctionDef = {
  check(args, c, path) {
    c.check(args, path);
  },
  evaluate(args, e, path) {
    return Buffer.from(
      needString(e.resolve(args, path), path, 'Fn::Base64', 'the argument'),
    ).toString('base64');
  },
};

const URL_KEYS = ['scheme', 'username', 'password', 'host', 'port', 'path', 'query', 'fragment'];

export const makeUrl: FunctionDef = {
  check(args, c, path) {
    if (
      checkMap(
        args,
        path,
        'make_url',
        '{scheme, username, password, host, port, path, query, fragment}',
      )
    ) {
      for (const key of Object.keys(args as object)) {
        if (!URL_KEYS.includes(key))
          throw fnError(
            [...path, key],
            'make_url',
            `unknown key '${key}' (one of ${URL_KEYS.join(', ')})`,
          );
      }
    }
    c.check(args, path);
  },
  evaluate(args, e, path) {
    const a = needMap(e.resolve(args, path), path, 'make_url', 'the argument');
    const str = (k: string): string =>
      a[k] === undefined || a[k] === null ? '' : needString(a[k], [...path, k], 'make_url', k);
    const scheme = str('scheme');
    if (scheme.includes(':'))
      throw fnError([...path, 'scheme'], 'make_url', "the scheme must not contain ':'");
    const user = quote(str('username'), '');
    const pass = quote(str('password'), '');
    let netloc = user !== '' || pass !== '' ? `${user}${pass === '' ? '' : `:${pass}`}@` : '';
    let host = str('host');
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    host = quote(host, ':');
    netloc += host.includes(':') ? `[${host}]` : host;
    if (a.port !== undefined && a.port !== null && a.port !== '' && a.port !== 0) {
      const port = toIndex(a.port);
      if (port === null || port < 1 || port > 65535) {
        throw fnError(
          [...path, 'port'],
          'make_url',
          `invalid port ${JSON.stringify(a.port)} (1-65535)`,
        );
      }
      netloc += `:${port}`;
    }
    let p = quote(str('path'), '/');
    let query = '';
    if (a.query !== undefined && a.query !== null) {
      const q = needMap(a.query, [...path, 'query'], 'make_url', 'query');
      query = Object.entries(q)
        .map(
          ([k, v]) =>
            `${quote(k, '').replace(/%20/g, '+')}=${quote(toText(v), '').replace(/%20/g, '+')}`,
        )
        .join('&')
        .replace(/%2F/g, '/');
    }
    const fragment = quote(str('fragment'), '/');
    // Python's urlunsplit: '//' before a network location, and a path after one starts with '/'.
    if (netloc !== '') {
      if (p !== '' && !p.startsWith('/')) p = `/${p}`;
      p = `//${netloc}${p}`;
    }
    return `${scheme === '' ? '' : `${scheme}:`}${p}${query === '' ? '' : `?${query}`}${fragment === '' ? '' : `#${fragment}`}`;
  },
};

/** Python's urllib.parse.quote: letters, digits, `_.-~` and `safe` stay; the rest is %XX. */
function quote(text: string, safe: string): string {
  let out = '';
  for (const ch of text) {
    if (/[A-Za-z0-9_.\-~]/.test(ch) || safe.includes(ch)) out += ch;
    else
      out += encodeURIComponent(ch).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      );
  }
  return out;
}

/** yaql needs the YAQL engine; Stratus says so instead of guessing. */
export const yaql: FunctionDef = {
  check(_args, _c, path) {
    throw new TemplateError(
      'UNSUPPORTED',
      path,
      'yaql is not supported by Stratus (no YAQL engine); compute the value with other functions',
    );
  },
  evaluate(_args, _e, path) {
    throw new TemplateError('UNSUPPORTED', path, 'yaql is not supported by Stratus');
  },
};

export const getAZs: FunctionDef = {
  check(args, c, path) {
    c.check(args, path);
  },
  evaluate(_args, e) {
    return e.hooks.availabilityZones?.() ?? ['nova'];
  },
};

export const memberListToMap: FunctionDef = {
  check(_args, _c, path) {
    throw new TemplateError('UNSUPPORTED', path, 'Fn::MemberListToMap is not supported by Stratus');
  },
  evaluate(_args, _e, path) {
    throw new TemplateError('UNSUPPORTED', path, 'Fn::MemberListToMap is not supported by Stratus');
  },
};
