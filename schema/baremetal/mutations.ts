import { NodeStateError } from '../../resolvers/baremetal/errors';
import { deleteNode, enrollNode, updateNode } from '../../resolvers/baremetal/nodes';
import {
  type NodeChange,
  setNodeBootDevice,
  setNodeMaintenance,
  setNodePower,
  setProvisionState,
} from '../../resolvers/baremetal/provision';
import {
  FeatureDisabledError,
  ForbiddenError,
  InvalidInputError,
  NameTakenError,
  NotFoundError,
  QuotaExceededError,
} from '../../resolvers/errors';
import { builder } from '../builder';
import { Image } from '../images';
import { Network } from '../networks/types';
import { Operation } from '../operations';
import { BaremetalNode } from './types';

/** Bare-metal mutations (admins): enroll, update, delete, provision verbs, power, boot device, maintenance. */

const NODE_ERRORS = [
  InvalidInputError,
  NotFoundError,
  NameTakenError,
  NodeStateError,
  QuotaExceededError,
  FeatureDisabledError,
  ForbiddenError,
];

const NodeOperation = builder.objectRef<NodeChange>('NodeOperation').implement({
  description: 'A node and the operation now working on it (null when the change was immediate)',
  fields: (t) => ({
    node: t.field({ type: BaremetalNode, resolve: (c) => c.node }),
    operation: t.field({ type: Operation, nullable: true, resolve: (c) => c.operation }),
  }),
});

const BmcInput = builder.inputType('NodeBmcInput', {
  fields: (t) => ({
    address: t.string({ required: true, description: 'IP address or host name of the BMC' }),
    port: t.int({ description: 'UDP port, default 623' }),
    username: t.string({ required: true }),
    password: t.string({ required: true, description: 'Stored encrypted; never returned' }),
    interface: t.string({ description: 'lanplus (default) or lan' }),
  }),
});
const BmcUpdateInput = builder.inputType('NodeBmcUpdateInput', {
  fields: (t) => ({
    address: t.string(),
    port: t.int(),
    username: t.string(),
    password: t.string(),
    interface: t.string(),
  }),
});
const PropertiesInput = builder.inputType('NodePropertiesInput', {
  fields: (t) => ({
    cpus: t.int({ required: true }),
    memoryMb: t.int({ required: true }),
    localGb: t.int({ required: true }),
    cpuArch: t.string({ required: true, description: 'e.g. x86_64' }),
  }),
});
const PropertiesUpdateInput = builder.inputType('NodePropertiesUpdateInput', {
  fields: (t) => ({ cpus: t.int(), memoryMb: t.int(), localGb: t.int(), cpuArch: t.string() }),
});
const PortInput = builder.inputType('NodePortInput', {
  fields: (t) => ({
    macAddress: t.string({ required: true }),
    networkId: t.globalID({
      for: Network,
      description: 'Also make a Stratus port with this MAC here',
    }),
  }),
});
const EnrollNodeInput = builder.inputType('EnrollNodeInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    driver: t.string({ description: 'ipmi (the only one)' }),
    bmc: t.field({ type: BmcInput, required: true }),
    properties: t.field({ type: PropertiesInput, required: true }),
    resourceClass: t.string({
      required: true,
      description: 'What flavors ask for, e.g. baremetal-gold',
    }),
    ports: t.field({ type: [PortInput] }),
  }),
});
const UpdateNodeInput = builder.inputType('UpdateNodeInput', {
  fields: (t) => ({
    id: t.globalID({ for: BaremetalNode, required: true }),
    name: t.string(),
    bmc: t.field({ type: BmcUpdateInput }),
    properties: t.field({ type: PropertiesUpdateInput }),
    resourceClass: t.string(),
  }),
});
const NodeIdInput = builder.inputType('NodeIdInput', {
  fields: (t) => ({ id: t.globalID({ for: BaremetalNode, required: true }) }),
});
const ProvisionTarget = builder.enumType('NodeProvisionTarget', {
  description: "Ironic's provision_state targets",
  values: {
    MANAGE: { value: 'manage', description: 'enroll → verifying → manageable' },
    INSPECT: { value: 'inspect', description: 'manageable → inspecting → manageable' },
    PROVIDE: { value: 'provide', description: 'manageable → cleaning → available' },
    DEPLOY: { value: 'deploy', description: 'available → deploying → wait call-back → active' },
    DELETED: {
      value: 'deleted',
      description: 'active → deleting → cleaning → available (undeploy)',
    },
    ABORT: {
      value: 'abort',
      description: 'Stops a wait: wait call-back, clean wait, inspecting, verifying',
    },
  } as const,
});
const SetProvisionStateInput = builder.inputType('SetNodeProvisionStateInput', {
  fields: (t) => ({
    id: t.globalID({ for: BaremetalNode, required: true }),
    target: t.field({ type: ProvisionTarget, required: true }),
    imageId: t.globalID({ for: Image, description: 'DEPLOY: the image to boot' }),
    userData: t.string({ description: 'DEPLOY: handed to the deployed system' }),
  }),
});
const PowerTarget = builder.enumType('NodePowerTarget', {
  values: ['POWER_ON', 'POWER_OFF', 'REBOOT', 'SOFT_POWER_OFF'] as const,
});
const SetPowerInput = builder.inputType('SetNodePowerInput', {
  fields: (t) => ({
    id: t.globalID({ for: BaremetalNode, required: true }),
    target: t.field({ type: PowerTarget, required: true }),
  }),
});
const BootDevice = builder.enumType('NodeBootDevice', { values: ['PXE', 'DISK'] as const });
const SetBootDeviceInput = builder.inputType('SetNodeBootDeviceInput', {
  fields: (t) => ({
    id: t.globalID({ for: BaremetalNode, required: true }),
    device: t.field({ type: BootDevice, required: true }),
    persistent: t.boolean({ description: 'Every boot (true) or the next one only (default)' }),
  }),
});
const SetMaintenanceInput = builder.inputType('SetNodeMaintenanceInput', {
  fields: (t) => ({
    id: t.globalID({ for: BaremetalNode, required: true }),
    on: t.boolean({ required: true }),
    reason: t.string(),
  }),
});

/** Input fields without the nulls GraphQL gives for omitted ones. */
const given = (input: object) =>
  Object.fromEntries(Object.entries(input).filter(([, v]) => v != null));

builder.mutationFields((t) => ({
  enrollNode: t.field({
    type: BaremetalNode,
    description: 'Enrolls a machine by its BMC: the node starts in enroll (then MANAGE it)',
    authScopes: { policy: 'baremetal:manage_nodes' },
    args: { input: t.arg({ type: EnrollNodeInput, required: true }) },
    errors: { types: NODE_ERRORS, dataField: { name: 'node' } },
    resolve: (_root, { input }, ctx) =>
      enrollNode(ctx, {
        ...given(input),
        bmc: given(input.bmc),
        ports: input.ports?.map((p) => ({ macAddress: p.macAddress, networkId: p.networkId?.id })),
      }),
  }),
  updateNode: t.field({
    type: BaremetalNode,
    authScopes: { policy: 'baremetal:manage_nodes' },
    args: { input: t.arg({ type: UpdateNodeInput, required: true }) },
    errors: { types: NODE_ERRORS, dataField: { name: 'node' } },
    resolve: (_root, { input }, ctx) =>
      updateNode(ctx, {
        ...given(input),
        id: input.id.id,
        bmc: input.bmc ? given(input.bmc) : undefined,
        properties: input.properties ? given(input.properties) : undefined,
      }),
  }),
  deleteNode: t.field({
    type: BaremetalNode,
    description: 'Deletes a node in enroll, manageable, available or a failed state',
    authScopes: { policy: 'baremetal:manage_nodes' },
    args: { input: t.arg({ type: NodeIdInput, required: true }) },
    errors: { types: NODE_ERRORS, dataField: { name: 'node' } },
    resolve: (_root, { input }, ctx) => deleteNode(ctx, input.id.id),
  }),
  setNodeProvisionState: t.field({
    type: NodeOperation,
    description: "Moves the node through Ironic's provision state machine",
    authScopes: { policy: 'baremetal:provision_nodes' },
    args: { input: t.arg({ type: SetProvisionStateInput, required: true }) },
    errors: { types: NODE_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) =>
      setProvisionState(ctx, {
        id: input.id.id,
        target: input.target,
        imageId: input.imageId?.id,
        userData: input.userData,
      }),
  }),
  setNodePower: t.field({
    type: NodeOperation,
    description: 'Powers the node on, off, reboots it or asks its OS to power off, through its BMC',
    authScopes: { policy: 'baremetal:power_nodes' },
    args: { input: t.arg({ type: SetPowerInput, required: true }) },
    errors: { types: NODE_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) =>
      setNodePower(ctx, { id: input.id.id, target: input.target }),
  }),
  setNodeBootDevice: t.field({
    type: NodeOperation,
    authScopes: { policy: 'baremetal:power_nodes' },
    args: { input: t.arg({ type: SetBootDeviceInput, required: true }) },
    errors: { types: NODE_ERRORS, dataField: { name: 'started' } },
    resolve: (_root, { input }, ctx) =>
      setNodeBootDevice(ctx, {
        id: input.id.id,
        device: input.device,
        persistent: input.persistent,
      }),
  }),
  setNodeMaintenance: t.field({
    type: BaremetalNode,
    description: 'Maintenance on (with a reason) or off; off clears the sync failure count',
    authScopes: { policy: 'baremetal:manage_nodes' },
    args: { input: t.arg({ type: SetMaintenanceInput, required: true }) },
    errors: { types: NODE_ERRORS, dataField: { name: 'node' } },
    resolve: (_root, { input }, ctx) =>
      setNodeMaintenance(ctx, { id: input.id.id, on: input.on, reason: input.reason }),
  }),
}));
