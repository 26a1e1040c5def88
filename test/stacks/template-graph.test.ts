import { describe, expect, it } from 'vitest';
import { parseTemplate } from '../../resolvers/stacks/template/index';
import { bigTemplate } from './template-generate';
import { expectTemplateError, fixture, hot } from './template-support';

describe('dependency graph', () => {
  it('names the cycle and where it starts', async () => {
    await expectTemplateError(parseTemplate(fixture('bad-circular.yaml')), {
      kind: 'CYCLE',
      path: 'resources.a',
      message: /circular dependency: a -> c -> b -> a/,
      line: 3,
    });
    await expectTemplateError(
      parseTemplate(
        hot(
          '2015-10-15',
          'resources:\n  self:\n    type: T\n    properties: {me: {get_resource: self}}\n',
        ),
      ),
      {
        kind: 'CYCLE',
        path: 'resources.self',
        message: /self -> self/,
      },
    );
  });

  it('orders creation in levels and deletion in reverse, from every kind of edge', async () => {
    const t = await parseTemplate(
      hot(
        '2016-10-14',
        `resources:
  a: {type: T}
  b: {type: T, depends_on: [a]}
  c: {type: T, properties: {x: {get_attr: [b, y]}}}
  d: {type: T, metadata: {x: {get_resource: a}}}
  e: {type: T, properties: {x: {list_join: [',', [{get_resource: c}, {get_resource: d}]]}}}
  f: {type: T}
  off: {type: T, condition: false, depends_on: [e], properties: {x: {get_resource: f}}}
`,
      ),
    );
    expect(t.graph.levels).toEqual([['a', 'f'], ['b', 'd'], ['c'], ['e']]);
    expect(t.graph.order).toEqual(['a', 'f', 'b', 'd', 'c', 'e']);
    expect(t.graph.deleteLevels).toEqual([['e'], ['c'], ['b', 'd'], ['a', 'f']]);
    expect(t.graph.requires.e).toEqual(['c', 'd']);
    expect(t.graph.requiredBy.a).toEqual(['b', 'd']);
    // The resource its condition leaves out adds nothing, nor do its own references.
    expect(t.graph.requiredBy.f).toEqual([]);
    expect(Object.keys(t.graph.requires)).not.toContain('off');
  });

  it('validates a 1,000-resource template', async () => {
    const t = await parseTemplate(bigTemplate(1000));
    expect(Object.keys(t.resources)).toHaveLength(1000);
    expect(t.graph.levels.map((l) => l.length)).toEqual([1, 500, 499]);
    expect(
      t.resolveProperties('server998', {
        getResource: (n) => `${n}-id`,
        getAttr: () => [{ ip_address: '10.0.0.9' }],
      }),
    ).toEqual({
      flavor: 'm1.tiny',
      name: 'srv-998',
      networks: [{ port: 'port997-id' }],
      metadata: { ip: '10.0.0.9' },
    });
  });
});

describe('template resources (nested stacks)', () => {
  const files = { 'server-group.yaml': fixture('server-group.yaml') };
  const environment = { resource_registry: { 'My::Web::Server': 'server-group.yaml' } };

  it('parses the nested template once and exposes its outputs as attributes', async () => {
    const t = await parseTemplate(fixture('nested-parent.yaml'), { files, environment });
    expect(t.resources.web.templateFile).toBe('server-group.yaml');
    expect(t.resources.db.templateFile).toBe('server-group.yaml');
    expect(t.resources.web.nested).toBe(t.resources.db.nested);
    expect(Object.keys(t.resources.web.nested?.outputs ?? {})).toEqual(['address']);
    expect(t.resources.web.nested?.version.name).toBe('2016-10-14');
  });

  it('checks properties against the nested parameters, and attributes against its outputs', async () => {
    const parent = (props: string, attr = 'address') =>
      hot(
        '2017-02-24',
        `resources:\n  web:\n    type: server-group.yaml\n    properties: ${props}\noutputs:\n  o: {value: {get_attr: [web, ${attr}]}}\n`,
      );
    await expectTemplateError(parseTemplate(parent('{size: 2}'), { files }), {
      kind: 'RESOURCE',
      path: 'resources.web.properties',
      message: /required property 'name' is missing/,
    });
    await expectTemplateError(parseTemplate(parent('{name: a, colour: red}'), { files }), {
      kind: 'RESOURCE',
      path: 'resources.web.properties.colour',
    });
    await expectTemplateError(parseTemplate(parent('{name: a}', 'adress'), { files }), {
      kind: 'REFERENCE',
      path: 'outputs.o.value.get_attr[1]',
      message: /no attribute 'adress'/,
    });
    expect(
      (await parseTemplate(parent('{name: a}', 'resource.server.first_address'), { files })).outputs
        .o.enabled,
    ).toBe(true);
  });

  it('reports errors inside the nested template and refuses recursion', async () => {
    const broken = {
      'child.yaml': hot('2016-10-14', 'resources:\n  x: {type: T, propertes: {}}\n'),
    };
    await expectTemplateError(
      parseTemplate(hot('2016-10-14', 'resources:\n  c: {type: child.yaml}\n'), { files: broken }),
      {
        kind: 'RESOURCE',
        path: 'resources.c.type',
        message:
          /in the template 'child.yaml': resources.x.propertes: unknown resource key 'propertes' .*\(line 3, column 16\)/,
      },
    );
    const loop = {
      'a.yaml': hot('2016-10-14', 'resources:\n  b: {type: b.yaml}\n'),
      'b.yaml': hot('2016-10-14', 'resources:\n  a: {type: a.yaml}\n'),
    };
    await expectTemplateError(
      parseTemplate(hot('2016-10-14', 'resources:\n  top: {type: a.yaml}\n'), { files: loop }),
      {
        kind: 'RESOURCE',
        path: 'resources.top.type',
        message: /a.yaml -> b.yaml -> a.yaml/,
      },
    );
  });
});
