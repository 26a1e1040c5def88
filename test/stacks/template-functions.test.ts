import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  parseTemplate,
  type ResolveHooks,
  VERSION_NAMES,
} from '../../resolvers/stacks/template/index';
import { expectTemplateError, fixture, hot } from './template-support';

const PARAMS = `parameters:
  name: {type: string, default: web}
  count: {type: number, default: 2}
  cfg: {type: json, default: {a: {b: [1, 2, 3]}, c: x}}
  nets: {type: comma_delimited_list, default: "n1,n2"}
`;
const ATTRS: Record<string, Record<string, unknown>> = {
  other: { a: 'A', ips: [{ addr: '10.0.0.1' }], map: { k: 'v' } },
};
const HOOKS: ResolveHooks = {
  getResource: (n) => `${n}-id`,
  getAttr: (n, a) => (a === null ? ATTRS[n] : ATTRS[n]?.[a]),
};

/** A template whose resource `r` has the property `v: expr` next to a resource `other`. */
function withExpr(version: string, expr: unknown, extra = ''): string {
  return hot(
    version,
    `${PARAMS}${extra}resources:\n  other: {type: OS::Heat::None}\n  r:\n    type: OS::Heat::None\n    properties:\n      v: ${JSON.stringify(expr)}\n`,
  );
}

async function evaluate(
  version: string,
  expr: unknown,
  options: { files?: Record<string, string>; hooks?: ResolveHooks; extra?: string } = {},
) {
  const t = await parseTemplate(withExpr(version, expr, options.extra), {
    files: options.files,
    context: { stackName: 's1', stackId: 'id1', projectId: 'p1' },
  });
  return t.resolveProperties('r', options.hooks ?? HOOKS).v;
}

const CANONICAL = VERSION_NAMES.filter((v) => /^\d/.test(v));

/** Sample call, first version that has it, version that removed it. */
const GATES: [string, unknown, string, string | null][] = [
  ['get_param', { get_param: 'name' }, '2013-05-23', null],
  ['get_resource', { get_resource: 'other' }, '2013-05-23', null],
  ['get_attr', { get_attr: ['other', 'a'] }, '2013-05-23', null],
  ['get_file', { get_file: 'f.txt' }, '2013-05-23', null],
  ['resource_facade', { resource_facade: 'metadata' }, '2013-05-23', null],
  ['str_replace', { str_replace: { template: 'a$x', params: { $x: 'b' } } }, '2013-05-23', null],
  ['list_join', { list_join: [',', ['a', 'b']] }, '2013-05-23', null],
  ['Fn::Join', { 'Fn::Join': [',', ['a', 'b']] }, '2013-05-23', '2014-10-16'],
  ['Ref', { Ref: 'name' }, '2013-05-23', '2014-10-16'],
  ['Fn::Base64', { 'Fn::Base64': 'x' }, '2013-05-23', '2014-10-16'],
  ['Fn::Select', { 'Fn::Select': [0, ['a']] }, '2013-05-23', '2015-10-15'],
  ['digest', { digest: ['md5', 'x'] }, '2015-04-30', null],
  ['repeat', { repeat: { for_each: { '%x%': ['a'] }, template: '%x%' } }, '2015-04-30', null],
  ['str_split', { str_split: [',', 'a,b'] }, '2015-10-15', null],
  ['map_merge', { map_merge: [{ a: 1 }] }, '2016-04-08', null],
  ['map_replace', { map_replace: [{ a: 1 }, { keys: { a: 'b' } }] }, '2016-10-14', null],
  ['if', { if: [true, 'a', 'b'] }, '2016-10-14', null],
  ['filter', { filter: [['a'], ['a', 'b']] }, '2017-02-24', null],
  [
    'str_replace_strict',
    { str_replace_strict: { template: 'a$x', params: { $x: 'b' } } },
    '2017-02-24',
    null,
  ],
  ['make_url', { make_url: { host: 'h' } }, '2017-09-01', null],
  ['list_concat', { list_concat: [['a'], ['b']] }, '2017-09-01', null],
  ['list_concat_unique', { list_concat_unique: [['a'], ['a']] }, '2017-09-01', null],
  ['contains', { contains: ['a', ['a']] }, '2017-09-01', null],
  [
    'str_replace_vstrict',
    { str_replace_vstrict: { template: 'a$x', params: { $x: 'b' } } },
    '2017-09-01',
    null,
  ],
];

describe('intrinsic functions: which version has which', () => {
  for (const [fn, expr, since, removed] of GATES) {
    it(`${fn}: from ${since}${removed ? ` until ${removed}` : ''}`, async () => {
      for (const v of CANONICAL) {
        const available = v >= since && (removed === null || v < removed);
        const run = parseTemplate(withExpr(v, expr), { files: { 'f.txt': 'F' } });
        if (available) {
          await expect(run, `${fn} in ${v}`).resolves.toBeTruthy();
        } else {
          await expectTemplateError(run, {
            kind: 'FUNCTION',
            path: `resources.r.properties.v.${fn}`,
            message:
              removed && v >= removed
                ? new RegExp(`removed in heat_template_version ${removed}`)
                : new RegExp(`needs ${since} or later`),
          });
        }
      }
    });
  }

  it('condition functions are only for conditions, and conditions only take them', async () => {
    await expectTemplateError(parseTemplate(withExpr('2016-10-14', { equals: [1, 1] })), {
      kind: 'FUNCTION',
      path: 'resources.r.properties.v.equals',
      message: /condition function/,
    });
    await expectTemplateError(
      parseTemplate(
        hot(
          '2016-10-14',
          'resources:\n  a: {type: T}\nconditions:\n  c: {equals: [{get_attr: [a, x]}, 1]}\n',
        ),
      ),
      {
        kind: 'CONDITION',
        path: 'conditions.c.equals[0].get_attr',
        message: /not allowed in a condition/,
        line: 5,
      },
    );
    await expectTemplateError(
      parseTemplate(hot('2016-10-14', 'conditions:\n  c: {contains: [a, [a]]}\n')),
      {
        kind: 'FUNCTION',
        path: 'conditions.c.contains',
        message: /needs 2017-09-01 or later/,
      },
    );
    const t = await parseTemplate(hot('2017-09-01', 'conditions:\n  c: {contains: [a, [a]]}\n'));
    expect(t.conditions.c).toBe(true);
  });

  it('names a misspelt function and yaql as unsupported', async () => {
    await expectTemplateError(parseTemplate(withExpr('2018-08-31', { get_atr: ['other', 'a'] })), {
      kind: 'FUNCTION',
      path: 'resources.r.properties.v.get_atr',
      message: /unknown function 'get_atr'/,
      line: 12,
    });
    await expectTemplateError(parseTemplate(withExpr('2018-08-31', { 'Fn::Nope': 1 })), {
      kind: 'FUNCTION',
      path: 'resources.r.properties.v.Fn::Nope',
    });
    await expectTemplateError(
      parseTemplate(withExpr('2018-08-31', { yaql: { expression: '$.data', data: {} } })),
      {
        kind: 'UNSUPPORTED',
        path: 'resources.r.properties.v.yaql',
        message: /yaql is not supported/,
      },
    );
    // A one-key map that is no function is data.
    expect(await evaluate('2018-08-31', { role: 'web' })).toEqual({ role: 'web' });
  });
});

describe('intrinsic functions: references', () => {
  it('get_param with nested paths and pseudo parameters', async () => {
    expect(await evaluate('2018-08-31', { get_param: ['cfg', 'a', 'b', 1] })).toBe(2);
    expect(await evaluate('2018-08-31', { get_param: ['cfg', 'a', 'b', '2'] })).toBe(3);
    expect(await evaluate('2018-08-31', { get_param: ['cfg', 'nope'] })).toBe('');
    expect(await evaluate('2018-08-31', { get_param: ['nets', 1] })).toBe('n2');
    expect(await evaluate('2018-08-31', { get_param: 'count' })).toBe(2);
    expect(
      await evaluate('2013-05-23', [
        { get_param: 'OS::stack_name' },
        { get_param: 'OS::stack_id' },
        { get_param: 'OS::project_id' },
      ]),
    ).toEqual(['s1', 'id1', 'p1']);
    await expectTemplateError(parseTemplate(withExpr('2018-08-31', { get_param: 'nam' })), {
      kind: 'REFERENCE',
      path: 'resources.r.properties.v.get_param',
      message: /parameter 'nam' is not defined/,
    });
  });

  it('get_resource and get_attr, nested paths, all attributes from 2015-10-15', async () => {
    expect(await evaluate('2015-10-15', { get_resource: 'other' })).toBe('other-id');
    expect(await evaluate('2015-10-15', { get_attr: ['other', 'ips', 0, 'addr'] })).toBe(
      '10.0.0.1',
    );
    expect(await evaluate('2013-05-23', { get_attr: ['other', 'map', 'k'] })).toBe('v');
    expect(await evaluate('2015-10-15', { get_attr: ['other', 'map', 'missing'] })).toBeNull();
    expect(await evaluate('2015-10-15', { get_attr: ['other'] })).toEqual(ATTRS.other);
    await expectTemplateError(parseTemplate(withExpr('2015-04-30', { get_attr: ['other'] })), {
      kind: 'FUNCTION',
      path: 'resources.r.properties.v.get_attr',
    });
    await expectTemplateError(parseTemplate(withExpr('2015-10-15', { get_resource: 'ghost' })), {
      kind: 'REFERENCE',
      path: 'resources.r.properties.v.get_resource',
      message: /resource 'ghost' is not defined/,
    });
    await expectTemplateError(parseTemplate(withExpr('2015-10-15', { get_attr: ['ghost', 'x'] })), {
      kind: 'REFERENCE',
      path: 'resources.r.properties.v.get_attr[0]',
    });
    await expectTemplateError(parseTemplate(withExpr('2015-10-15', { get_attr: 'other' })), {
      kind: 'FUNCTION',
      path: 'resources.r.properties.v.get_attr',
    });
  });

  it('get_file from the files map, and a missing file', async () => {
    expect(
      await evaluate(
        '2015-10-15',
        { get_file: 'conf/a.txt' },
        { files: { 'conf/a.txt': 'hello' } },
      ),
    ).toBe('hello');
    await expectTemplateError(
      parseTemplate(withExpr('2015-10-15', { get_file: 'conf/b.txt' }), {
        files: { 'conf/a.txt': 'x' },
      }),
      {
        kind: 'FILE',
        path: 'resources.r.properties.v.get_file',
        message: /'conf\/b.txt' is not in the request's files/,
        line: 12,
      },
    );
  });

  it('resource_facade: the hook, or a top-level stack defaults', async () => {
    expect(await evaluate('2015-10-15', { resource_facade: 'deletion_policy' })).toBe('Delete');
    expect(
      await evaluate(
        '2015-10-15',
        { resource_facade: 'metadata' },
        { hooks: { resourceFacade: () => ({ m: 1 }) } },
      ),
    ).toEqual({ m: 1 });
    await expectTemplateError(parseTemplate(withExpr('2015-10-15', { resource_facade: 'tags' })), {
      kind: 'FUNCTION',
      path: 'resources.r.properties.v.resource_facade',
    });
  });
});

describe('intrinsic functions: strings, lists and maps', () => {
  it('str_replace and its strict variants', async () => {
    // Heat's order: the longest key splits first, then shorter ones inside the pieces.
    expect(
      await evaluate('2018-08-31', {
        str_replace: { template: 'abcd', params: { ab: 'X', bcd: 'Y' } },
      }),
    ).toBe('aY');
    expect(
      await evaluate('2018-08-31', { str_replace: { template: 'v=$v', params: { $v: true } } }),
    ).toBe('v=True');
    await expectTemplateError(
      parseTemplate(
        withExpr('2018-08-31', {
          str_replace_strict: { template: 'x', params: { $a: 1, $bb: 2 } },
        }),
      ).then((t) => t.resolveProperties('r')),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.str_replace_strict.params.$bb',
        message: /not found in the template: \$bb,\$a/,
      },
    );
    const sr = (
      fn: string,
      params: Record<string, unknown>,
      template = 'host=$host port=$port',
    ) => ({ [fn]: { template, params } });
    expect(
      await evaluate('2018-08-31', sr('str_replace', { $host: { get_param: 'name' }, $port: 80 })),
    ).toBe('host=web port=80');
    // Longest key first, and a replacement is not replaced again.
    expect(await evaluate('2018-08-31', sr('str_replace', { $h: 'X', $host: '$h' }))).toBe(
      'host=$h port=$port',
    );
    expect(await evaluate('2018-08-31', sr('str_replace', { $host: { a: 1 } }))).toBe(
      'host={"a": 1} port=$port',
    );
    await expectTemplateError(
      parseTemplate(withExpr('2015-04-30', sr('str_replace', { $host: { a: 1 } }))).then((t) =>
        t.resolveProperties('r'),
      ),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.str_replace.params.$host',
      },
    );
    await expectTemplateError(
      parseTemplate(withExpr('2018-08-31', sr('str_replace_strict', { $nothere: 'x' }))).then((t) =>
        t.resolveProperties('r'),
      ),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.str_replace_strict.params.$nothere',
        message: /not found in the template/,
      },
    );
    await expectTemplateError(
      parseTemplate(withExpr('2018-08-31', sr('str_replace_vstrict', { $host: '' }))).then((t) =>
        t.resolveProperties('r'),
      ),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.str_replace_vstrict.params.$host',
        message: /empty/,
      },
    );
    expect(await evaluate('2018-08-31', sr('str_replace_vstrict', { $host: 'h', $port: 1 }))).toBe(
      'host=h port=1',
    );
    await expectTemplateError(
      parseTemplate(withExpr('2018-08-31', { str_replace: { template: 'x' } })),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.str_replace',
        message: /'params' is missing/,
      },
    );
  });

  it('str_split, list_join (several lists from 2015-10-15), list_concat(_unique)', async () => {
    expect(await evaluate('2015-10-15', { str_split: [',', 'a,b,c'] })).toEqual(['a', 'b', 'c']);
    expect(await evaluate('2015-10-15', { str_split: [',', 'a,b,c', 2] })).toBe('c');
    await expectTemplateError(
      parseTemplate(withExpr('2015-10-15', { str_split: [',', 'a,b', 5] })).then((t) =>
        t.resolveProperties('r'),
      ),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.str_split[2]',
      },
    );
    expect(
      await evaluate('2015-10-15', { list_join: ['-', ['a', 'b'], ['c'], { get_param: 'nets' }] }),
    ).toBe('a-b-c-n1-n2');
    expect(
      await evaluate('2015-10-15', { list_join: [',', [{ k: 1, a: [true] }, null, 'x']] }),
    ).toBe('{"a": [true], "k": 1},,x');
    // Heat joins strings (and, from 2015-10-15, JSON of maps and lists), never numbers.
    await expectTemplateError(
      parseTemplate(withExpr('2015-10-15', { list_join: [',', ['a', 3]] })).then((t) =>
        t.resolveProperties('r'),
      ),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.list_join[1]',
        message: /must be strings, maps or lists, not 3/,
      },
    );
    await expectTemplateError(
      parseTemplate(withExpr('2015-04-30', { list_join: ['-', ['a'], ['b']] })),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.list_join',
        message: /\[delimiter, \[list\]\]/,
      },
    );
    expect(
      await evaluate('2017-09-01', { list_concat: [['a', 'b'], ['b'], { get_param: 'nets' }] }),
    ).toEqual(['a', 'b', 'b', 'n1', 'n2']);
    expect(
      await evaluate('2017-09-01', {
        list_concat_unique: [['a', 'b'], ['b', { x: 1 }], [{ x: 1 }]],
      }),
    ).toEqual(['a', 'b', { x: 1 }]);
    // Heat keeps the last of equal items, and a null list is empty.
    expect(await evaluate('2017-09-01', { list_concat_unique: [['a', 'b'], ['a'], null] })).toEqual(
      ['b', 'a'],
    );
    expect(await evaluate('2017-09-01', { list_concat: [['a'], null, ['b']] })).toEqual(['a', 'b']);
    await expectTemplateError(
      parseTemplate(withExpr('2017-09-01', { list_concat: [['a'], 'b'] })),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.list_concat[1]',
      },
    );
  });

  it('repeat: product, maps (2016-10-14), permutations false (2017-09-01)', async () => {
    const product = await evaluate('2016-04-08', {
      repeat: {
        for_each: { '%p%': [80, 443], '%net%': ['a', 'b'] },
        template: { port: '%p%', '%net%_name': 'n-%net%' },
      },
    });
    expect(product).toEqual([
      { port: '80', a_name: 'n-a' },
      { port: '80', b_name: 'n-b' },
      { port: '443', a_name: 'n-a' },
      { port: '443', b_name: 'n-b' },
    ]);
    expect(
      await evaluate('2016-10-14', {
        repeat: { for_each: { '<%k%>': { get_param: 'cfg' } }, template: 'key-<%k%>' },
      }),
    ).toEqual(['key-a', 'key-c']);
    await expectTemplateError(
      parseTemplate(
        withExpr('2016-04-08', { repeat: { for_each: { x: { a: 1 } }, template: 'x' } }),
      ),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.repeat.for_each.x',
      },
    );
    const zipped = await evaluate('2017-09-01', {
      repeat: {
        for_each: { '%a%': ['1', '2'], '%b%': ['x', 'y'] },
        template: '%a%%b%',
        permutations: false,
      },
    });
    expect(zipped).toEqual(['1x', '2y']);
    await expectTemplateError(
      parseTemplate(
        withExpr('2016-10-14', {
          repeat: { for_each: { a: [1] }, template: 'a', permutations: false },
        }),
      ),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.repeat.permutations',
      },
    );
  });

  it('map_merge, map_replace, filter, contains, digest, make_url', async () => {
    expect(
      await evaluate('2016-04-08', { map_merge: [{ a: 1, b: 1 }, { b: 2 }, { get_param: 'cfg' }] }),
    ).toEqual({ a: { b: [1, 2, 3] }, b: 2, c: 'x' });
    await expectTemplateError(
      parseTemplate(withExpr('2016-04-08', { map_merge: [{ a: 1 }, ['x']] })),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.map_merge[1]',
      },
    );
    expect(
      await evaluate('2016-10-14', {
        map_replace: [
          { k1: 'v1', k2: 'v2' },
          { keys: { k1: 'K1' }, values: { v2: 'V2' } },
        ],
      }),
    ).toEqual({ K1: 'v1', k2: 'V2' });
    await expectTemplateError(
      parseTemplate(
        withExpr('2016-10-14', { map_replace: [{ a: 1, b: 2 }, { keys: { a: 'b' } }] }),
      ).then((t) => t.resolveProperties('r')),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.map_replace[1].keys.a',
        message: /collides/,
      },
    );
    expect(
      await evaluate('2017-02-24', {
        filter: [
          ['a', null],
          ['a', 'b', null, 'c'],
        ],
      }),
    ).toEqual(['b', 'c']);
    expect(
      await evaluate('2017-09-01', {
        if: [{ contains: ['n2', { get_param: 'nets' }] }, 'yes', 'no'],
      }),
    ).toBe('yes');
    for (const algo of ['md5', 'sha1', 'sha256', 'sha512']) {
      expect(await evaluate('2015-04-30', { digest: [algo, 'stratus'] })).toBe(
        createHash(algo).update('stratus').digest('hex'),
      );
    }
    await expectTemplateError(parseTemplate(withExpr('2015-04-30', { digest: ['crc32', 'x'] })), {
      kind: 'FUNCTION',
      path: 'resources.r.properties.v.digest[0]',
    });
    expect(
      await evaluate('2017-09-01', {
        make_url: {
          scheme: 'https',
          username: 'u',
          password: 'p@ss',
          host: 'example.org',
          port: 8443,
          path: 'a b',
          query: { q: 'x y', n: 1 },
          fragment: 'top',
        },
      }),
    ).toBe('https://u:p%40ss@example.org:8443/a%20b?q=x+y&n=1#top');
    expect(
      await evaluate('2017-09-01', { make_url: { scheme: 'http', host: 'fd00::1', path: '/x' } }),
    ).toBe('http://[fd00::1]/x');
    expect(
      await evaluate('2017-09-01', { make_url: { scheme: 'http', host: 'h', path: 'p/q' } }),
    ).toBe('http://h/p/q');
    expect(await evaluate('2017-09-01', { make_url: { scheme: 'file', path: '/etc/hosts' } })).toBe(
      'file:/etc/hosts',
    );
    await expectTemplateError(
      parseTemplate(withExpr('2017-09-01', { make_url: { hostname: 'x' } })),
      {
        kind: 'FUNCTION',
        path: 'resources.r.properties.v.make_url.hostname',
      },
    );
  });

  it('CloudFormation functions of 2013-05-23', async () => {
    const t = await parseTemplate(fixture('cfn-2013.yaml'));
    expect(t.resources.a.requires).toEqual(['b']);
    expect(t.resolveProperties('a', HOOKS)).toEqual({
      joined: 'x,az1',
      split: ['p', 'q'],
      picked: 'q',
      replaced: 'zone=az1',
      encoded: Buffer.from('hello').toString('base64'),
      ref_resource: 'b-id',
      old_join: 'a-b',
    });
  });
});

describe('conditions and if', () => {
  it('evaluates named conditions, and/or/not, contains; if picks one branch', async () => {
    const t = await parseTemplate(fixture('wallaby-conditions.yaml'), { params: { env: 'prod' } });
    expect(t.conditions).toEqual({ prod: true, dev: false, prod_or_many: true });
    expect(t.resolveProperties('always', HOOKS)).toEqual({ who: 'only_prod-id', gone: 'here' });
    expect(t.resources.always.requires).toEqual(['only_prod']);

    const dev = await parseTemplate(fixture('wallaby-conditions.yaml'));
    expect(dev.conditions).toEqual({ prod: false, dev: true, prod_or_many: false });
    // The branch `if` does not take may name a resource its condition leaves out.
    expect(dev.resolveProperties('always', HOOKS)).toEqual({ who: 'nobody', maybe: 'here' });
    expect(dev.resources.always.requires).toEqual([]);
    expect(dev.excludedResources).toEqual(['only_prod']);
  });

  it('if needs its false value before 2021-04-16', async () => {
    await expectTemplateError(parseTemplate(withExpr('2018-08-31', { if: [true, 'a'] })), {
      kind: 'FUNCTION',
      path: 'resources.r.properties.v.if',
    });
    expect(await evaluate('2021-04-16', { if: [false, 'a'] })).toBeUndefined();
    expect(await evaluate('2021-04-16', [{ if: [false, 'a'] }, 'b'])).toEqual(['b']);
  });

  it('rejects unknown condition names, bad shapes and loops between conditions', async () => {
    await expectTemplateError(parseTemplate(withExpr('2016-10-14', { if: ['nocond', 1, 2] })), {
      kind: 'REFERENCE',
      path: 'resources.r.properties.v.if[0]',
      message: /condition 'nocond' is not defined/,
    });
    await expectTemplateError(
      parseTemplate(hot('2016-10-14', 'resources:\n  a: {type: T, condition: ghost}\n')),
      {
        kind: 'REFERENCE',
        path: 'resources.a.condition',
      },
    );
    await expectTemplateError(
      parseTemplate(hot('2016-10-14', 'conditions:\n  a: {and: [b]}\n  b: true\n')),
      {
        kind: 'FUNCTION',
        path: 'conditions.a.and',
      },
    );
    await expectTemplateError(
      parseTemplate(hot('2016-10-14', 'conditions:\n  a: {not: b}\n  b: {and: [true, a]}\n')),
      {
        kind: 'CYCLE',
        path: 'conditions.a',
        message: /a -> b -> a/,
      },
    );
    await expectTemplateError(parseTemplate(hot('2016-10-14', 'conditions:\n  a: [1]\n')), {
      kind: 'CONDITION',
      path: 'conditions.a',
    });
    await expectTemplateError(
      parseTemplate(
        hot(
          '2016-10-14',
          'parameters: {p: {type: string, default: x}}\nconditions:\n  a: {get_param: p}\n',
        ),
      ),
      {
        kind: 'CONDITION',
        path: 'conditions.a',
        message: /true or false/,
      },
    );
  });

  it('a reference to a resource its condition leaves out is an error where it is used', async () => {
    await expectTemplateError(
      parseTemplate(
        hot(
          '2016-10-14',
          'resources:\n  a: {type: T, condition: false}\n  b:\n    type: T\n    properties: {x: {get_resource: a}}\n',
        ),
      ),
      { kind: 'REFERENCE', path: 'resources.b.properties.x.get_resource', message: /not created/ },
    );
    // depends_on on it is dropped, as Heat does.
    const t = await parseTemplate(
      hot(
        '2016-10-14',
        'resources:\n  a: {type: T, condition: false}\n  b: {type: T, depends_on: a}\n',
      ),
    );
    expect(t.resources.b.requires).toEqual([]);
  });
});
