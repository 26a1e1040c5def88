import { describe, expect, it } from 'vitest';
import { parseTemplate } from '../../resolvers/stacks/template/index';
import { expectTemplateError, hot } from './template-support';

const one = (schema: string, version = '2018-03-02') =>
  hot(version, `parameters:\n  p: ${schema}\n`);
const value = async (schema: string, given?: unknown, version?: string) => {
  const t = await parseTemplate(
    one(schema, version),
    given === undefined ? {} : { params: { p: given } },
  );
  return t.parameterValues.get('p');
};

describe('parameters: types and coercion', () => {
  it('coerces given values per type as Heat does', async () => {
    expect(await value('{type: string}', 42)).toBe('42');
    expect(await value('{type: number}', '3.5')).toBe(3.5);
    expect(await value('{type: number}', ' 7 ')).toBe(7);
    expect(await value('{type: boolean}', 'yes')).toBe(true);
    expect(await value('{type: boolean}', 'Off')).toBe(false);
    expect(await value('{type: boolean}', 1)).toBe(true);
    expect(await value('{type: comma_delimited_list}', 'a, b ,c')).toEqual(['a', 'b', 'c']);
    expect(await value('{type: comma_delimited_list}', '')).toEqual([]);
    expect(await value('{type: comma_delimited_list}', ['x', 'y'])).toEqual(['x', 'y']);
    expect(await value('{type: json}', '{"a": [1]}')).toEqual({ a: [1] });
    expect(await value('{type: json}', [1, 2])).toEqual([1, 2]);
    expect(await value('{type: json, default: {k: v}}')).toEqual({ k: 'v' });
  });

  it('rejects values that are not of the type, naming the parameter', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['{type: number}', 'ten', /must be a number/],
      ['{type: boolean}', 'maybe', /true or false/],
      ['{type: json}', '[1,', /JSON/],
      ['{type: json}', '"text"', /JSON/],
      ['{type: string}', { a: 1 }, /must be a string/],
    ];
    for (const [schema, given, message] of cases) {
      await expectTemplateError(parseTemplate(one(schema), { params: { p: given } }), {
        kind: 'CONSTRAINT',
        path: 'parameters.p',
        message,
        line: 3,
      });
    }
    await expectTemplateError(parseTemplate(one('{type: number, default: abc}')), {
      kind: 'CONSTRAINT',
      path: 'parameters.p.default',
    });
  });

  it('checks the parameter schema', async () => {
    await expectTemplateError(parseTemplate(one('{type: integer}')), {
      kind: 'PARAMETER',
      path: 'parameters.p.type',
      message: /unknown parameter type "integer"/,
    });
    await expectTemplateError(parseTemplate(one('{default: 1}')), {
      kind: 'PARAMETER',
      path: 'parameters.p',
      message: /no type/,
    });
    await expectTemplateError(parseTemplate(one('{type: string, secret: true}')), {
      kind: 'PARAMETER',
      path: 'parameters.p.secret',
    });
    await expectTemplateError(parseTemplate(one('{type: string, tags: [a]}', '2017-09-01')), {
      kind: 'PARAMETER',
      path: 'parameters.p.tags',
      message: /unknown parameter key 'tags' in heat_template_version 2017-09-01/,
    });
    await expectTemplateError(parseTemplate(one('{type: string, hidden: sometimes, default: x}')), {
      kind: 'PARAMETER',
      path: 'parameters.p.hidden',
    });
    const t = await parseTemplate(
      one('{type: string, default: x, immutable: true, label: L, description: D}'),
    );
    expect(t.parameters.get('p')).toMatchObject({
      immutable: true,
      label: 'L',
      description: 'D',
      hidden: false,
    });
  });

  it('a required parameter without a value is an error naming it; unknown given ones too', async () => {
    await expectTemplateError(
      parseTemplate(
        hot(
          '2015-10-15',
          'parameters:\n  a: {type: string, default: x}\n  image: {type: string}\n',
        ),
      ),
      {
        kind: 'PARAMETER',
        path: 'parameters.image',
        message: /'image' was not provided/,
        line: 4,
      },
    );
    await expectTemplateError(
      parseTemplate(one('{type: string, default: x}'), { params: { q: 1 } }),
      {
        kind: 'PARAMETER',
        path: 'parameters.q',
        message: /'q' is not defined in the template/,
      },
    );
  });
});

describe('parameters: constraints', () => {
  const fails = (schema: string, given: unknown, message: RegExp, version?: string) =>
    expectTemplateError(parseTemplate(one(schema, version), { params: { p: given } }), {
      kind: 'CONSTRAINT',
      path: 'parameters.p',
      message,
    });

  it('range, length, modulo, allowed_values, allowed_pattern', async () => {
    expect(await value('{type: number, constraints: [{range: {min: 1, max: 10}}]}', 10)).toBe(10);
    await fails(
      '{type: number, constraints: [{range: {min: 1, max: 10}}]}',
      11,
      /fails its range constraint: the value 11 must be between 1 and 10/,
    );
    await fails('{type: number, constraints: [{range: {min: 1}}]}', 0, /at least 1/);
    expect(await value('{type: string, constraints: [{length: {min: 2, max: 3}}]}', 'abc')).toBe(
      'abc',
    );
    await fails('{type: string, constraints: [{length: {max: 3}}]}', 'abcd', /length/);
    await fails('{type: comma_delimited_list, constraints: [{length: {min: 3}}]}', 'a,b', /length/);
    expect(
      await value('{type: number, constraints: [{modulo: {step: 2, offset: 1}}]}', 7, '2017-02-24'),
    ).toBe(7);
    await fails(
      '{type: number, constraints: [{modulo: {step: 2, offset: 1}}]}',
      8,
      /multiple of 2/,
      '2017-02-24',
    );
    await expectTemplateError(
      parseTemplate(
        one('{type: number, constraints: [{modulo: {step: 2, offset: 1}}]}', '2016-10-14'),
      ),
      {
        kind: 'PARAMETER',
        path: 'parameters.p.constraints[0].modulo',
        message: /unknown constraint 'modulo'/,
      },
    );
    expect(
      await value('{type: comma_delimited_list, constraints: [{allowed_values: [a, b]}]}', 'b,a'),
    ).toEqual(['b', 'a']);
    await fails(
      '{type: comma_delimited_list, constraints: [{allowed_values: [a, b]}]}',
      'a,c',
      /one of a, b/,
    );
    expect(await value('{type: number, constraints: [{allowed_values: [1, 2]}]}', '2')).toBe(2);
    await fails(
      '{type: string, constraints: [{allowed_pattern: "[a-z]+"}]}',
      'abc1',
      /does not match the pattern \[a-z\]\+/,
    );
    await fails(
      '{type: string, constraints: [{allowed_pattern: "[a-z]+", description: lower case only}]}',
      'A',
      /lower case only/,
    );
  });

  it('checks defaults against the constraints, and hides hidden values', async () => {
    await expectTemplateError(
      parseTemplate(one('{type: number, default: 50, constraints: [{range: {max: 10}}]}')),
      {
        kind: 'CONSTRAINT',
        path: 'parameters.p.default',
      },
    );
    const err = await expectTemplateError(
      parseTemplate(one('{type: string, hidden: true, constraints: [{length: {min: 8}}]}'), {
        params: { p: 'hunter2' },
      }),
      { kind: 'CONSTRAINT', path: 'parameters.p' },
    );
    expect(err.message).not.toContain('hunter2');
  });

  it('rejects constraints that do not fit the type or are malformed', async () => {
    const bad = (schema: string, path: string) =>
      expectTemplateError(parseTemplate(one(schema)), { kind: 'PARAMETER', path });
    await bad(
      '{type: string, constraints: [{range: {min: 1}}]}',
      'parameters.p.constraints[0].range',
    );
    await bad(
      '{type: number, constraints: [{range: {min: 5, max: 1}}]}',
      'parameters.p.constraints[0].range',
    );
    await bad(
      '{type: number, constraints: [{range: {low: 1}}]}',
      'parameters.p.constraints[0].range.low',
    );
    await bad(
      '{type: string, constraints: [{allowed_pattern: "(["}]}',
      'parameters.p.constraints[0].allowed_pattern',
    );
    await bad(
      '{type: string, constraints: [{allowed_values: a}]}',
      'parameters.p.constraints[0].allowed_values',
    );
    await bad(
      '{type: string, constraints: [{range: {min: 1}, length: {min: 1}}]}',
      'parameters.p.constraints[0]',
    );
    await bad(
      '{type: number, constraints: [{modulo: {step: 0, offset: 0}}]}',
      'parameters.p.constraints[0].modulo.step',
    );
  });

  it('custom constraints call the engine validator', async () => {
    const seen: unknown[] = [];
    const customConstraints = {
      'nova.flavor': async (_name: string, v: unknown) => {
        seen.push(v);
        return v === 'm1.small' ? null : `no flavor '${String(v)}'`;
      },
    };
    const schema = '{type: string, constraints: [{custom_constraint: nova.flavor}]}';
    const ok = await parseTemplate(one(schema), { params: { p: 'm1.small' }, customConstraints });
    expect(ok.parameterValues.get('p')).toBe('m1.small');
    await expectTemplateError(
      parseTemplate(one(schema), { params: { p: 'm1.huge' }, customConstraints }),
      {
        kind: 'CONSTRAINT',
        path: 'parameters.p',
        message: /fails nova.flavor: no flavor 'm1.huge'/,
      },
    );
    expect(seen).toEqual(['m1.small', 'm1.huge']);
    await expectTemplateError(
      parseTemplate(one('{type: string, constraints: [{custom_constraint: glance.image}]}'), {
        params: { p: 'x' },
        customConstraints,
      }),
      {
        kind: 'CONSTRAINT',
        path: 'parameters.p',
        message: /no custom constraint 'glance.image'/,
      },
    );
    // Without validators (a check before the engine has them) the constraint is not asked.
    expect(
      (await parseTemplate(one(schema), { params: { p: 'any' } })).parameterValues.get('p'),
    ).toBe('any');
  });
});

describe('environment', () => {
  const tmpl = hot(
    '2016-10-14',
    'parameters:\n  a: {type: string, default: t}\n  b: {type: number, default: 1}\n  c: {type: string}\nresources:\n  r: {type: My::Thing}\n',
  );

  it('merges parameters and parameter_defaults over the template, request params winning', async () => {
    const env =
      'parameters:\n  c: from-env\n  b: 5\nparameter_defaults:\n  a: env-default\n  b: 9\n  unrelated: ignored\nresource_registry:\n  My::Thing: OS::Heat::None\n';
    const t = await parseTemplate(tmpl, { environment: env, params: { b: '6' } });
    expect(Object.fromEntries(t.parameterValues)).toEqual({
      a: 'env-default',
      b: 6,
      c: 'from-env',
    });
    expect(t.resources.r.mappedType).toBe('OS::Heat::None');
  });

  it('names bad environment entries', async () => {
    await expectTemplateError(
      parseTemplate(tmpl, { environment: 'parameters: {c: x}\nparamters: {}\n' }),
      {
        kind: 'ENVIRONMENT',
        path: 'environment.paramters',
        message: /unknown environment section/,
        line: 2,
      },
    );
    await expectTemplateError(parseTemplate(tmpl, { environment: 'parameters: {c: x, zz: 1}\n' }), {
      kind: 'PARAMETER',
      path: 'environment.parameters.zz',
    });
    await expectTemplateError(parseTemplate(tmpl, { environment: 'parameters: [1' }), {
      kind: 'SYNTAX',
      path: 'environment',
    });
    await expectTemplateError(
      parseTemplate(tmpl, {
        environment: {
          parameters: { c: 'x' },
          resource_registry: { 'My::Thing': 'My::Other', 'My::Other': 'My::Thing' },
        },
      }),
      {
        kind: 'ENVIRONMENT',
        path: 'resources.r.type',
        message: /loop: My::Thing -> My::Other -> My::Thing/,
      },
    );
  });

  it('resource_registry: wildcards, per-resource mappings, template resources', async () => {
    const t = await parseTemplate(
      hot(
        '2016-10-14',
        'resources:\n  a: {type: OS::Networking::Net}\n  b: {type: My::Server, properties: {name: x}}\n  c: {type: My::Server, properties: {name: y}}\n',
      ),
      {
        environment: {
          resource_registry: {
            'OS::Networking::*': 'OS::Neutron::*',
            'My::Server': 'OS::Nova::Server',
            resources: { c: { 'My::Server': 'server.yaml', hooks: 'pre-create' } },
          },
        },
        files: {
          'server.yaml': hot(
            '2016-10-14',
            'parameters: {name: {type: string}}\noutputs: {ip: {value: 1}}\n',
          ),
        },
      },
    );
    expect([t.resources.a.mappedType, t.resources.b.mappedType, t.resources.c.mappedType]).toEqual([
      'OS::Neutron::Net',
      'OS::Nova::Server',
      'server.yaml',
    ]);
    expect(t.resources.c.templateFile).toBe('server.yaml');
    expect([...(t.resources.c.nested?.parameters.keys() ?? [])]).toEqual(['name']);
    await expectTemplateError(
      parseTemplate(hot('2016-10-14', 'resources:\n  a: {type: My::T}\n'), {
        environment: { resource_registry: { 'My::T': 'missing.yaml' } },
      }),
      {
        kind: 'FILE',
        path: 'resources.a.type',
        message: /'missing.yaml' of type 'My::T' is not in the request's files/,
      },
    );
  });
});
