import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawId } from '../support/compute';
import type { Json, TestStratus } from '../support/harness';
import type { SeededUser } from '../support/seed';
import { sqlCount, startComputeTestbed } from '../support/servers';
import { backendFiles } from '../volume/volumes-support';
import { createStack, settled, stackCounts, stackMutation, waitForStack } from './api-support';

/**
 * The cinder, swift and aodh types through the whole stack path (createStack, updateStack,
 * deleteStack on the real server and engine; fake compute driver, real qcow2 volumes): a
 * volume attached to a server of the same stack, a public container and an alarm on the
 * server come up, the volume grows and is renamed in place while attached, and the delete
 * leaves no volume, file, attachment, container or alarm.
 */

let s: TestStratus;
let member: SeededUser;
let flavorId: string;

beforeAll(async () => {
  const bed = await startComputeTestbed();
  s = bed.s;
  flavorId = bed.flavorId;
  member = await bed.seed.member('member');
}, 120_000);
afterAll(() => s?.stop());

const template = `heat_template_version: 2018-08-31
parameters:
  flavor: {type: string}
  size: {type: number, default: 1}
  vol_name: {type: string, default: data}
  vol_type: {type: string, default: __DEFAULT__}
resources:
  vol:
    type: OS::Cinder::Volume
    properties:
      size: {get_param: size}
      name: {get_param: vol_name}
      volume_type: {get_param: vol_type}
      metadata: {role: db}
  server:
    type: OS::Nova::Server
    properties: {flavor: {get_param: flavor}, image: public-disk}
  attach:
    type: OS::Cinder::VolumeAttachment
    properties: {instance_uuid: {get_resource: server}, volume_id: {get_resource: vol}}
  bucket:
    type: OS::Swift::Container
    properties: {X-Container-Read: ".r:*", PurgeOnDelete: true}
  cpu_high:
    type: OS::Aodh::Alarm
    properties:
      meter_name: cpu_util
      statistic: avg
      period: 60
      threshold: 80
      comparison_operator: gt
      query: [{field: resource_id, op: eq, value: {get_resource: server}}]
outputs:
  size: {value: {get_attr: [vol, size]}}
  attached_to: {value: {get_attr: [vol, attachments_list, 0, server_id]}}
  server: {value: {get_resource: server}}
  website: {value: {get_attr: [bucket, WebsiteURL]}}
  alarm_state: {value: {get_attr: [cpu_high, state]}}
`;

const VIEW = `id status statusReason outputs { key value error }
  resources { edges { node { name status physicalResourceId } } }`;

const outputsOf = (stack: Json) =>
  Object.fromEntries(stack.outputs.map((o: Json) => [o.key, o.value]));
const physicalIds = (stack: Json) =>
  Object.fromEntries(
    stack.resources.edges.map((e: Json) => [e.node.name, e.node.physicalResourceId]),
  );

async function rows() {
  const project = rawId(member.projectId);
  const count = (table: string) =>
    sqlCount(s, `select count(*) from ${table} where project_id = $1`, [project]);
  return {
    volumes: await count('volumes'),
    attachments: await sqlCount(s, 'select count(*) from volume_attachments', []),
    containers: await count('containers'),
    alarms: await count('alarms'),
    servers: await sqlCount(
      s,
      "select count(*) from servers where project_id = $1 and vm_state <> 'deleted'",
      [project],
    ),
  };
}

describe('a cinder + swift + aodh stack', () => {
  it('creates, updates the attached volume in place, and deletes leaving nothing', async () => {
    const created = await createStack(s, member.token, {
      name: 'storage',
      template,
      parameters: { flavor: rawId(flavorId) },
    });
    expect(created.__typename, JSON.stringify(created)).toBe('CreateStackSuccess');
    const id = created.stack.id;
    const done = await waitForStack(s, member.token!, id, settled, VIEW, 90_000);
    expect(done!.status, done!.statusReason).toBe('CREATE_COMPLETE');
    const out = outputsOf(done!);
    const ids = physicalIds(done!);
    expect(out.size).toBe(1);
    expect(out.attached_to).toBe(out.server);
    expect(
      String(out.website).startsWith(`${s.url}/v1/AUTH_${rawId(member.projectId)}/storage-bucket-`),
    ).toBe(true);
    expect(out.alarm_state).toBe('insufficient data');
    expect(await rows()).toMatchObject({ volumes: 1, attachments: 1, containers: 1, alarms: 1 });
    const { rows: alarm } = await s.stratus.runtime.pool.query(
      'select resource_type, resource_ids from alarms where id = $1',
      [ids.cpu_high],
    );
    expect(alarm).toEqual([{ resource_type: 'server', resource_ids: [out.server] }]);

    // In place: the attached volume grows (online extend) and is renamed; ids stay.
    const updated = await stackMutation(s, member.token, 'updateStack', 'UpdateStackInput', {
      id,
      template,
      parameters: { flavor: rawId(flavorId), size: 2, vol_name: 'data-2' },
    });
    expect(updated.__typename, JSON.stringify(updated)).toBe('UpdateStackSuccess');
    const after = await waitForStack(s, member.token!, id, settled, VIEW, 90_000);
    expect(after!.status, after!.statusReason).toBe('UPDATE_COMPLETE');
    expect(physicalIds(after!)).toEqual(ids);
    expect(outputsOf(after!).size).toBe(2);
    const { rows: vol } = await s.stratus.runtime.pool.query(
      'select name, size_gib, status from volumes where id = $1',
      [ids.vol],
    );
    expect(vol).toEqual([{ name: 'data-2', size_gib: 2, status: 'in-use' }]);

    const deleted = await stackMutation(s, member.token, 'deleteStack', 'DeleteStackInput', { id });
    expect(deleted.__typename, JSON.stringify(deleted)).toBe('DeleteStackSuccess');
    await waitForStack(s, member.token!, id, (st) => st === null, 'id status', 90_000);
    expect(await rows()).toEqual({
      volumes: 0,
      attachments: 0,
      containers: 0,
      alarms: 0,
      servers: 0,
    });
    expect(backendFiles(s)).toEqual([]);
  });

  it('refuses a bad size and an unknown volume type by property path, creating nothing', async () => {
    const before = { rows: await rows(), stacks: await stackCounts(s) };
    const size = await createStack(s, member.token, {
      name: 'bad-size',
      template,
      parameters: { flavor: rawId(flavorId), size: 0 },
    });
    expect(size).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'resources.vol.properties.size',
    });
    const type = await createStack(s, member.token, {
      name: 'bad-type',
      template,
      parameters: { flavor: rawId(flavorId), vol_type: 'platinum' },
    });
    expect(type).toMatchObject({
      __typename: 'InvalidInputError',
      field: 'resources.vol.properties.volume_type',
    });
    expect({ rows: await rows(), stacks: await stackCounts(s) }).toEqual(before);
  });
});
