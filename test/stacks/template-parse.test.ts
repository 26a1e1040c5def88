import { describe, expect, it } from 'vitest';
import { parseTemplate, VERSION_NAMES } from '../../resolvers/stacks/template/index';
import { expectTemplateError, fixture, hot } from './template-support';

// Inline, not a fixture file: Biome checks the YAML fixtures and this one is broken on purpose.
const BAD_YAML = `heat_template_version: 2015-10-15
resources:
  a:
    type: OS::Heat::None
    properties:
      value: [1, 2
  b: {type: OS::Heat::None}
`;

const ATTRIBUTES: Record<string, unknown> = {
  'floating_ip/floating_ip_address': '203.0.113.7',
  'server/networks': { web: ['10.10.0.5'] },
  'server/show': { status: 'ACTIVE' },
};

const BOOT = '#!/bin/sh\necho "password=$DB_PASSWORD size=$SIZE" > /etc/app.conf\n';

describe('HOT parsing and sections', () => {
  it('parses the web stack fixture: parameters, conditions, resources, outputs, graph', async () => {
    const t = await parseTemplate(fixture('web-stack.yaml'), {
      files: { 'boot.sh': BOOT },
      params: { image: 'cirros' },
      context: { stackName: 'web', stackId: 'sid-1', projectId: 'p-1' },
    });
    expect(t.version.name).toBe('2018-08-31');
    expect(t.description).toMatch(/web server/);
    expect(t.parameterGroups.map((g) => g.label)).toEqual(['Server', 'Network']);
    expect(Object.fromEntries(t.parameterValues)).toMatchObject({
      flavor: 'm1.small',
      image: 'cirros',
      volume_size: 2,
      with_volume: true,
    });
    expect(t.parameters.get('db_password')).toMatchObject({ hidden: true, tags: ['secret'] });
    expect(t.conditions).toEqual({ want_volume: true, has_key: false });
    expect(Object.keys(t.resources).sort()).toEqual([
      'attachment',
      'floating_ip',
      'net',
      'port',
      'router',
      'router_interface',
      'security_group',
      'server',
      'subnet',
      'volume',
    ]);
    expect(t.resources.volume.deletionPolicy).toBe('Snapshot');
    expect(t.resources.server.requires).toEqual(['port', 'router_interface']);
    expect(t.resources.server.line).toBe(87);
    expect(t.graph.levels).toEqual([
      ['net', 'router', 'security_group', 'volume'],
      ['subnet'],
      ['port', 'router_interface'],
      ['floating_ip', 'server'],
      ['attachment'],
    ]);
    expect(t.graph.deleteLevels[0]).toEqual(['attachment']);

    const server = t.resolveProperties('server', { getResource: (n) => `${n}-id` });
    expect(server).toEqual({
      flavor: 'm1.small',
      image: 'cirros',
      key_name: '',
      networks: [{ port: 'port-id' }],
      metadata: { role: 'web', stack: 'sid-1' },
      user_data_format: 'RAW',
      user_data: '#!/bin/sh\necho "password=s3cret! size=2" > /etc/app.conf\n',
    });
    const sg = t.resolveProperties('security_group');
    expect(sg.rules).toEqual(
      [22, 80, 443].map((p) => ({
        protocol: 'tcp',
        port_range_min: `${p}`,
        port_range_max: `${p}`,
      })),
    );
    expect(t.resolveProperties('net')).toEqual({ name: 'web-net' });

    const outputs = t.resolveOutputs({
      getResource: (n) => `${n}-id`,
      getAttr: (n, a) => ATTRIBUTES[`${n}/${a}`],
    });
    expect(outputs).toEqual({
      url: { value: 'http://203.0.113.7:80/index.html' },
      first_ip: { value: '10.10.0.5' },
      volume_id: { value: 'volume-id' },
      server_show: { value: 'ACTIVE' },
    });
  });

  it('drops resources and outputs whose condition is false, and their edges', async () => {
    const t = await parseTemplate(fixture('web-stack.yaml'), {
      files: { 'boot.sh': BOOT },
      params: { image: 'cirros', with_volume: 'false', key_name: 'mykey' },
    });
    expect(t.conditions).toEqual({ want_volume: false, has_key: true });
    expect(t.excludedResources.sort()).toEqual(['attachment', 'volume']);
    expect(t.resources.volume).toBeUndefined();
    expect(t.outputs.volume_id.enabled).toBe(false);
    expect(t.resolveOutputs({ getAttr: () => null }).volume_id).toBeUndefined();
    expect(t.resolveProperties('server', { getResource: () => 'x' }).key_name).toBe('mykey');
  });

  it('parses JSON templates', async () => {
    const json = JSON.stringify({
      heat_template_version: '2016-04-08',
      parameters: { n: { type: 'number', default: 4 } },
      resources: { r: { type: 'OS::Heat::None', properties: { v: { get_param: 'n' } } } },
    });
    const t = await parseTemplate(json);
    expect(t.resolveProperties('r')).toEqual({ v: 4 });
  });

  it('reads YAML as Heat (PyYAML 1.1 without timestamps) does', async () => {
    const t = await parseTemplate(
      hot(
        '2016-10-14',
        'resources:\n  r:\n    type: T\n    properties: {a: yes, b: Off, c: y, d: 0755, e: 2016-10-14, f: "on", g: [1, 2.5]}\n',
      ),
    );
    expect(t.resolveProperties('r')).toEqual({
      a: true,
      b: false,
      c: 'y',
      d: 493,
      e: '2016-10-14',
      f: 'on',
      g: [1, 2.5],
    });
  });

  it('reports invalid YAML with line and column', async () => {
    const err = await expectTemplateError(parseTemplate(BAD_YAML), {
      kind: 'SYNTAX',
      path: '',
      message: /invalid YAML/,
    });
    expect(err.line).toBeGreaterThanOrEqual(6);
    expect(err.column).toBeGreaterThan(0);
    expect(err.message).toMatch(/\(line \d+, column \d+\)$/);
    await expectTemplateError(
      parseTemplate('heat_template_version: 2015-10-15\nresources: {a: 1, a: 2}\n'),
      {
        kind: 'SYNTAX',
        path: '',
        line: 2,
      },
    );
  });

  it('accepts every version name and alias, and rejects others', async () => {
    expect(VERSION_NAMES).toEqual(
      expect.arrayContaining([
        '2013-05-23',
        '2014-10-16',
        '2015-04-30',
        '2015-10-15',
        '2016-04-08',
        '2016-10-14',
        'newton',
        '2017-02-24',
        'ocata',
        '2017-09-01',
        'pike',
        '2018-03-02',
        'queens',
        '2018-08-31',
        'rocky',
        '2021-04-16',
        'wallaby',
      ]),
    );
    for (const v of VERSION_NAMES) {
      const t = await parseTemplate(hot(v, 'resources: {r: {type: OS::Heat::None}}\n'));
      expect(t.version.name).toMatch(/^\d{4}-\d\d-\d\d$/);
    }
    expect((await parseTemplate(hot('pike', ''))).version.name).toBe('2017-09-01');
    await expectTemplateError(parseTemplate(hot('2016-10-15', '')), {
      kind: 'VERSION',
      path: 'heat_template_version',
      message: /unknown template version '2016-10-15'/,
      line: 1,
    });
    await expectTemplateError(parseTemplate('resources: {}\n'), {
      kind: 'VERSION',
      path: '',
      message: /no heat_template_version/,
    });
    await expectTemplateError(parseTemplate('AWSTemplateFormatVersion: 2010-09-09\n'), {
      kind: 'VERSION',
      path: '',
      message: /CloudFormation/,
    });
  });

  it('rejects unknown sections, and conditions before 2016-10-14', async () => {
    await expectTemplateError(
      parseTemplate(hot('2016-10-14', 'description: x\nresource:\n  a: {type: T}\n')),
      {
        kind: 'SECTION',
        path: 'resource',
        message: /unknown section 'resource'/,
        line: 3,
      },
    );
    await expectTemplateError(parseTemplate(hot('2016-04-08', 'conditions: {a: true}\n')), {
      kind: 'SECTION',
      path: 'conditions',
      message: /needs heat_template_version 2016-10-14/,
    });
    await expectTemplateError(parseTemplate(hot('2016-10-14', 'resources: [a, b]\n')), {
      kind: 'SECTION',
      path: 'resources',
    });
  });

  it('checks resource keys, type and deletion policy', async () => {
    const res = (body: string, v = '2016-10-14') =>
      parseTemplate(hot(v, `resources:\n  server:\n${body}`));
    await expectTemplateError(res('    type: OS::Nova::Server\n    propertys: {}\n'), {
      kind: 'RESOURCE',
      path: 'resources.server.propertys',
      message: /unknown resource key 'propertys'/,
      line: 5,
    });
    await expectTemplateError(res('    properties: {}\n'), {
      kind: 'RESOURCE',
      path: 'resources.server',
      message: /no type/,
    });
    await expectTemplateError(res('    type: [a]\n'), {
      kind: 'RESOURCE',
      path: 'resources.server.type',
    });
    await expectTemplateError(res('    type: T\n    properties: [1]\n'), {
      kind: 'RESOURCE',
      path: 'resources.server.properties',
    });
    await expectTemplateError(res('    type: T\n    depends_on: {a: b}\n'), {
      kind: 'RESOURCE',
      path: 'resources.server.depends_on',
    });
    await expectTemplateError(res('    type: T\n    depends_on: [ghost]\n'), {
      kind: 'REFERENCE',
      path: 'resources.server.depends_on[0]',
      message: /'ghost' is not defined/,
    });
    await expectTemplateError(res('    type: T\n    deletion_policy: Keep\n'), {
      kind: 'RESOURCE',
      path: 'resources.server.deletion_policy',
      message: /Delete, Retain or Snapshot/,
    });
    await expectTemplateError(res('    type: T\n    deletion_policy: retain\n', '2016-04-08'), {
      kind: 'RESOURCE',
      path: 'resources.server.deletion_policy',
    });
    const t = await res('    type: T\n    deletion_policy: retain\n    external_id: abc\n');
    expect(t.resources.server.deletionPolicy).toBe('Retain');
    expect(t.resources.server.externalId).toBe('abc');
    await expectTemplateError(res('    type: T\n    condition: true\n', '2016-04-08'), {
      kind: 'RESOURCE',
      path: 'resources.server.condition',
      message: /needs heat_template_version 2016-10-14/,
    });
    await expectTemplateError(res('    type: T\n    update_policy: 5\n'), {
      kind: 'RESOURCE',
      path: 'resources.server.update_policy',
    });
  });

  it('evaluates get_param in deletion_policy, and checks update_policy and external_id functions', async () => {
    const t = await parseTemplate(
      hot(
        '2016-10-14',
        'parameters:\n  keep: {type: string, default: Retain}\nresources:\n  v:\n    type: OS::Cinder::Volume\n    deletion_policy: {get_param: keep}\n    update_policy: {batch: {get_param: keep}}\n    external_id: {str_replace: {template: id-x, params: {x: 1}}}\n',
      ),
    );
    expect(t.resources.v.deletionPolicy).toBe('Retain');
    expect(t.resolve(t.resources.v.externalId)).toBe('id-1');
    expect(t.resolve(t.resources.v.updatePolicy)).toEqual({ batch: 'Retain' });
    await expectTemplateError(
      parseTemplate(
        hot(
          '2016-10-14',
          'resources:\n  v:\n    type: T\n    update_policy: {x: {get_param: nope}}\n',
        ),
      ),
      { kind: 'REFERENCE', path: 'resources.v.update_policy.x.get_param', line: 5 },
    );
  });

  it('checks outputs and parameter groups', async () => {
    await expectTemplateError(
      parseTemplate(hot('2015-10-15', 'outputs:\n  o: {description: x}\n')),
      {
        kind: 'SECTION',
        path: 'outputs.o',
        message: /no value/,
      },
    );
    await expectTemplateError(
      parseTemplate(hot('2015-10-15', 'outputs:\n  o: {value: 1, condition: true}\n')),
      {
        kind: 'SECTION',
        path: 'outputs.o.condition',
      },
    );
    await expectTemplateError(
      parseTemplate(
        hot(
          '2015-10-15',
          'parameters: {a: {type: string, default: x}}\nparameter_groups:\n  - parameters: [a, b]\n',
        ),
      ),
      {
        kind: 'REFERENCE',
        path: 'parameter_groups[0].parameters[1]',
        message: /"b" is not defined/,
      },
    );
    await expectTemplateError(
      parseTemplate(
        hot(
          '2015-10-15',
          'parameters: {a: {type: string, default: x}}\nparameter_groups:\n  - parameters: [a]\n  - parameters: [a]\n',
        ),
      ),
      { kind: 'SECTION', path: 'parameter_groups[1].parameters[0]', message: /already in group 0/ },
    );
  });

  it('checks types and properties against the engine schema, and attributes', async () => {
    const resourceTypes = (type: string) =>
      type === 'OS::Nova::Server'
        ? {
            properties: { flavor: { required: true }, image: {}, name: {} },
            attributes: ['first_address', 'networks'],
          }
        : type === 'OS::Heat::None'
          ? { properties: null, attributes: [] }
          : null;
    const base = 'resources:\n  s:\n    type: OS::Nova::Server\n    properties: {flavor: m1}\n';
    await expectTemplateError(
      parseTemplate(hot('2017-09-01', `${base}  x:\n    type: OS::Nova::Servr\n`), {
        resourceTypes,
      }),
      {
        kind: 'RESOURCE',
        path: 'resources.x.type',
        message: /unknown resource type 'OS::Nova::Servr'/,
        line: 7,
      },
    );
    await expectTemplateError(
      parseTemplate(
        hot(
          '2017-09-01',
          'resources:\n  s:\n    type: OS::Nova::Server\n    properties: {image: i}\n',
        ),
        { resourceTypes },
      ),
      {
        kind: 'RESOURCE',
        path: 'resources.s.properties',
        message: /required property 'flavor'/,
      },
    );
    await expectTemplateError(
      parseTemplate(
        hot(
          '2017-09-01',
          'resources:\n  s:\n    type: OS::Nova::Server\n    properties: {flavor: f, flavour: g}\n',
        ),
        { resourceTypes },
      ),
      {
        kind: 'RESOURCE',
        path: 'resources.s.properties.flavour',
      },
    );
    await expectTemplateError(
      parseTemplate(
        hot(
          '2017-09-01',
          `${base}  n:\n    type: OS::Heat::None\n    properties: {v: {get_attr: [s, first_adress]}}\n`,
        ),
        { resourceTypes },
      ),
      {
        kind: 'REFERENCE',
        path: 'resources.n.properties.v.get_attr[1]',
        message: /has no attribute 'first_adress'/,
        line: 8,
      },
    );
    const ok = await parseTemplate(
      hot(
        '2017-09-01',
        `${base}  n:\n    type: OS::Heat::None\n    properties: {v: {get_attr: [s, show]}, w: {get_attr: [s, networks, private, 0]}}\n`,
      ),
      { resourceTypes },
    );
    expect(ok.resources.n.requires).toEqual(['s']);
  });
});
