import { NodeStateError } from '../../resolvers/baremetal/errors';
import {
  loadNodes,
  type NodePortRow,
  type NodeRow,
  portsOfNodes,
} from '../../resolvers/baremetal/nodes';
import { builder } from '../builder';
import { ErrorInterface } from '../errors';
import { Image } from '../images';
import { Network, Port } from '../networks/types';

/** Bare-metal types: BaremetalNode (Ironic node), its ports, BMC, states, NodeStateError. */

builder.objectType(NodeStateError, {
  interfaces: [ErrorInterface],
  name: 'NodeStateError',
  description: "The node's provision state (or the job working on it) does not allow this action",
  fields: (t) => ({
    nodeId: t.exposeString('nodeId'),
    action: t.exposeString('action'),
    provisionState: t.exposeString('provisionState', {
      description: 'Current state (Ironic spelling)',
    }),
    expected: t.exposeStringList('expected', { description: 'States the action needs' }),
  }),
});

export const ProvisionState = builder.enumType('NodeProvisionState', {
  description: "Ironic's provision state",
  values: {
    ENROLL: { value: 'enroll' },
    VERIFYING: { value: 'verifying' },
    MANAGEABLE: { value: 'manageable' },
    INSPECTING: { value: 'inspecting' },
    INSPECT_FAILED: { value: 'inspect failed' },
    AVAILABLE: { value: 'available' },
    DEPLOYING: { value: 'deploying' },
    WAIT_CALL_BACK: { value: 'wait call-back' },
    ACTIVE: { value: 'active' },
    DEPLOY_FAILED: { value: 'deploy failed' },
    DELETING: { value: 'deleting' },
    CLEANING: { value: 'cleaning' },
    CLEAN_WAIT: { value: 'clean wait' },
    CLEAN_FAILED: { value: 'clean failed' },
    ERROR: { value: 'error' },
  } as const,
});

export const NodePowerState = builder.enumType('NodePowerState', {
  values: {
    POWER_ON: { value: 'power on' },
    POWER_OFF: { value: 'power off' },
    UNKNOWN: { value: 'unknown', description: 'The BMC did not answer the last read' },
  } as const,
});

const Bmc = builder.objectRef<NodeRow>('NodeBmc').implement({
  description: "How Stratus reaches the node's BMC; the password is never returned",
  fields: (t) => ({
    address: t.exposeString('bmcAddress'),
    port: t.exposeInt('bmcPort'),
    username: t.exposeString('bmcUsername'),
    interface: t.exposeString('bmcInterface', { description: 'lanplus (IPMI 2.0) or lan (1.5)' }),
    passwordSet: t.boolean({ resolve: (n) => n.bmcPasswordSealed !== '' }),
  }),
});

const Properties = builder.objectRef<NodeRow>('NodeProperties').implement({
  fields: (t) => ({
    cpus: t.exposeInt('cpus'),
    memoryMb: t.exposeInt('memoryMb'),
    localGb: t.exposeInt('localGb'),
    cpuArch: t.exposeString('cpuArch'),
  }),
});

const NodePort = builder.objectRef<NodePortRow>('NodePort').implement({
  description: 'An Ironic port: one NIC of the node by MAC, bound to a Stratus port on a network',
  fields: (t) => ({
    id: t.exposeID('id'),
    macAddress: t.exposeString('macAddress'),
    network: t.field({ type: Network, nullable: true, resolve: (p) => p.networkId }),
    port: t.field({ type: Port, nullable: true, resolve: (p) => p.portId }),
  }),
});

export const BaremetalNode = builder.loadableNodeRef<NodeRow, string>('BaremetalNode', {
  id: { resolve: (n) => n.id },
  load: async (ids, ctx) => (await loadNodes(ctx, ids)) as unknown as Array<NodeRow | Error>,
});

BaremetalNode.implement({
  description: 'A bare-metal machine reached through its BMC (Ironic node); admins only',
  fields: (t) => ({
    name: t.exposeString('name'),
    driver: t.exposeString('driver'),
    bmc: t.field({ type: Bmc, resolve: (n) => n }),
    properties: t.field({ type: Properties, resolve: (n) => n }),
    resourceClass: t.exposeString('resourceClass'),
    provisionState: t.field({ type: ProvisionState, resolve: (n) => n.provisionState }),
    targetProvisionState: t.field({
      type: ProvisionState,
      nullable: true,
      resolve: (n) => (n.targetProvisionState as NodeRow['provisionState'] | null) ?? null,
    }),
    powerState: t.field({ type: NodePowerState, nullable: true, resolve: (n) => n.powerState }),
    targetPowerState: t.field({
      type: NodePowerState,
      nullable: true,
      resolve: (n) => (n.targetPowerState as NodeRow['powerState']) ?? null,
    }),
    bootDevice: t.exposeString('bootDevice', {
      nullable: true,
      description: 'pxe or disk, as last set or read',
    }),
    bootPersistent: t.exposeBoolean('bootPersistent', { nullable: true }),
    maintenance: t.exposeBoolean('maintenance'),
    maintenanceReason: t.exposeString('maintenanceReason', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    syncFailures: t.exposeInt('syncFailures', { description: 'Power-state reads failed in a row' }),
    lastSyncedAt: t.expose('lastSyncedAt', { type: 'DateTime', nullable: true }),
    instanceId: t.exposeString('instanceId', {
      nullable: true,
      description: 'The server that claimed it',
    }),
    image: t.field({
      type: Image,
      nullable: true,
      resolve: (n) => n.instanceInfo?.imageId || null,
    }),
    deployStep: t.exposeString('deployStep', { nullable: true }),
    deployReport: t.exposeString('deployReport', {
      nullable: true,
      description: 'What the deployed system reported',
    }),
    ports: t.loadableList({
      type: NodePort,
      load: (ids: string[], ctx) => portsOfNodes(ctx, ids),
      resolve: (n) => n.id,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});
