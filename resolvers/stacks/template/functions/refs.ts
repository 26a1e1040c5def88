import { type Path, TemplateError } from '../errors';
import { isPlainObject } from '../parse';
import { checkList, checkStringArg, fnError, isCall, toIndex } from './args';
import type { Checker, FunctionDef } from './types';
import { PSEUDO_PARAMETERS } from './types';

const PSEUDO = new Set<string>(PSEUDO_PARAMETERS);

/** Follows a get_param / get_attr path into maps and lists. */
function select(value: unknown, keys: unknown[]): unknown {
  let current = value;
  for (const key of keys) {
    if (Array.isArray(current)) {
      const i = toIndex(key);
      if (i === null || i < 0 || i >= current.length) return undefined;
      current = current[i];
    } else if (isPlainObject(current)) {
      const k = String(key);
      if (!Object.hasOwn(current, k)) return undefined;
      current = current[k];
    } else {
      return undefined;
    }
  }
  return current;
}

function checkParamName(name: unknown, c: Checker, path: Path, fn: string): void {
  if (typeof name !== 'string') {
    if (isCall(name)) {
      c.check(name, path);
      return;
    }
    throw fnError(path, fn, 'the parameter name must be a string');
  }
  if (!c.parameters.has(name) && !PSEUDO.has(name)) {
    throw new TemplateError('REFERENCE', path, `${fn}: the parameter '${name}' is not defined`);
  }
}

export const getParam: FunctionDef = {
  check(args, c, path) {
    if (Array.isArray(args)) {
      if (args.length === 0) throw fnError(path, 'get_param', 'needs a parameter name');
      checkParamName(args[0], c, [...path, 0], 'get_param');
      args.slice(1).forEach((k, i) => {
        c.check(k, [...path, i + 1]);
      });
    } else {
      checkParamName(args, c, path, 'get_param');
    }
  },
  evaluate(args, e, path) {
    const list = Array.isArray(args)
      ? args.map((a, i) => e.resolve(a, [...path, i]))
      : [e.resolve(args, path)];
    const name = list[0];
    if (typeof name !== 'string')
      throw fnError(path, 'get_param', 'the parameter name must be a string');
    const value = e.param(name, path);
    if (list.length === 1) return value;
    // Heat answers '' for a path that is not in the value.
    const found = select(value, list.slice(1));
    return found === undefined ? '' : found;
  },
};

function checkResourceName(name: unknown, c: Checker, path: Path, fn: string): string | null {
  if (typeof name !== 'string') {
    if (isCall(name)) {
      c.check(name, path);
      return null;
    }
    throw fnError(path, fn, 'the resource name must be a string');
  }
  const info = c.resources.get(name);
  if (!info)
    throw new TemplateError('REFERENCE', path, `${fn}: the resource '${name}' is not defined`);
  if (c.deps) {
    if (!info.active) {
      throw new TemplateError(
        'REFERENCE',
        path,
        `${fn}: the resource '${name}' is not created (its condition ${JSON.stringify(info.condition)} is false)`,
      );
    }
    c.deps.add(name);
  }
  return name;
}

export const getResource: FunctionDef = {
  check(args, c, path) {
    checkResourceName(args, c, path, 'get_resource');
  },
  evaluate(args, e, path) {
    const name = e.resolve(args, path);
    if (typeof name !== 'string')
      throw fnError(path, 'get_resource', 'the resource name must be a string');
    if (!e.hooks.getResource) {
      throw new TemplateError('UNSUPPORTED', path, 'get_resource: no resource resolver was given');
    }
    return e.hooks.getResource(name) ?? null;
  },
};

export const getAttr: FunctionDef = {
  check(args, c, path) {
    const min = c.version.features.getAttrAll ? 1 : 2;
    const form =
      min === 1
        ? '[resource_name, attribute, (path), ...]'
        : '[resource_name, attribute, (path), ...]';
    if (!checkList(args, path, 'get_attr', min, Number.POSITIVE_INFINITY, form)) {
      c.check(args, path);
      return;
    }
    const name = checkResourceName(args[0], c, [...path, 0], 'get_attr');
    const attr = args[1];
    if (args.length >= 2) {
      if (typeof attr === 'string' && name !== null) {
        const info = c.resources.get(name)!;
        const known =
          attr === 'show' ||
          info.attributes === null ||
          info.attributes.has(attr) ||
          (info.nested && (attr.startsWith('resource.') || attr === 'OS::stack_id'));
        if (!known) {
          throw new TemplateError(
            'REFERENCE',
            [...path, 1],
            `get_attr: the resource '${name}' (${info.type}) has no attribute '${attr}'`,
          );
        }
      } else if (typeof attr !== 'string') {
        checkStringArg(attr, [...path, 1], 'get_attr', 'the attribute name');
        c.check(attr, [...path, 1]);
      }
    }
    args.slice(2).forEach((k, i) => {
      c.check(k, [...path, i + 2]);
    });
  },
  evaluate(args, e, path) {
    const list = e.resolve(args, path);
    if (!Array.isArray(list) || list.length < 1) {
      throw fnError(
        path,
        'get_attr',
        'arguments must be of the form [resource_name, attribute, (path), ...]',
      );
    }
    const [name, attr, ...rest] = list;
    if (typeof name !== 'string')
      throw fnError(path, 'get_attr', 'the resource name must be a string');
    if (!e.hooks.getAttr)
      throw new TemplateError('UNSUPPORTED', path, 'get_attr: no attribute resolver was given');
    if (list.length === 1) return e.hooks.getAttr(name, null) ?? null;
    if (typeof attr !== 'string')
      throw fnError(path, 'get_attr', 'the attribute name must be a string');
    const value = e.hooks.getAttr(name, attr);
    if (value === null || value === undefined) return null;
    return rest.length === 0 ? value : (select(value, rest) ?? null);
  },
};

const FACADE_KINDS = ['metadata', 'deletion_policy', 'update_policy'] as const;
type FacadeKind = (typeof FACADE_KINDS)[number];

function facade(fn: string): FunctionDef {
  return {
    check(args, c, path) {
      if (isCall(args)) {
        c.check(args, path);
        return;
      }
      if (typeof args !== 'string' || !(FACADE_KINDS as readonly string[]).includes(args)) {
        throw fnError(path, fn, `the argument must be one of ${FACADE_KINDS.join(', ')}`);
      }
    },
    evaluate(args, e, path) {
      const kind = e.resolve(args, path) as FacadeKind;
      if (e.hooks.resourceFacade) return e.hooks.resourceFacade(kind);
      // A top-level stack has no facade resource: Heat's defaults.
      return kind === 'deletion_policy' ? 'Delete' : {};
    },
  };
}

export const resourceFacade = facade('resource_facade');
export const cfnResourceFacade = facade('Fn::ResourceFacade');

export const getFile: FunctionDef = {
  check(args, c, path) {
    if (isCall(args)) throw fnError(path, 'get_file', 'the file name must be a literal string');
    if (typeof args !== 'string') throw fnError(path, 'get_file', 'the file name must be a string');
    if (!Object.hasOwn(c.files, args)) {
      throw new TemplateError(
        'FILE',
        path,
        `get_file: the file '${args}' is not in the request's files`,
      );
    }
  },
  evaluate(args, e, path) {
    const name = String(args);
    if (!Object.hasOwn(e.files, name)) {
      throw new TemplateError(
        'FILE',
        path,
        `get_file: the file '${name}' is not in the request's files`,
      );
    }
    return e.files[name];
  },
};

/** CFN `Ref` (2013-05-23): a parameter's value or a resource's physical ID. */
export const ref: FunctionDef = {
  check(args, c, path) {
    if (typeof args !== 'string') throw fnError(path, 'Ref', 'the argument must be a name');
    if (c.parameters.has(args) || PSEUDO.has(args)) return;
    checkResourceName(args, c, path, 'Ref');
  },
  evaluate(args, e, path) {
    const name = String(args);
    try {
      return e.param(name, path);
    } catch {
      return getResource.evaluate(name, e, path);
    }
  },
};
