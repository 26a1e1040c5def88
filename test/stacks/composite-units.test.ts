import { describe, expect, it } from 'vitest';
import type { ServiceContext } from '../../resolvers/runtime';
import { cloudConfigText } from '../../resolvers/stacks/resources/heat-composite/cloud-config';
import {
  groupTemplate,
  replaceIndex,
} from '../../resolvers/stacks/resources/heat-composite/group-template';
import {
  buildMultipart,
  parseMultipart,
  pythonBoundary,
} from '../../resolvers/stacks/resources/heat-composite/mime';
import {
  memberNames,
  resourceGroup,
} from '../../resolvers/stacks/resources/heat-composite/resource-group';
import { inCooldown, newCapacity } from '../../resolvers/stacks/resources/heat-composite/scaling';
import { TEMPLATE_RESOURCE_KEY } from '../../resolvers/stacks/resources/heat-composite/template-resource';
import { acceptSignal } from '../../resolvers/stacks/resources/heat-composite/wait-handle';
import type { EngineServices, ResourceContext } from '../../resolvers/stacks/resources/plugin';
import {
  findPlugin,
  resourceTypeSchema,
  TEMPLATE_RESOURCE_TYPE,
} from '../../resolvers/stacks/resources/registry';

/**
 * Unit tests of the composite types' pure parts (texts as Heat builds them, scaling maths,
 * member naming) and of ResourceGroup against a recording test double of EngineServices.
 */

const B = '===============0123456789012345678==';

describe('MultipartMime text', () => {
  it('builds what Python email.mime gives Heat: 7bit ascii parts, filename, subtype', () => {
    const text = buildMultipart(
      [
        { text: '#!/bin/sh\necho hello', subtype: 'x-shellscript', filename: 'hello.sh' },
        { text: '#cloud-config\npackages: []\n', subtype: '', filename: '' },
      ],
      B,
    );
    expect(text).toBe(
      `Content-Type: multipart/mixed; boundary="${B}"
MIME-Version: 1.0

--${B}
Content-Type: text/x-shellscript; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: 7bit
Content-Disposition: attachment; filename="hello.sh"

#!/bin/sh
echo hello
--${B}
Content-Type: text/plain; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: 7bit

#cloud-config
packages: []

--${B}--
`,
    );
  });

  it('puts non-ASCII text in utf-8 base64, and reads its own parts back', () => {
    const text = buildMultipart([{ text: 'héllo', subtype: '', filename: '' }], B);
    expect(text).toBe(
      `Content-Type: multipart/mixed; boundary="${B}"
MIME-Version: 1.0

--${B}
Content-Type: text/plain; charset="utf-8"
MIME-Version: 1.0
Content-Transfer-Encoding: base64

aMOpbGxv

--${B}--
`,
    );
    expect(parseMultipart(text)).toEqual([{ text: 'héllo', subtype: 'plain', filename: '' }]);
    const two = buildMultipart(
      [
        { text: 'a\nb', subtype: 'x-shellscript', filename: 'a.sh' },
        { text: 'c', subtype: '', filename: '' },
      ],
      B,
    );
    expect(parseMultipart(two)).toEqual([
      { text: 'a\nb', subtype: 'x-shellscript', filename: 'a.sh' },
      { text: 'c', subtype: 'plain', filename: '' },
    ]);
    expect(parseMultipart('#!/bin/sh\nnot multipart')).toEqual([]);
  });

  it('makes boundaries as Python does: 15 "=", 19 digits, "=="', () => {
    expect(pythonBoundary()).toMatch(/^={15}\d{19}==$/);
  });
});

describe('CloudConfig text', () => {
  it('is #cloud-config and the map as PyYAML dumps it (sorted, block style, 1.1 quoting)', () => {
    expect(
      cloudConfigText({
        users: [{ name: 'demo', groups: 'wheel' }],
        packages: ['nginx'],
        runcmd: [['systemctl', 'start', 'nginx']],
        write_files: [{ path: '/etc/motd', content: 'hi', permissions: '0644' }],
        package_update: true,
        ssh_pwauth: 'no',
      }),
    ).toBe(`#cloud-config
package_update: true
packages:
- nginx
runcmd:
- - systemctl
  - start
  - nginx
ssh_pwauth: 'no'
users:
- groups: wheel
  name: demo
write_files:
- content: hi
  path: /etc/motd
  permissions: '0644'
`);
    expect(cloudConfigText({})).toBe('#cloud-config\n{}\n');
  });
});

describe('wait condition signals', () => {
  const state = { physicalId: 'h', properties: {}, data: { token: 't', signals: {} } };
  it('defaults as Heat: SUCCESS, numbered id, "Signal N received"', () => {
    const one = acceptSignal(state, {});
    expect(one.signals).toEqual({
      '1': { status: 'SUCCESS', reason: 'Signal 1 received', data: null },
    });
    const two = acceptSignal(
      { ...state, data: one },
      { id: 'web', status: 'FAILURE', reason: 'boom', data: 'x' },
    );
    expect(Object.keys(two.signals as object)).toEqual(['1', 'web']);
    expect(one.token).toBe('t');
  });
  it('refuses a bad status or an unknown key, naming it', () => {
    expect(() => acceptSignal(state, { status: 'DONE' })).toThrow(/details\.status/);
    expect(() => acceptSignal(state, { colour: 'red' })).toThrow(/details\.colour/);
    expect(() => acceptSignal(state, [1])).toThrow(/JSON object/);
  });
});

describe('scaling maths (Heat scalingutil)', () => {
  const change = (n: number) => ({
    adjustmentType: 'change_in_capacity' as const,
    scalingAdjustment: n,
  });
  it('changes, sets and percent-changes capacity within min/max', () => {
    expect(newCapacity(2, change(1), 1, 5)).toBe(3);
    expect(newCapacity(5, change(1), 1, 5)).toBe(5);
    expect(newCapacity(1, change(-3), 1, 5)).toBe(1);
    expect(newCapacity(2, { adjustmentType: 'exact_capacity', scalingAdjustment: 4 }, 1, 5)).toBe(
      4,
    );
    const pct = (n: number, step?: number) => ({
      adjustmentType: 'percent_change_in_capacity' as const,
      scalingAdjustment: n,
      minAdjustmentStep: step,
    });
    expect(newCapacity(4, pct(10), 0, 100)).toBe(5); // 0.4 rounds away from zero
    expect(newCapacity(10, pct(-15), 0, 100)).toBe(9); // -1.5 rounds towards zero
    expect(newCapacity(10, pct(25), 0, 100)).toBe(12);
    expect(newCapacity(10, pct(10, 3), 0, 100)).toBe(13);
  });
  it('cooldown', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    expect(inCooldown('2026-01-01T00:00:30Z', 60, now)).toBe(true);
    expect(inCooldown('2026-01-01T00:00:00Z', 60, now)).toBe(false);
    expect(inCooldown(undefined, 60, now)).toBe(false);
    expect(inCooldown('2026-01-01T00:00:59Z', 0, now)).toBe(false);
  });
});

describe('ResourceGroup', () => {
  it('names members by index, skipping removed ones, and replaces %index% everywhere', () => {
    expect(memberNames(3, new Set())).toEqual(['0', '1', '2']);
    expect(memberNames(3, new Set(['1']))).toEqual(['0', '2', '3']);
    expect(
      replaceIndex({ 'k-%index%': ['n-%index%', 3, { x: '%index%%index%' }] }, '%index%', '7'),
    ).toEqual({
      'k-7': ['n-7', 3, { x: '77' }],
    });
    const t = groupTemplate(
      ['0', '2'],
      { type: 'OS::Heat::Value', properties: { value: 'v%index%' } },
      '%index%',
    );
    expect(t.resources).toEqual({
      '0': { type: 'OS::Heat::Value', properties: { value: 'v0' } },
      '2': { type: 'OS::Heat::Value', properties: { value: 'v2' } },
    });
    expect(t.outputs).toEqual({
      refs_map: { value: { '0': { get_resource: '0' }, '2': { get_resource: '2' } } },
    });
  });

  it('scales through applyNestedStack, removal_policies by name or physical ID (engine double)', async () => {
    const applied: Array<Record<string, unknown>> = [];
    const engine: EngineServices = {
      async applyNestedStack(input) {
        applied.push(JSON.parse(input.template));
        return 'child-1';
      },
      async nestedStatus() {
        return { status: 'UPDATE_COMPLETE', reason: null };
      },
      async nestedOutputs() {
        const last = applied.at(-1)!.resources as Record<string, unknown>;
        return { refs_map: Object.fromEntries(Object.keys(last).map((m) => [m, `phys-${m}`])) };
      },
      async deleteNestedStack() {},
      signalUrl: () => 'http://x/signal',
    };
    const ctx: ResourceContext = {
      svc: {} as ServiceContext,
      stack: { id: 's', name: 'st', projectId: 'p' },
      name: 'group',
      physicalName: 'st-group-abc',
      path: 'resources.group.properties',
      engine,
    };
    const def = { type: 'OS::Heat::RandomString', properties: { length: 8 } };
    const members = () => Object.keys(applied.at(-1)!.resources as object);
    const created = await resourceGroup.create(ctx, { count: 3, resource_def: def });
    expect(created.physicalId).toBe('child-1');
    expect(members()).toEqual(['0', '1', '2']);
    let state = { physicalId: 'child-1', properties: { count: 3 }, data: created.data! };
    const grow = await resourceGroup.update!(ctx, state, { count: 5, resource_def: def }, [
      'count',
    ]);
    expect(members()).toEqual(['0', '1', '2', '3', '4']);
    state = { ...state, data: (grow as { data: Record<string, unknown> }).data };
    const shrink = await resourceGroup.update!(
      ctx,
      state,
      { count: 2, resource_def: def, removal_policies: [{ resource_list: ['1', 'phys-3'] }] },
      ['count', 'removal_policies'],
    );
    expect(members()).toEqual(['0', '2']);
    expect((shrink as { data: Record<string, unknown> }).data.removed).toEqual(['1', '3']);
    await expect(resourceGroup.create(ctx, { count: -1, resource_def: def })).rejects.toThrow(
      /resources\.group\.properties\.count/,
    );
    await expect(
      resourceGroup.create(ctx, { count: 1, resource_def: { type: 'OS::No::Such' } }),
    ).rejects.toThrow(/resources\.group\.properties\.resource_def\.type: unknown resource type/);
    expect(applied).toHaveLength(3);
  });
});

describe('registry', () => {
  it('registers every composite type, the template-resource key agreeing with the registry', () => {
    expect(TEMPLATE_RESOURCE_KEY).toBe(TEMPLATE_RESOURCE_TYPE);
    for (const type of [
      'OS::Heat::SoftwareConfig',
      'OS::Heat::CloudConfig',
      'OS::Heat::MultipartMime',
      'OS::Heat::WaitConditionHandle',
      'OS::Heat::WaitCondition',
      'OS::Heat::ResourceGroup',
      'OS::Heat::Stack',
      'OS::Heat::AutoScalingGroup',
      'OS::Heat::ScalingPolicy',
      TEMPLATE_RESOURCE_TYPE,
    ])
      expect(findPlugin(type)?.type).toBe(type);
    expect(resourceTypeSchema('OS::Heat::ResourceGroup')?.attributes).toBeUndefined();
    expect(resourceTypeSchema('OS::Heat::WaitConditionHandle')?.attributes).toContain('curl_cli');
  });
});
