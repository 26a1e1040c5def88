import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { StratusConfig } from '../../server/config';
import { loadConfig } from '../../server/config';
import type { Json, TestStratus } from '../support/harness';

/** Helpers of the bare-metal node tests: config, GraphQL documents, waits, raw rows. */

export const CREDENTIAL_KEY = randomBytes(32).toString('base64');

/** The bare-metal config a test starts Stratus with: fast sync, bounded ipmitool runs. */
export function baremetalOverrides(
  changes: Partial<StratusConfig['baremetal']> = {},
): Partial<StratusConfig> {
  const base = loadConfig({}).baremetal;
  return {
    baremetal: {
      ...base,
      credentialKey: CREDENTIAL_KEY,
      // No test here has a deployer: the "automated_clean disabled" path.
      automatedClean: false,
      syncIntervalMs: 60_000,
      // Short runs for the BMCs that die; the lab answers well within them.
      driverConfig: {
        timeoutSeconds: 1,
        retries: 1,
        commandTimeoutMs: 10_000,
        pollIntervalMs: 200,
      },
      ...changes,
    },
  };
}

export const NODE_FIELDS = `id name driver resourceClass provisionState targetProvisionState
  powerState targetPowerState bootDevice bootPersistent maintenance maintenanceReason lastError
  syncFailures deployReport
  bmc { address port username interface passwordSet }
  properties { cpus memoryMb localGb cpuArch }
  ports { macAddress network { id } port { id macAddress } }`;

export const ENROLL = `mutation($input: EnrollNodeInput!) { enrollNode(input: $input) {
  __typename
  ... on EnrollNodeSuccess { node { ${NODE_FIELDS} } }
  ... on Error { message }
  ... on InvalidInputError { field }
  ... on NameTakenError { field }
} }`;

const STARTED = `__typename
  ... on Error { message }
  ... on NodeStateError { provisionState action expected }
  ... on InvalidInputError { field }`;

export const PROVISION = `mutation($input: SetNodeProvisionStateInput!) { setNodeProvisionState(input: $input) {
  ${STARTED}
  ... on SetNodeProvisionStateSuccess { started { node { ${NODE_FIELDS} } operation { id status } } }
} }`;

export const POWER = `mutation($input: SetNodePowerInput!) { setNodePower(input: $input) {
  ${STARTED}
  ... on SetNodePowerSuccess { started { node { ${NODE_FIELDS} } operation { id status } } }
} }`;

export const BOOT = `mutation($input: SetNodeBootDeviceInput!) { setNodeBootDevice(input: $input) {
  ${STARTED}
  ... on SetNodeBootDeviceSuccess { started { node { id } operation { id } } }
} }`;

export const MAINTENANCE = `mutation($input: SetNodeMaintenanceInput!) { setNodeMaintenance(input: $input) {
  ${STARTED}
  ... on SetNodeMaintenanceSuccess { node { ${NODE_FIELDS} } }
} }`;

export const DELETE = `mutation($input: NodeIdInput!) { deleteNode(input: $input) {
  ${STARTED}
  ... on DeleteNodeSuccess { node { id } }
} }`;

export const GET = `query($id: ID!) { baremetalNode(id: $id) { ${NODE_FIELDS} } }`;

let counter = 0;

/** A valid enroll input, with `bmc` overrides. */
export function enrollInput(
  bmc: object = {},
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  counter++;
  return {
    name: `node-${counter}-${randomBytes(3).toString('hex')}`,
    driver: 'ipmi',
    bmc: { address: '127.0.0.1', port: 623, username: 'admin', password: 'secret-pw', ...bmc },
    properties: { cpus: 4, memoryMb: 8192, localGb: 100, cpuArch: 'x86_64' },
    resourceClass: 'baremetal-test',
    ports: [],
    ...extra,
  };
}

export async function enroll(s: TestStratus, input: Record<string, unknown>): Promise<Json> {
  const data = await s.ok(ENROLL, { input }, s.adminToken);
  if (data.enrollNode.__typename !== 'EnrollNodeSuccess') {
    throw new Error(`enroll failed: ${JSON.stringify(data.enrollNode)}`);
  }
  return data.enrollNode.node;
}

export async function getNode(s: TestStratus, id: string): Promise<Json> {
  return (await s.ok(GET, { id }, s.adminToken)).baremetalNode;
}

/** Polls the node until `done` holds; fails with the last row seen. */
export async function waitForNode(
  s: TestStratus,
  id: string,
  done: (node: Json) => boolean,
  timeoutMs = 60_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  let last: Json = null;
  while (Date.now() < deadline) {
    last = await getNode(s, id);
    if (last && done(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`node ${id} never reached the expected state; last: ${JSON.stringify(last)}`);
}

/** Rows straight from PostgreSQL (what is at rest). */
export async function query<T = Record<string, unknown>>(
  s: TestStratus,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: s.databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}
