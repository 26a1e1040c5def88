import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Action, POLICY, type Rule } from '../../resolvers/policy';
import { type Json, startTestStratus, type TestStratus } from '../support/harness';
import { Seed } from '../support/seed';

/** Callers the policy table distinguishes; `none` is a valid token with no role at all. */
const CALLERS = ['admin', 'member', 'reader', 'none', 'anonymous'] as const;
type Caller = (typeof CALLERS)[number];

/** The rule's meaning, written independently of resolvers/policy.ts `allows`. */
const ALLOWED: Record<Rule, Caller[]> = {
  public: ['admin', 'member', 'reader', 'none', 'anonymous'],
  authenticated: ['admin', 'member', 'reader', 'none'],
  reader: ['admin', 'member', 'reader'],
  member: ['admin', 'member'],
  admin: ['admin'],
};
const allowed = (caller: Caller, action: Action) => ALLOWED[POLICY[action]].includes(caller);

let s: TestStratus;
const tokens: Partial<Record<Caller, string | null>> = {};
let projectId: string;

beforeAll(async () => {
  s = await startTestStratus();
  const seed = new Seed(s);
  projectId = await seed.project('policy-project');
  tokens.admin = s.adminToken;
  tokens.member = (await seed.member('member', projectId)).token;
  tokens.reader = (await seed.member('reader', projectId)).token;
  tokens.none = (await seed.member(null)).token;
  tokens.anonymous = null;
});
afterAll(() => s?.stop());

/** Each top-level query field and the action that guards it. */
const QUERY_FIELDS: Array<[string, string, Action]> = [
  ['viewer', 'viewer { roles }', 'identity:get_viewer'],
  ['catalog', 'catalog { version }', 'catalog:get'],
  ['domains', 'domains { totalCount }', 'identity:list_domains'],
  ['projects', 'projects { totalCount }', 'identity:list_projects'],
  ['users', 'users { totalCount }', 'identity:list_users'],
  ['groups', 'groups { totalCount }', 'identity:list_groups'],
  ['roles', 'roles { totalCount }', 'identity:list_roles'],
  ['roleAssignments', 'roleAssignments { totalCount }', 'identity:list_role_assignments'],
  [
    'applicationCredentials',
    'applicationCredentials { totalCount }',
    'identity:list_application_credentials',
  ],
  ['projectQuota', 'projectQuota(projectId: $p) { resource }', 'quota:get'],
  ['operations', 'operations { totalCount }', 'operation:list'],
  ['containers', 'containers { totalCount }', 'objects:list_containers'],
  ['flavors', 'flavors { totalCount }', 'compute:list_flavors'],
  ['keypairs', 'keypairs { totalCount }', 'compute:manage_keypairs'],
  ['images', 'images { totalCount }', 'images:list'],
  ['servers', 'servers { totalCount }', 'compute:list_servers'],
  ['serverGroups', 'serverGroups { totalCount }', 'compute:list_server_groups'],
  ['hypervisors', 'hypervisors { hostname }', 'compute:list_hypervisors'],
  ['volumes', 'volumes { totalCount }', 'volume:list'],
  ['volumeSnapshots', 'volumeSnapshots { totalCount }', 'volume:list'],
  ['volumeTypes', 'volumeTypes { totalCount }', 'volume:list_types'],
  ['networks', 'networks { totalCount }', 'network:list'],
  ['subnets', 'subnets { totalCount }', 'network:list'],
  ['ports', 'ports { totalCount }', 'network:list'],
  ['securityGroups', 'securityGroups { totalCount }', 'network:list'],
  ['routers', 'routers { totalCount }', 'network:list'],
  ['floatingIps', 'floatingIps { totalCount }', 'network:list'],
  ['alarms', 'alarms { totalCount }', 'alarm:list'],
  ['auditEvents', 'auditEvents { totalCount }', 'audit:list'],
  ['baremetalNodes', 'baremetalNodes { totalCount }', 'baremetal:list_nodes'],
  ['meters', 'meters { name }', 'metric:list_meters'],
  ['archivePolicies', 'archivePolicies { name }', 'metric:list_meters'],
  [
    'metricsAggregate',
    'metricsAggregate(meter: "cpu_util", resourceType: SERVER, projectId: $p) { key }',
    'metric:aggregate',
  ],
  [
    'usageReport',
    'usageReport(projectId: $p, from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z") { vcpuHours }',
    'metric:usage_report',
  ],
  ['stacks', 'stacks { totalCount }', 'stack:list'],
  ['resourceTypes', 'resourceTypes', 'stack:list_resource_types'],
  [
    'validateTemplate',
    'validateTemplate(input: { template: "heat_template_version: 2018-08-31" }) { __typename }',
    'stack:validate_template',
  ],
];

describe('one query under each role, field by field against the policy table', () => {
  const query = `query($p: ID!) { ${QUERY_FIELDS.map(([, sel]) => sel).join('\n')} }`;

  it.each(CALLERS)('as %s', async (caller) => {
    const result = await s.gql(query, { p: projectId }, tokens[caller]);
    expect(result.data).toBeTruthy();
    for (const [field, , action] of QUERY_FIELDS) {
      const error = result.errors?.find((e) => e.path?.[0] === field);
      if (allowed(caller, action)) {
        expect(error, `${caller} should read ${field}`).toBeUndefined();
        expect(result.data[field], `${caller} reads ${field}`).not.toBeNull();
      } else {
        expect(result.data[field], `${caller} must not read ${field}`).toBeNull();
        expect(error?.extensions?.code).toBe(
          caller === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN',
        );
      }
    }
  });
});

const gid = (type: string) => encodeGlobalID(type, randomUUID());

/** Every identity mutation with a well-formed input naming things that do not exist. */
const MUTATIONS: Array<[string, Action, string, Record<string, Json>]> = [
  [
    'createDomain',
    'identity:create_domain',
    'CreateDomainInput!',
    { name: `d-${randomUUID().slice(0, 8)}` },
  ],
  ['updateDomain', 'identity:update_domain', 'UpdateDomainInput!', { id: gid('Domain') }],
  [
    'createProject',
    'identity:create_project',
    'CreateProjectInput!',
    { domainId: gid('Domain'), name: 'x' },
  ],
  ['updateProject', 'identity:update_project', 'UpdateProjectInput!', { id: gid('Project') }],
  [
    'createUser',
    'identity:create_user',
    'CreateUserInput!',
    { domainId: gid('Domain'), name: 'x' },
  ],
  ['updateUser', 'identity:update_user', 'UpdateUserInput!', { id: gid('User') }],
  [
    'createGroup',
    'identity:create_group',
    'CreateGroupInput!',
    { domainId: gid('Domain'), name: 'x' },
  ],
  ['updateGroup', 'identity:update_group', 'UpdateGroupInput!', { id: gid('Group') }],
  [
    'addUserToGroup',
    'identity:manage_group_members',
    'GroupMembershipInput!',
    { groupId: gid('Group'), userId: gid('User') },
  ],
  [
    'removeUserFromGroup',
    'identity:manage_group_members',
    'GroupMembershipInput!',
    { groupId: gid('Group'), userId: gid('User') },
  ],
  [
    'createRole',
    'identity:create_role',
    'CreateRoleInput!',
    { name: `r-${randomUUID().slice(0, 8)}` },
  ],
  ['updateRole', 'identity:update_role', 'UpdateRoleInput!', { id: gid('Role') }],
  [
    'assignRole',
    'identity:assign_role',
    'RoleAssignmentInput!',
    { roleId: gid('Role'), userId: gid('User'), system: true },
  ],
  [
    'unassignRole',
    'identity:unassign_role',
    'RoleAssignmentInput!',
    { roleId: gid('Role'), userId: gid('User'), system: true },
  ],
  [
    'setProjectQuota',
    'quota:set',
    'SetProjectQuotaInput!',
    { projectId: gid('Project'), limits: [{ resource: 'instances', limit: 1 }] },
  ],
  [
    'createApplicationCredential',
    'identity:create_application_credential',
    'CreateApplicationCredentialInput!',
    { name: `ac-${randomUUID().slice(0, 8)}` },
  ],
  [
    'startTestOperation',
    'operation:start_test',
    'StartTestOperationInput!',
    { stages: 1, stageMillis: 0 },
  ],
  [
    'createContainer',
    'objects:create_container',
    'CreateContainerInput!',
    { name: `c-${randomUUID().slice(0, 8)}` },
  ],
  [
    'updateContainer',
    'objects:update_container',
    'UpdateContainerInput!',
    { id: gid('Container') },
  ],
  [
    'deleteObject',
    'objects:write_object',
    'ObjectRefInput!',
    { containerId: gid('Container'), name: 'x' },
  ],
  [
    'bulkDeleteObjects',
    'objects:write_object',
    'BulkDeleteObjectsInput!',
    { containerId: gid('Container'), names: ['x'] },
  ],
  [
    'copyObject',
    'objects:write_object',
    'CopyObjectInput!',
    {
      from: { containerId: gid('Container'), name: 'x' },
      to: { containerId: gid('Container'), name: 'y' },
    },
  ],
  [
    'updateObjectMetadata',
    'objects:write_object',
    'UpdateObjectMetadataInput!',
    { containerId: gid('Container'), name: 'x', metadata: {} },
  ],
  [
    'createTempUrl',
    'objects:create_temp_url',
    'CreateTempUrlInput!',
    { containerId: gid('Container'), objectName: 'x', method: 'GET', expiresInSeconds: 60 },
  ],
  [
    'createFlavor',
    'compute:manage_flavors',
    'CreateFlavorInput!',
    { name: `f-${randomUUID().slice(0, 8)}`, vcpus: 1, ramMib: 256, rootDiskGib: 1 },
  ],
  [
    'addFlavorAccess',
    'compute:manage_flavors',
    'FlavorAccessInput!',
    { flavorId: gid('Flavor'), projectIds: [gid('Project')] },
  ],
  [
    'importKeypair',
    'compute:manage_keypairs',
    'ImportKeypairInput!',
    { name: 'k', publicKey: 'not a key' },
  ],
  [
    'generateKeypair',
    'compute:manage_keypairs',
    'GenerateKeypairInput!',
    { name: `k-${randomUUID().slice(0, 8)}` },
  ],
  ['createImage', 'images:create', 'CreateImageInput!', { name: 'i', diskFormat: 'raw' }],
  ['updateImage', 'images:modify', 'UpdateImageInput!', { id: gid('Image') }],
  ['importImage', 'images:create', 'ImportImageInput!', { sourceImageId: gid('Image'), name: 'x' }],
  [
    'addImageMember',
    'images:modify',
    'ImageMemberInput!',
    { imageId: gid('Image'), projectId: gid('Project') },
  ],
  [
    'answerImageMembership',
    'images:answer_membership',
    'AnswerImageMembershipInput!',
    { imageId: gid('Image'), status: 'accepted' },
  ],
  ['startServer', 'compute:server_action', 'ServerIdInput!', { id: gid('Server') }],
  ['stopServer', 'compute:server_action', 'ServerIdInput!', { id: gid('Server') }],
  ['pauseServer', 'compute:server_action', 'ServerIdInput!', { id: gid('Server') }],
  ['unpauseServer', 'compute:server_action', 'ServerIdInput!', { id: gid('Server') }],
  ['suspendServer', 'compute:server_action', 'ServerIdInput!', { id: gid('Server') }],
  ['resumeServer', 'compute:server_action', 'ServerIdInput!', { id: gid('Server') }],
  ['confirmServerResize', 'compute:server_action', 'ServerIdInput!', { id: gid('Server') }],
  ['revertServerResize', 'compute:server_action', 'ServerIdInput!', { id: gid('Server') }],
  ['deleteServer', 'compute:delete_server', 'ServerIdInput!', { id: gid('Server') }],
  ['unlockServer', 'compute:server_action', 'ServerIdInput!', { id: gid('Server') }],
  ['lockServer', 'compute:server_action', 'LockServerInput!', { id: gid('Server') }],
  ['rebootServer', 'compute:server_action', 'RebootServerInput!', { id: gid('Server') }],
  ['updateServer', 'compute:server_action', 'UpdateServerInput!', { id: gid('Server') }],
  [
    'rebuildServer',
    'compute:server_action',
    'RebuildServerInput!',
    { id: gid('Server'), imageId: gid('Image') },
  ],
  [
    'resizeServer',
    'compute:server_action',
    'ResizeServerInput!',
    { id: gid('Server'), flavorId: gid('Flavor') },
  ],
  [
    'createServerImage',
    'compute:server_action',
    'CreateServerImageInput!',
    { id: gid('Server'), name: 'snap' },
  ],
  [
    'createServer',
    'compute:create_server',
    'CreateServerInput!',
    { name: 's', imageId: gid('Image'), flavorId: gid('Flavor') },
  ],
  [
    'createServerGroup',
    'compute:manage_server_groups',
    'CreateServerGroupInput!',
    { name: 'g', policy: 'ANTI_AFFINITY' },
  ],
  ['createNetwork', 'network:manage_networks', 'CreateNetworkInput!', { name: 'n' }],
  ['updateNetwork', 'network:manage_networks', 'UpdateNetworkInput!', { id: gid('Network') }],
  ['deleteNetwork', 'network:manage_networks', 'DeleteNetworkInput!', { id: gid('Network') }],
  [
    'createSubnet',
    'network:manage_subnets',
    'CreateSubnetInput!',
    { networkId: gid('Network'), cidr: '10.0.0.0/24' },
  ],
  ['updateSubnet', 'network:manage_subnets', 'UpdateSubnetInput!', { id: gid('Subnet') }],
  ['deleteSubnet', 'network:manage_subnets', 'DeleteSubnetInput!', { id: gid('Subnet') }],
  ['createPort', 'network:manage_ports', 'CreatePortInput!', { networkId: gid('Network') }],
  ['updatePort', 'network:manage_ports', 'UpdatePortInput!', { id: gid('Port') }],
  ['deletePort', 'network:manage_ports', 'DeletePortInput!', { id: gid('Port') }],
  [
    'createSecurityGroup',
    'network:manage_security_groups',
    'CreateSecurityGroupInput!',
    { name: `sg-${randomUUID().slice(0, 8)}` },
  ],
  [
    'updateSecurityGroup',
    'network:manage_security_groups',
    'UpdateSecurityGroupInput!',
    { id: gid('SecurityGroup') },
  ],
  [
    'deleteSecurityGroup',
    'network:manage_security_groups',
    'DeleteSecurityGroupInput!',
    { id: gid('SecurityGroup') },
  ],
  [
    'createSecurityGroupRule',
    'network:manage_security_groups',
    'CreateSecurityGroupRuleInput!',
    { securityGroupId: gid('SecurityGroup'), direction: 'INGRESS' },
  ],
  [
    'deleteSecurityGroupRule',
    'network:manage_security_groups',
    'DeleteSecurityGroupRuleInput!',
    { id: gid('SecurityGroupRule') },
  ],
  ['createRouter', 'network:manage_routers', 'CreateRouterInput!', { name: 'r' }],
  ['updateRouter', 'network:manage_routers', 'UpdateRouterInput!', { id: gid('Router') }],
  ['deleteRouter', 'network:manage_routers', 'DeleteRouterInput!', { id: gid('Router') }],
  [
    'addRouterInterface',
    'network:manage_routers',
    'RouterInterfaceInput!',
    { routerId: gid('Router'), subnetId: gid('Subnet') },
  ],
  [
    'removeRouterInterface',
    'network:manage_routers',
    'RouterInterfaceInput!',
    { routerId: gid('Router'), subnetId: gid('Subnet') },
  ],
  [
    'createFloatingIp',
    'network:manage_floating_ips',
    'CreateFloatingIpInput!',
    { floatingNetworkId: gid('Network') },
  ],
  [
    'updateFloatingIp',
    'network:manage_floating_ips',
    'UpdateFloatingIpInput!',
    { id: gid('FloatingIp') },
  ],
  [
    'deleteFloatingIp',
    'network:manage_floating_ips',
    'DeleteFloatingIpInput!',
    { id: gid('FloatingIp') },
  ],
  [
    'createVolume',
    'volume:create',
    'CreateVolumeInput!',
    { sizeGib: 1, volumeTypeId: gid('VolumeType') },
  ],
  ['updateVolume', 'volume:update', 'UpdateVolumeInput!', { id: gid('Volume') }],
  ['deleteVolume', 'volume:delete', 'DeleteVolumeInput!', { id: gid('Volume') }],
  ['extendVolume', 'volume:extend', 'ExtendVolumeInput!', { id: gid('Volume'), newSizeGib: 2 }],
  [
    'attachVolume',
    'volume:attach',
    'AttachVolumeInput!',
    { volumeId: gid('Volume'), serverId: gid('Server') },
  ],
  [
    'detachVolume',
    'volume:attach',
    'DetachVolumeInput!',
    { volumeId: gid('Volume'), serverId: gid('Server') },
  ],
  [
    'createVolumeSnapshot',
    'volume:manage_snapshots',
    'CreateVolumeSnapshotInput!',
    { volumeId: gid('Volume') },
  ],
  [
    'updateVolumeSnapshot',
    'volume:manage_snapshots',
    'UpdateVolumeSnapshotInput!',
    { id: gid('VolumeSnapshot') },
  ],
  [
    'deleteVolumeSnapshot',
    'volume:manage_snapshots',
    'VolumeSnapshotIdInput!',
    { id: gid('VolumeSnapshot') },
  ],
  [
    'createVolumeType',
    'volume:manage_types',
    'CreateVolumeTypeInput!',
    { name: `t-${randomUUID().slice(0, 8)}` },
  ],
  ['updateVolumeType', 'volume:manage_types', 'UpdateVolumeTypeInput!', { id: gid('VolumeType') }],
  ['deleteVolumeType', 'volume:manage_types', 'VolumeTypeIdInput!', { id: gid('VolumeType') }],
  [
    'createMultipartUpload',
    'objects:write_object',
    'CreateMultipartUploadInput!',
    { containerId: gid('Container'), objectName: 'x' },
  ],
];
MUTATIONS.push(
  [
    'enrollNode',
    'baremetal:manage_nodes',
    'EnrollNodeInput!',
    {
      name: 'x',
      bmc: { address: '127.0.0.1', username: 'u', password: 'p' },
      properties: { cpus: 1, memoryMb: 1, localGb: 1, cpuArch: 'x86_64' },
      resourceClass: 'bad class',
    },
  ],
  ['updateNode', 'baremetal:manage_nodes', 'UpdateNodeInput!', { id: gid('BaremetalNode') }],
  ['deleteNode', 'baremetal:manage_nodes', 'NodeIdInput!', { id: gid('BaremetalNode') }],
  [
    'setNodeMaintenance',
    'baremetal:manage_nodes',
    'SetNodeMaintenanceInput!',
    { id: gid('BaremetalNode'), on: true },
  ],
  [
    'setNodeProvisionState',
    'baremetal:provision_nodes',
    'SetNodeProvisionStateInput!',
    { id: gid('BaremetalNode'), target: 'MANAGE' },
  ],
  [
    'setNodePower',
    'baremetal:power_nodes',
    'SetNodePowerInput!',
    { id: gid('BaremetalNode'), target: 'POWER_ON' },
  ],
  [
    'setNodeBootDevice',
    'baremetal:power_nodes',
    'SetNodeBootDeviceInput!',
    { id: gid('BaremetalNode'), device: 'PXE' },
  ],
);
MUTATIONS.push(
  [
    'createAlarm',
    'alarm:manage',
    'CreateAlarmInput!',
    {
      name: 'a',
      meter: 'project.vcpus',
      resourceType: 'project',
      resourceIds: [randomUUID()],
      comparison: 'GT',
      threshold: 1,
      aggregation: 'MEAN',
      granularity: 10,
    },
  ],
  ['updateAlarm', 'alarm:manage', 'UpdateAlarmInput!', { id: gid('Alarm') }],
  ['deleteAlarm', 'alarm:manage', 'AlarmIdInput!', { id: gid('Alarm') }],
);
MUTATIONS.push(
  ['createStack', 'stack:create', 'CreateStackInput!', { name: '1-bad-name', template: 'x' }],
  ['updateStack', 'stack:update', 'UpdateStackInput!', { id: gid('Stack') }],
  ['deleteStack', 'stack:delete', 'DeleteStackInput!', { id: gid('Stack') }],
  ['previewStack', 'stack:preview', 'PreviewStackInput!', { name: '1-bad-name', template: 'x' }],
  ['previewStackUpdate', 'stack:preview', 'PreviewStackUpdateInput!', { id: gid('Stack') }],
  [
    'signalStackResource',
    'stack:signal',
    'SignalStackResourceInput!',
    { stackId: gid('Stack'), resourceName: 'x' },
  ],
);
const DELETES: Array<[string, Action, string]> = [
  ['deleteDomain', 'identity:delete_domain', 'Domain'],
  ['deleteProject', 'identity:delete_project', 'Project'],
  ['deleteUser', 'identity:delete_user', 'User'],
  ['deleteGroup', 'identity:delete_group', 'Group'],
  ['deleteRole', 'identity:delete_role', 'Role'],
  [
    'deleteApplicationCredential',
    'identity:delete_application_credential',
    'ApplicationCredential',
  ],
  ['deleteFlavor', 'compute:manage_flavors', 'Flavor'],
  ['deleteKeypair', 'compute:manage_keypairs', 'Keypair'],
  ['deleteImage', 'images:modify', 'Image'],
  ['deactivateImage', 'images:deactivate', 'Image'],
  ['deleteServerGroup', 'compute:manage_server_groups', 'ServerGroup'],
];

async function attempt(
  caller: Caller,
  document: string,
  variables: Record<string, Json>,
  field: string,
) {
  const result = await s.gql(document, variables, tokens[caller]);
  const payload = result.data?.[field];
  const error = result.errors?.find((e) => e.path?.[0] === field);
  const refused =
    payload?.__typename === 'ForbiddenError' ||
    error?.extensions?.code === 'FORBIDDEN' ||
    error?.extensions?.code === 'UNAUTHENTICATED';
  return { refused, payload, error };
}

describe('every role against every identity mutation', () => {
  const cases = CALLERS.flatMap((caller) => MUTATIONS.map((m) => [caller, ...m] as const));
  it.each(cases)('%s → %s', async (caller, field, action, inputType, input) => {
    const document = `mutation($input: ${inputType}) { ${field}(input: $input) { __typename ... on Error { message } } }`;
    const { refused, payload, error } = await attempt(caller, document, { input }, field);
    expect(refused, `${caller} ${field}: ${JSON.stringify(payload ?? error)}`).toBe(
      !allowed(caller, action),
    );
  });

  const deleteCases = CALLERS.flatMap((caller) => DELETES.map((d) => [caller, ...d] as const));
  it.each(deleteCases)('%s → %s', async (caller, field, action, type) => {
    const document = `mutation($id: ID!) { ${field}(id: $id) { __typename ... on Error { message } } }`;
    const { refused, payload, error } = await attempt(caller, document, { id: gid(type) }, field);
    expect(refused, `${caller} ${field}: ${JSON.stringify(payload ?? error)}`).toBe(
      !allowed(caller, action),
    );
  });
});
