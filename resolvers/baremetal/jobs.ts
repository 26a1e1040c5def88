/** Job kinds of node work; each runs as an Operation (resolvers/operations.ts). */
export const NODE_JOBS = {
  manage: 'baremetal.manage',
  inspect: 'baremetal.inspect',
  provide: 'baremetal.provide',
  deploy: 'baremetal.deploy',
  deleted: 'baremetal.undeploy',
  power: 'baremetal.power',
  bootDevice: 'baremetal.bootDevice',
} as const;

export type NodeJobKind = keyof typeof NODE_JOBS;

export const NODE_STAGES: Record<NodeJobKind, string[]> = {
  manage: ['verifying'],
  inspect: ['inspecting'],
  provide: ['cleaning'],
  deploy: ['deploying', 'wait call-back'],
  deleted: ['deleting', 'cleaning'],
  power: ['power'],
  bootDevice: ['boot device'],
};
